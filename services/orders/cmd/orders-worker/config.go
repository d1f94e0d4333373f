package main

import (
	"fmt"
	"log/slog"
	"time"

	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/web"
)

type config struct {
	DB            sqldb.Config
	SQS           queue.Config
	Queue         string
	CustomersBase string
	// CustomersTimeout bounds one call to customers-api; a command waiting on a hung one is retried.
	CustomersTimeout time.Duration
	ServiceToken     string
	// Visibility is how long a received command stays hidden from other receivers; a nacked command
	// (transient failure) comes back after it.
	Visibility time.Duration
	Workers    int
	LogLevel   string
	// Admin is where /metrics, /health and (with PPROF=true) pprof are served; MetricsPoll is how
	// often the queues' depth is read for /metrics.
	Admin       metrics.AdminConfig
	MetricsPoll time.Duration
}

// load reads the worker's environment: the orders database (DB_*), SQS (AWS_*), ORDER_COMMANDS_QUEUE
// (order-commands), CUSTOMERS_API_BASE and SERVICE_TOKEN (required), CUSTOMERS_API_TIMEOUT (2s),
// ORDER_COMMANDS_VISIBILITY_TIMEOUT (30s), WORKER_CONCURRENCY (4), LOG_LEVEL (info), WORKER_ADMIN_ADDR
// (127.0.0.1:9101), PPROF (false), METRICS_POLL_INTERVAL (10s). Everything is checked here, before any
// connection is tried, so a bad value stops the worker at once.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	s := config{
		DB:               sqldb.LoadConfig(l, "orders"),
		SQS:              queue.LoadConfig(l),
		Queue:            l.String("ORDER_COMMANDS_QUEUE", "order-commands"),
		CustomersBase:    l.Required("CUSTOMERS_API_BASE"),
		CustomersTimeout: l.Duration("CUSTOMERS_API_TIMEOUT", 2*time.Second, time.Minute),
		ServiceToken:     l.Required("SERVICE_TOKEN"),
		Visibility:       l.Duration("ORDER_COMMANDS_VISIBILITY_TIMEOUT", 30*time.Second, 12*time.Hour),
		Workers:          l.Int("WORKER_CONCURRENCY", 4, 1, 64),
		LogLevel:         l.LogLevel(),
		Admin:            metrics.LoadAdminConfig(l, "WORKER_ADMIN_ADDR", "127.0.0.1:9101"),
		MetricsPoll:      metrics.LoadPollInterval(l),
	}
	if err := l.Err(); err != nil {
		return config{}, err
	}
	if _, err := web.JoinURL(s.CustomersBase); err != nil {
		return config{}, fmt.Errorf("config: CUSTOMERS_API_BASE %v", err)
	}
	return s, nil
}

// LogValue is how the configuration appears in the start-up log line: secrets masked, durations as "2s".
func (s config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("db", s.DB),
		slog.Any("sqs", s.SQS),
		slog.String("queue", s.Queue),
		slog.String("customers_api_base", s.CustomersBase),
		slog.String("customers_api_timeout", s.CustomersTimeout.String()),
		slog.String("service_token", env.Secret(s.ServiceToken)),
		slog.String("visibility_timeout", s.Visibility.String()),
		slog.Int("workers", s.Workers),
		slog.String("log_level", s.LogLevel),
		slog.String("admin_addr", s.Admin.Addr),
		slog.Bool("pprof", s.Admin.Pprof),
		slog.String("metrics_poll_interval", s.MetricsPoll.String()),
	)
}
