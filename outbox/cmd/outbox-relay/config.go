package main

import (
	"log/slog"
	"time"

	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
)

type config struct {
	DB           sqldb.Config
	SQS          queue.Config
	Topic        string
	PollInterval time.Duration
	BatchSize    int
	Lanes        int
	MaxAttempts  int
	MaxBackoff   time.Duration
	LagInterval  time.Duration
	LogLevel     string
	// Admin is where /metrics, /health and (with PPROF=true) pprof are served; MetricsPoll is how often
	// the backlog and the depth of Queues (the consumers' queues subscribed to the topic, each with its
	// "-dlq") are read for /metrics.
	Admin       metrics.AdminConfig
	MetricsPoll time.Duration
	Queues      []string
}

// load reads the configuration; the error names the first bad or missing variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	c := config{
		DB:           sqldb.LoadConfig(l, "orders"),
		SQS:          queue.LoadConfig(l),
		Topic:        l.String("ORDER_EVENTS_TOPIC", "order-events"),
		PollInterval: l.Duration("OUTBOX_POLL_INTERVAL", 250*time.Millisecond, time.Minute),
		BatchSize:    l.Int("OUTBOX_BATCH_SIZE", 300, 1, 1000),
		Lanes:        l.Int("OUTBOX_SEND_LANES", 8, 1, 32),
		MaxAttempts:  l.Int("OUTBOX_MAX_ATTEMPTS", 5, 1, 1000),
		MaxBackoff:   l.Duration("OUTBOX_MAX_BACKOFF", 10*time.Second, 10*time.Minute),
		LagInterval:  l.Duration("OUTBOX_LAG_INTERVAL", 10*time.Second, time.Hour),
		LogLevel:     l.LogLevel(),
		Admin:        metrics.LoadAdminConfig(l, "RELAY_ADMIN_ADDR", "127.0.0.1:9102"),
		MetricsPoll:  metrics.LoadPollInterval(l),
		Queues: []string{
			l.String("REPORTING_EVENTS_QUEUE", "reporting-order-events"),
			l.String("ORDER_EVENTS_TAP_QUEUE", "order-events-tap"),
		},
	}
	if err := l.Err(); err != nil {
		return config{}, err
	}
	return c, nil
}

// LogValue is how the configuration appears in the start-up log line: secrets masked (a DSN may hold the
// password), durations as "2s".
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("db", c.DB),
		slog.Any("sqs", c.SQS),
		slog.String("topic", c.Topic),
		slog.String("poll_interval", c.PollInterval.String()),
		slog.Int("batch_size", c.BatchSize),
		slog.Int("send_lanes", c.Lanes),
		slog.Int("max_attempts", c.MaxAttempts),
		slog.String("max_backoff", c.MaxBackoff.String()),
		slog.String("lag_interval", c.LagInterval.String()),
		slog.String("log_level", c.LogLevel),
		slog.String("admin_addr", c.Admin.Addr),
		slog.Bool("pprof", c.Admin.Pprof),
		slog.String("metrics_poll_interval", c.MetricsPoll.String()),
		slog.Any("queues", c.Queues),
	)
}
