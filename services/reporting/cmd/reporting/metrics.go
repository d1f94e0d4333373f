package main

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
)

// registry returns the process's metrics: runtime, database pool, transaction retries, and the depth
// of its events queue and of that queue's dead-letter queue, read every cfg.MetricsPoll until ctx is
// done. The consumer runs in this process, so its metrics are served with the reports' on PORT.
func registry(ctx context.Context, cfg config, db *sql.DB, client *sqs.Client, log *slog.Logger) (*prometheus.Registry, error) {
	reg := metrics.NewRegistry()
	if err := metrics.RegisterDB(reg, db, "reporting"); err != nil {
		return nil, err
	}
	depth := metrics.NewQueueDepth(queue.NewDepthReader(client).Read, []string{cfg.Queue, cfg.Queue + "-dlq"},
		metrics.PollOptions{Interval: cfg.MetricsPoll, Log: log})
	reg.MustRegister(metrics.TxRetries(), depth)
	go depth.Run(ctx)
	return reg, nil
}
