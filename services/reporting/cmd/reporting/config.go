package main

import (
	"log/slog"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
)

type config struct {
	Port  int
	DB    sqldb.Config
	SQS   queue.Config
	Queue string
	// Visibility is how long a received event stays hidden from other receivers; an event that was not
	// applied (nacked) comes back after it, and after the queue's maxReceiveCount receives it moves to
	// the dead-letter queue.
	Visibility time.Duration
	Workers    int
	LogLevel   string
	// MetricsPoll is how often the depth of the queue and its dead-letter queue is read for /metrics.
	MetricsPoll time.Duration
	Auth        auth.Config
}

// load reads the configuration: PORT (3004), the reporting database (DB_*), SQS (AWS_*),
// REPORTING_EVENTS_QUEUE (reporting-order-events), REPORTING_EVENTS_VISIBILITY_TIMEOUT (30s),
// REPORTING_CONCURRENCY (4), LOG_LEVEL (info), METRICS_POLL_INTERVAL (10s) and the AUTH_* variables of
// access tokens (see auth.LoadConfig). The error names the first bad variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	c := config{
		Port:       l.Int("PORT", 3004, 0, 65535),
		DB:         sqldb.LoadConfig(l, "reporting"),
		SQS:        queue.LoadConfig(l),
		Queue:      l.String("REPORTING_EVENTS_QUEUE", "reporting-order-events"),
		Visibility: l.Duration("REPORTING_EVENTS_VISIBILITY_TIMEOUT", 30*time.Second, 12*time.Hour),
		Workers:    l.Int("REPORTING_CONCURRENCY", 4, 1, 64),
		LogLevel:   l.LogLevel(),
		Auth:       auth.LoadConfig(l),
	}
	c.MetricsPoll = metrics.LoadPollInterval(l)
	if err := l.Err(); err != nil {
		return config{}, err
	}
	return c, nil
}

// LogValue is the configuration as logged at start: secrets masked, durations written like "30s".
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.Any("db", c.DB),
		slog.Any("sqs", c.SQS),
		slog.String("queue", c.Queue),
		slog.String("visibility_timeout", c.Visibility.String()),
		slog.Int("workers", c.Workers),
		slog.String("log_level", c.LogLevel),
		slog.String("metrics_poll_interval", c.MetricsPoll.String()),
		slog.Any("auth", c.Auth),
	)
}
