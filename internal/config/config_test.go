package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestValuesAndDefaults(t *testing.T) {
	l := config.New(env("S", " text ", "I", "42", "D", "8s", "R", " pass word ", "REQ", "set", "EMPTY", "  "))
	if got := l.String("S", "def"); got != "text" {
		t.Errorf("String: got %q, want trimmed %q", got, "text")
	}
	if got := l.String("MISSING", "def"); got != "def" {
		t.Errorf("String default: got %q", got)
	}
	if got := l.String("EMPTY", "def"); got != "def" {
		t.Errorf("String of blank: got %q, want the default", got)
	}
	if got := l.Int("I", 1, 0, 100); got != 42 {
		t.Errorf("Int: got %d", got)
	}
	if got := l.Int("MISSING", 7, 0, 100); got != 7 {
		t.Errorf("Int default: got %d", got)
	}
	if got := l.Duration("D", time.Second, time.Minute); got != 8*time.Second {
		t.Errorf("Duration: got %v", got)
	}
	if got := l.Duration("MISSING", 3*time.Second, time.Minute); got != 3*time.Second {
		t.Errorf("Duration default: got %v", got)
	}
	if got := l.Raw("R"); got != " pass word " {
		t.Errorf("Raw: got %q, want it untouched", got)
	}
	if got := l.Required("REQ"); got != "set" {
		t.Errorf("Required: got %q", got)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		load func(*config.Loader)
		want string
	}{
		{"required missing", func(l *config.Loader) { l.Required("SERVICE_TOKEN") }, "config: SERVICE_TOKEN is required"},
		{"required blank", func(l *config.Loader) { l.Required("BLANK") }, "config: BLANK is required"},
		{"int not a number", func(l *config.Loader) { l.Int("PORT", 1, 0, 65535) }, `config: PORT must be an integer from 0 to 65535, got "abc"`},
		{"int out of range", func(l *config.Loader) { l.Int("BIG", 1, 0, 65535) }, `config: BIG must be an integer from 0 to 65535, got "70000"`},
		{"duration bad", func(l *config.Loader) { l.Duration("WAIT", time.Second, time.Minute) }, `config: WAIT must be a positive duration such as 8s or 10m (at most 1m0s), got "8"`},
		{"duration negative", func(l *config.Loader) { l.Duration("NEG", time.Second, time.Minute) }, `config: NEG must be a positive duration`},
		{"duration above max", func(l *config.Loader) { l.Duration("LONG", time.Second, time.Minute) }, `config: LONG must be a positive duration`},
		{"first problem wins", func(l *config.Loader) { l.Required("FIRST"); l.Int("PORT", 1, 0, 65535) }, "config: FIRST is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := config.New(env("PORT", "abc", "BIG", "70000", "WAIT", "8", "NEG", "-1s", "LONG", "2m", "BLANK", " "))
			tc.load(l)
			err := l.Err()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line starting %q", err, tc.want)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	if got := config.Secret("hunter2"); got != "*** (7 chars)" || strings.Contains(got, "hunter2") {
		t.Fatalf("got %q", got)
	}
	if got := config.Secret(""); got != "" {
		t.Fatalf("empty secret: got %q, want empty (shows it is unset)", got)
	}
}

func TestLogLevel(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"", "info", ""},
		{"DEBUG", "debug", ""},
		{" warn ", "warn", ""},
		{"error", "error", ""},
		{"verbose", "info", `config: LOG_LEVEL must be one of debug, info, warn, error, got "verbose"`},
	} {
		l := config.New(func(string) string { return tc.in })
		got := l.LogLevel()
		if got != tc.want {
			t.Errorf("LOG_LEVEL=%q: got %q, want %q", tc.in, got, tc.want)
		}
		gotErr := ""
		if err := l.Err(); err != nil {
			gotErr = err.Error()
		}
		if gotErr != tc.err {
			t.Errorf("LOG_LEVEL=%q: error %q, want %q", tc.in, gotErr, tc.err)
		}
	}
}
