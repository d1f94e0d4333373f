package main

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/outbox"
)

// registry returns the process's metrics: runtime, database pool, transaction retries and the outbox
// backlog, read every cfg.MetricsPoll until ctx is done (the relay exports the same, so either scrape
// shows it).
func registry(ctx context.Context, cfg config, db *sql.DB, log *slog.Logger) (*prometheus.Registry, error) {
	reg := metrics.NewRegistry()
	if err := metrics.RegisterDB(reg, db, "orders"); err != nil {
		return nil, err
	}
	lag := metrics.NewOutboxLag(func(ctx context.Context) (int, time.Duration, int, error) {
		l, err := outbox.ReadLag(ctx, db)
		return l.Pending, l.Oldest, l.Parked, err
	}, metrics.PollOptions{Interval: cfg.MetricsPoll, Log: log})
	reg.MustRegister(metrics.TxRetries(), lag)
	go lag.Run(ctx)
	return reg, nil
}
