package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
)

// startMetrics builds the worker's registry (runtime, database pool, transaction retries, and the
// depth of its queue and of that queue's dead-letter queue, read every cfg.MetricsPoll) and serves it
// on the admin address with /health until ctx is done; stop waits for the admin server to finish.
func startMetrics(ctx context.Context, cfg config, db *sql.DB, log *slog.Logger) (reg *prometheus.Registry, stop func(), err error) {
	reg = metrics.NewRegistry()
	if err := metrics.RegisterDB(reg, db, "orders"); err != nil {
		return nil, nil, err
	}
	client, err := queue.NewClient(ctx, cfg.SQS)
	if err != nil {
		return nil, nil, err
	}
	depth := metrics.NewQueueDepth(queue.NewDepthReader(client).Read, []string{cfg.Queue, cfg.Queue + "-dlq"},
		metrics.PollOptions{Interval: cfg.MetricsPoll, Log: log})
	reg.MustRegister(metrics.TxRetries(), depth)
	go depth.Run(ctx)

	health := web.Health("orders-worker", map[string]web.Check{"db": orderdb.New(db).Ping})
	stop, err = metrics.StartAdmin(ctx, cfg.Admin, reg, health, log)
	if err != nil {
		return nil, nil, fmt.Errorf("WORKER_ADMIN_ADDR %s: %w", cfg.Admin.Addr, err)
	}
	return reg, stop, nil
}
