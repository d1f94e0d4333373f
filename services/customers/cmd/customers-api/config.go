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
	if _, err := c.DB.MySQL(); err != nil {
		return config{}, err
	}
	return c, nil
}

// logAttrs describes c for the start-up log line, with secrets masked: a DSN may hold the password.
func (c config) logAttrs() []any {
	dsn := ""
	if c.DB.DSN != "" {
		dsn = env.Secret(c.DB.DSN)
	}
	return []any{
		"port", c.Port,
		"db_host", c.DB.Host, "db_port", c.DB.Port, "db_user", c.DB.User, "db_name", c.DB.Name,
		"db_password", env.Secret(c.DB.Password), "db_dsn", dsn,
		"db_connect_timeout", c.DB.ConnectTimeout.String(),
		"service_token", env.Secret(c.ServiceToken),
		"log_level", c.LogLevel,
	}
}
