package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/outbox"
)

// startMetrics builds the relay's registry (runtime, database pool, transaction retries, the outbox
// backlog, and the depth of the queues subscribed to the topic and of their dead-letter queues, read
// every cfg.MetricsPoll) and serves it on the admin address with /health until ctx is done; stop
// waits for the admin server to finish. The relay's own counters join it through relay.NewMetrics.
func startMetrics(ctx context.Context, cfg config, db *sql.DB, log *slog.Logger) (reg *prometheus.Registry, stop func(), err error) {
	reg = metrics.NewRegistry()
	if err := metrics.RegisterDB(reg, db, "orders"); err != nil {
		return nil, nil, err
	}
	poll := metrics.PollOptions{Interval: cfg.MetricsPoll, Log: log}
	lag := metrics.NewOutboxLag(func(ctx context.Context) (int, time.Duration, int, error) {
		l, err := outbox.ReadLag(ctx, db)
		return l.Pending, l.Oldest, l.Parked, err
	}, poll)
	client, err := queue.NewClient(ctx, cfg.SQS)
	if err != nil {
		return nil, nil, err
	}
	var queues []string
	for _, q := range cfg.Queues {
		queues = append(queues, q, q+"-dlq")
	}
	depth := metrics.NewQueueDepth(queue.NewDepthReader(client).Read, queues, poll)
	reg.MustRegister(metrics.TxRetries(), lag, depth)
	go lag.Run(ctx)
	go depth.Run(ctx)

	health := web.Health(service, map[string]web.Check{"db": func(ctx context.Context) error {
		_, err := outbox.ReadLag(ctx, db)
		return err
	}})
	stop, err = metrics.StartAdmin(ctx, cfg.Admin, reg, health, log)
	if err != nil {
		return nil, nil, fmt.Errorf("RELAY_ADMIN_ADDR %s: %w", cfg.Admin.Addr, err)
	}
	return reg, stop, nil
}
