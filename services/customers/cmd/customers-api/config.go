package main

import (
	env "github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/sqldb"
)

type config struct {
	Port         int
	DB           sqldb.Config
	ServiceToken string
	LogLevel     string
}

// load reads the configuration; the error names the first bad or missing variable.
func load(getenv func(string) string) (config, error) {
	l := env.New(getenv)
	c := config{
		Port:         l.Int("PORT", 3001, 0, 65535),
		DB:           sqldb.LoadConfig(l, "customers"),
		ServiceToken: l.Required("SERVICE_TOKEN"),
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
		"port", c.Port,
		"db", c.DB,
		"service_token", env.Secret(c.ServiceToken),
		"log_level", c.LogLevel,
	}
}
