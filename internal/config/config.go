// Package config reads process configuration from an environment lookup function, collecting the first
// problem as one line that names the variable.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Loader reads typed values through getenv and remembers the first error.
type Loader struct {
	getenv func(string) string
	err    error
}

// New returns a Loader reading through getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Loader { return &Loader{getenv: getenv} }

// Err returns the first problem found, or nil.
func (l *Loader) Err() error { return l.err }

func (l *Loader) fail(name, format string, args ...any) {
	if l.err == nil {
		l.err = fmt.Errorf("config: %s %s", name, fmt.Sprintf(format, args...))
	}
}

// String returns the value of name, or def when unset or empty.
func (l *Loader) String(name, def string) string {
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

// Check records err (when not nil) as a problem with the variable name.
func (l *Loader) Check(name string, err error) {
	if err != nil {
		l.fail(name, "%v", err)
	}
}

// Raw returns the value of name exactly as set (passwords may hold spaces).
func (l *Loader) Raw(name string) string { return l.getenv(name) }

// Required returns the value of name and records an error when it is unset or empty.
func (l *Loader) Required(name string) string {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		l.fail(name, "is required")
	}
	return v
}

// Int returns name as an integer in [min, max], or def when unset.
func (l *Loader) Int(name string, def, min, max int) int {
	s := strings.TrimSpace(l.getenv(name))
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		l.fail(name, "must be an integer from %d to %d, got %q", min, max, s)
		return def
	}
	return n
}

// Duration returns name as a Go duration ("8s", "10m") in (0, max], or def when unset.
func (l *Loader) Duration(name string, def, max time.Duration) time.Duration {
	s := strings.TrimSpace(l.getenv(name))
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || (max > 0 && d > max) {
		limit := ""
		if max > 0 {
			limit = fmt.Sprintf(" (at most %s)", max)
		}
		l.fail(name, "must be a positive duration such as 8s or 10m%s, got %q", limit, s)
		return def
	}
	return d
}

// OneOf returns the value of name when it is one of allowed (compared case-insensitively, returned
// lowercased), def when unset, and records an error otherwise.
func (l *Loader) OneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(l.getenv(name)))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

// LogLevel reads LOG_LEVEL: debug, info, warn or error (default info).
func (l *Loader) LogLevel() string {
	return l.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
}

// Secret masks a secret for logging: only its length is shown.
func Secret(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("*** (%d chars)", len(s))
}
