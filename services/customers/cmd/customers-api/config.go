package main

import (
	"log/slog"

	"github.com/b2b/backoffice/internal/auth"
	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/sqldb"
)

type config struct {
	Port         int
	DB           sqldb.Config
	ServiceToken string
	LogLevel     string
	Auth         auth.Config
}

// load reads the configuration; the error names the first bad or missing variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	c := config{
		Port:         l.Int("PORT", 3001, 0, 65535),
		DB:           sqldb.LoadConfig(l, "customers"),
		ServiceToken: l.Required("SERVICE_TOKEN"),
		LogLevel:     l.LogLevel(),
		Auth:         auth.LoadConfig(l),
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
		slog.Int("port", c.Port),
		slog.Any("db", c.DB),
		slog.String("service_token", env.Secret(c.ServiceToken)),
		slog.String("log_level", c.LogLevel),
		slog.Any("auth", c.Auth),
	)
}
