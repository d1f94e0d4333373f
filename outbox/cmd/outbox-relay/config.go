package main

import (
	"time"

	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
)

type config struct {
	DB           sqldb.Config
	SQS          queue.Config
	Queue        string
	PollInterval time.Duration
	BatchSize    int
	MaxAttempts  int
	MaxBackoff   time.Duration
	LagInterval  time.Duration
	LogLevel     string
}

// load reads the configuration; the error names the first bad or missing variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	c := config{
		DB:           sqldb.LoadConfig(l, "orders"),
		SQS:          queue.LoadConfig(l),
		Queue:        l.String("ORDER_EVENTS_QUEUE", "order-events"),
		PollInterval: l.Duration("OUTBOX_POLL_INTERVAL", 250*time.Millisecond, time.Minute),
		BatchSize:    l.Int("OUTBOX_BATCH_SIZE", 100, 1, 1000),
		MaxAttempts:  l.Int("OUTBOX_MAX_ATTEMPTS", 5, 1, 1000),
		MaxBackoff:   l.Duration("OUTBOX_MAX_BACKOFF", 10*time.Second, 10*time.Minute),
		LagInterval:  l.Duration("OUTBOX_LAG_INTERVAL", 10*time.Second, time.Hour),
		LogLevel:     l.LogLevel(),
	}
	if err := l.Err(); err != nil {
		return config{}, err
	}
	return c, nil
}

// logAttrs describes c for the start-up log line, with secrets masked: a DSN may hold the password.
func (c config) logAttrs() []any {
	return []any{
		"db", c.DB,
		"sqs", c.SQS, "queue", c.Queue,
		"poll_interval", c.PollInterval.String(), "batch_size", c.BatchSize,
		"max_attempts", c.MaxAttempts, "max_backoff", c.MaxBackoff.String(),
		"lag_interval", c.LagInterval.String(), "log_level", c.LogLevel,
	}
}
