// Command authorizer is the API Gateway Lambda authorizer of the orchestrator's endpoint on AWS (see
// package authorizer). It reads AUTH_JWKS_URL (or AUTH_HS256_SECRET), AUTH_ISSUER, AUTH_AUDIENCE and
// LOG_LEVEL. Build it as "bootstrap" for the provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./lambda/orchestrator/cmd/authorizer
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/lambda/orchestrator/authorizer"
)

func main() {
	l := config.New(os.Getenv)
	cfg := auth.LoadConfig(l)
	level := l.LogLevel()
	err := l.Err()
	if err == nil && cfg.Disabled {
		// An authorizer that lets everyone in is no authorizer.
		err = errors.New("config: AUTH_DISABLED must not be true for the authorizer")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authorizer:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(2)
	}
	log := logging.New(os.Stdout, "orchestrator-authorizer", level)
	log.Info("starting", "auth", cfg)
	// The key set is fetched at cold start and refreshed for the life of the execution environment.
	v, err := auth.New(context.Background(), cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authorizer:", err)
		os.Exit(2)
	}
	lambda.Start(authorizer.Handler(v, log))
}
