package orchestrator

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/web"
)

// Config is what the orchestrator needs to know, the same in every way it runs.
type Config struct {
	// CustomersBase and OrdersBase are base URLs: scheme, host and at most a stage prefix ("/dev"),
	// never a resource path.
	CustomersBase string
	OrdersBase    string
	ServiceToken  string
	// Queue is the name of the order-commands queue; SQS says how to reach it.
	Queue string
	SQS   queue.Config
	// WaitTimeout bounds how long a request waits for the final answer before 202 PENDING.
	WaitTimeout time.Duration
	// UpstreamTimeout bounds each call to customers-api and orders-api, so a hung service is a quick 503.
	UpstreamTimeout time.Duration
	// Margin is kept free before the invocation's own deadline (Lambda's timeout) to write the answer.
	Margin time.Duration
	// PollInitial and PollMax shape the capped exponential backoff before asking orders-api again after
	// a failed long poll, or one that came back early without the final answer.
	PollInitial time.Duration
	PollMax     time.Duration
	LogLevel    string
}

// LoadConfig reads the configuration through getenv: CUSTOMERS_API_BASE, ORDERS_API_BASE and
// SERVICE_TOKEN are required; ORDER_COMMANDS_QUEUE (order-commands), ORDER_WAIT_TIMEOUT (8s),
// UPSTREAM_TIMEOUT (2s), LOG_LEVEL (info) and the AWS_* variables of queue.LoadConfig have defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	l := config.New(getenv)
	c := Config{
		CustomersBase:   l.Required("CUSTOMERS_API_BASE"),
		OrdersBase:      l.Required("ORDERS_API_BASE"),
		ServiceToken:    l.Required("SERVICE_TOKEN"),
		Queue:           l.String("ORDER_COMMANDS_QUEUE", "order-commands"),
		SQS:             queue.LoadConfig(l),
		WaitTimeout:     l.Duration("ORDER_WAIT_TIMEOUT", 8*time.Second, 10*time.Minute),
		UpstreamTimeout: l.Duration("UPSTREAM_TIMEOUT", 2*time.Second, time.Minute),
		LogLevel:        l.LogLevel(),
	}
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	for name, base := range map[string]string{"CUSTOMERS_API_BASE": c.CustomersBase, "ORDERS_API_BASE": c.OrdersBase} {
		if _, err := web.JoinURL(base); err != nil {
			return Config{}, fmt.Errorf("config: %s %v", name, err)
		}
	}
	return c.withDefaults(), nil
}

func (c Config) withDefaults() Config {
	if c.Queue == "" {
		c.Queue = "order-commands"
	}
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = 8 * time.Second
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = 2 * time.Second
	}
	if c.Margin <= 0 {
		c.Margin = time.Second
	}
	if c.PollInitial <= 0 {
		c.PollInitial = 50 * time.Millisecond
	}
	if c.PollMax <= 0 {
		c.PollMax = 500 * time.Millisecond
	}
	return c
}

// LogValue is how the configuration appears in the start-up log line: the service token masked,
// durations as "2s".
func (c Config) LogValue() slog.Value { return slog.GroupValue(c.Attrs()...) }

// Attrs are the attributes of LogValue, for a binary that logs them with settings of its own.
func (c Config) Attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("customers_api_base", c.CustomersBase),
		slog.String("orders_api_base", c.OrdersBase),
		slog.String("service_token", config.Secret(c.ServiceToken)),
		slog.String("queue", c.Queue),
		slog.String("wait_timeout", c.WaitTimeout.String()),
		slog.String("upstream_timeout", c.UpstreamTimeout.String()),
		slog.Any("sqs", c.SQS),
		slog.String("log_level", c.LogLevel),
	}
}
