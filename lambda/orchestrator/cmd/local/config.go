package main

import (
	"log/slog"
	"time"

	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// config is the orchestrator's configuration plus the port it serves on locally, where it also serves
// /metrics, and how often it reads the depth of the commands queue for them.
type config struct {
	Port        int
	MetricsPoll time.Duration
	orchestrator.Config
}

// load reads the configuration; the error names the first bad or missing variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	port := l.Int("PORT", 3003, 0, 65535)
	poll := metrics.LoadPollInterval(l)
	if err := l.Err(); err != nil {
		return config{}, err
	}
	oc, err := orchestrator.LoadConfig(getenv)
	if err != nil {
		return config{}, err
	}
	return config{Port: port, MetricsPoll: poll, Config: oc}, nil
}

// LogValue is how the configuration appears in the start-up log line: secrets masked, durations as "2s".
func (c config) LogValue() slog.Value {
	return slog.GroupValue(append([]slog.Attr{slog.Int("port", c.Port), slog.String("metrics_poll_interval", c.MetricsPoll.String())},
		c.Config.Attrs()...)...)
}
