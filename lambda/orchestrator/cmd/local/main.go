// Command local runs the orchestrator's handler as a plain HTTP server (default :3003), serving
// /dev/orchestrator/create-and-confirm-order and /orchestrator/create-and-confirm-order like the deployed
// API, and GET /health.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/logging"
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
	cfg, err := orchestrator.LoadConfig(getenv)
	if err != nil {
		return err
	}
	l := config.New(getenv)
	port := l.Int("PORT", 3003, 0, 65535)
	if err := l.Err(); err != nil {
		return err
	}
	log := logging.New(out, "orchestrator", cfg.LogLevel)
	h, closePub, err := orchestrator.Setup(cfg, log)
	if err != nil {
		return err
	}
	defer closePub()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", port, err)
	}
	log.Info("starting", "config", cfg)
	return web.Serve(ctx, ln, h, log)
}
