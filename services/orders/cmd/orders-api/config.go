package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

type config struct {
	Port             int
	DB               sqldb.Config
	ServiceToken     string
	CustomersAPIBase string
	CustomersTimeout time.Duration
	CancelWindow     time.Duration
	IdempotencyTTL   time.Duration
	PurgeInterval    time.Duration
	LogLevel         string
	// MetricsPoll is how often the outbox backlog is read for /metrics.
	MetricsPoll time.Duration
	Auth        auth.Config
}

// load reads the configuration; the error names the first bad or missing variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	c := config{
		Port:             l.Int("PORT", 3002, 0, 65535),
		DB:               sqldb.LoadConfig(l, "orders"),
		ServiceToken:     l.Required("SERVICE_TOKEN"),
		CustomersAPIBase: l.String("CUSTOMERS_API_BASE", "http://127.0.0.1:3001"),
		CustomersTimeout: l.Duration("CUSTOMERS_API_TIMEOUT", 2*time.Second, time.Minute),
		CancelWindow:     l.Duration("CANCEL_WINDOW", order.DefaultCancelWindow, 0),
		IdempotencyTTL:   l.Duration("IDEMPOTENCY_TTL", order.DefaultIdempotencyTTL, 0),
		PurgeInterval:    l.Duration("IDEMPOTENCY_PURGE_INTERVAL", 10*time.Minute, 24*time.Hour),
		LogLevel:         l.LogLevel(),
		MetricsPoll:      metrics.LoadPollInterval(l),
		Auth:             auth.LoadConfig(l),
	}
	if err := l.Err(); err != nil {
		return config{}, err
	}
	if _, err := web.JoinURL(c.CustomersAPIBase); err != nil {
		return config{}, fmt.Errorf("config: CUSTOMERS_API_BASE %v", err)
	}
	return c, nil
}

// LogValue is how the configuration appears in the start-up log line: secrets masked, durations as "2s".
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.Any("db", c.DB),
		slog.String("service_token", env.Secret(c.ServiceToken)),
		slog.String("customers_api_base", c.CustomersAPIBase),
		slog.String("customers_api_timeout", c.CustomersTimeout.String()),
		slog.String("cancel_window", c.CancelWindow.String()),
		slog.String("idempotency_ttl", c.IdempotencyTTL.String()),
		slog.String("idempotency_purge_interval", c.PurgeInterval.String()),
		slog.String("log_level", c.LogLevel),
		slog.String("metrics_poll_interval", c.MetricsPoll.String()),
		slog.Any("auth", c.Auth),
	)
}
