// Command customers-api serves the customers REST API (DESIGN §4) on PORT (default 3001).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/customers"
	"github.com/b2b/backoffice/services/customers/internal/customer"
	"github.com/b2b/backoffice/services/customers/internal/customerapi"
	"github.com/b2b/backoffice/services/customers/internal/customerdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		// One line, so whoever started the process sees at once what is wrong.
		fmt.Fprintln(os.Stderr, "customers-api:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, customerapi.Service, cfg.LogLevel)
	log.Info("starting", "config", cfg)

	db, err := sqldb.Open(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer db.Close()

	verifier, err := auth.New(ctx, cfg.Auth, log)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	reg, err := registry(db)
	if err != nil {
		return err
	}
	store := customerdb.New(db)
	h := customerapi.Routes(log, customer.NewService(store), cfg.ServiceToken, verifier, store.Ping, customers.OpenAPI)
	return web.Serve(ctx, ln, metrics.Instrument(reg, h), log)
}
