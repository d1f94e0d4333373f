// Command lambda is the orchestrator as an AWS Lambda function behind an API Gateway REST API (proxy
// integration) and its authorizer (cmd/authorizer): an event without the authorizer's caller is a 401,
// so an API deployed without the authorizer serves nobody. Build it as "bootstrap" for the
// provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./lambda/orchestrator/cmd/lambda
//
// It listens on no port, so it serves no /metrics: on AWS the function's metrics are CloudWatch's
// (Invocations, Errors, Duration, Throttles of the function; 4XXError, 5XXError, Latency of the API
// stage). cmd/local serves the orchestrator's own metrics.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/lambda/orchestrator"
	"github.com/b2b/backoffice/lambda/orchestrator/apigw"
)

func main() {
	log := logging.New(os.Stdout, "orchestrator", os.Getenv("LOG_LEVEL"))
	cfg, err := orchestrator.LoadConfig(os.Getenv)
	if err != nil {
		log.Error("bad configuration", "error", err.Error())
		os.Exit(2)
	}
	log = logging.New(os.Stdout, "orchestrator", cfg.LogLevel)
	h, _, err := orchestrator.Setup(cfg, log)
	if err != nil {
		log.Error("start", "error", err.Error())
		os.Exit(1)
	}
	log.Info("starting", "config", cfg)
	// The invocation context carries the function's deadline; the handler keeps its margin before it.
	lambda.Start(apigw.Handler(h, log, apigw.RequireAuthorizer()))
}
