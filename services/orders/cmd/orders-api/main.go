// Command orders-api serves products, orders (create, read, list, confirm, cancel) and the status of
// create-and-confirm requests over HTTP on PORT (3002).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
	"github.com/b2b/backoffice/services/orders/internal/ordermetrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orders-api:", err)
		os.Exit(1)
	}
}

// run starts orders-api and blocks until ctx is done.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	log := logging.New(stdout, "orders-api", cfg.LogLevel)
	log.Info("starting", "config", cfg)

	db, err := sqldb.Open(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer db.Close()

	cust, err := customerclient.New(cfg.CustomersAPIBase, cfg.ServiceToken, cfg.CustomersTimeout, nil)
	if err != nil {
		return err
	}
	reg, err := registry(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	verifier, err := auth.New(ctx, cfg.Auth, log)
	if err != nil {
		return err
	}
	store := orderdb.New(db)
	svc := order.NewService(store, cust, order.Config{CancelWindow: cfg.CancelWindow, IdempotencyTTL: cfg.IdempotencyTTL,
		Observer: ordermetrics.New(reg)})
	go purgeKeys(ctx, svc, cfg.PurgeInterval, log)

	l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	h := orderapi.Routes(log, svc, cfg.ServiceToken, verifier, map[string]web.Check{"db": store.Ping})
	return web.Serve(ctx, l, metrics.Instrument(reg, h), log)
}

// purgeKeys deletes expired idempotency keys every interval until ctx is done.
func purgeKeys(ctx context.Context, svc *order.Service, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := svc.PurgeKeys(ctx)
			if err != nil {
				log.Warn("purge idempotency keys", "error", err.Error())
				continue
			}
			if n > 0 {
				log.Info("purged expired idempotency keys", "count", n)
			}
		}
	}
}
