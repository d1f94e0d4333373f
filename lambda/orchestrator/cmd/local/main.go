// Command local runs the orchestrator's handler as a plain HTTP server (default :3003), serving
// /dev/orchestrator/create-and-confirm-order and /orchestrator/create-and-confirm-order like the deployed
// API, GET /health, and GET /metrics (which the Lambda build has no port for).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orchestrator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	log := logging.New(out, "orchestrator", cfg.LogLevel)
	reg, err := registry(ctx, cfg, log)
	if err != nil {
		return err
	}
	h, closePub, err := orchestrator.Setup(cfg.Config, log, orchestrator.WithObserver(newAnswerMetrics(reg)))
	if err != nil {
		return err
	}
	defer closePub()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	log.Info("starting", "config", cfg)
	return web.Serve(ctx, ln, metrics.Instrument(reg, h), log)
}
