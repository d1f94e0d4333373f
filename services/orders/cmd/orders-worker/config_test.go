package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	env := map[string]string{
		"CUSTOMERS_API_BASE": "http://127.0.0.1:3001",
		"SERVICE_TOKEN":      "a-secret-token",
		"AWS_ENDPOINT_URL":   "http://127.0.0.1:4100",
	}
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := load(get(env))
	if err != nil {
		t.Fatal(err)
	}
	if s.Queue != "order-commands" || s.Visibility != 30*time.Second || s.Workers != 4 || s.DB.Name != "orders" || s.CustomersTimeout != 2*time.Second {
		t.Errorf("defaults: got queue %q visibility %s workers %d db %q customers timeout %s, want order-commands 30s 4 orders 2s",
			s.Queue, s.Visibility, s.Workers, s.DB.Name, s.CustomersTimeout)
	}
	if s.Admin.Addr != "127.0.0.1:9101" || s.Admin.Pprof || s.MetricsPoll != 10*time.Second {
		t.Errorf("defaults: got admin %+v metrics poll %s, want 127.0.0.1:9101 without pprof, 10s", s.Admin, s.MetricsPoll)
	}
	env["CUSTOMERS_API_TIMEOUT"] = "750ms"
	if s, err := load(get(env)); err != nil || s.CustomersTimeout != 750*time.Millisecond {
		t.Errorf("CUSTOMERS_API_TIMEOUT=750ms: got %s, %v, want 750ms", s.CustomersTimeout, err)
	}
	delete(env, "CUSTOMERS_API_TIMEOUT")
	for _, tc := range []struct{ name, value, want string }{
		{"SERVICE_TOKEN", "", "config: SERVICE_TOKEN is required"},
		{"CUSTOMERS_API_BASE", "", "config: CUSTOMERS_API_BASE is required"},
		{"WORKER_CONCURRENCY", "0", "config: WORKER_CONCURRENCY must be an integer from 1 to 64"},
		{"ORDER_COMMANDS_VISIBILITY_TIMEOUT", "soon", "config: ORDER_COMMANDS_VISIBILITY_TIMEOUT must be a positive duration"},
		{"CUSTOMERS_API_TIMEOUT", "soon", "config: CUSTOMERS_API_TIMEOUT must be a positive duration"},
		{"CUSTOMERS_API_TIMEOUT", "2h", "config: CUSTOMERS_API_TIMEOUT must be a positive duration"},
		{"CUSTOMERS_API_BASE", "h:3001", "config: CUSTOMERS_API_BASE "},
		{"CUSTOMERS_API_BASE", "http://h:3001/?x=1", "config: CUSTOMERS_API_BASE "},
		{"WORKER_ADMIN_ADDR", "9101", "config: WORKER_ADMIN_ADDR must be host:port"},
		{"PPROF", "on", "config: PPROF must be true or false"},
		{"METRICS_POLL_INTERVAL", "0s", "config: METRICS_POLL_INTERVAL must be a positive duration"},
	} {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		bad[tc.name] = tc.value
		if _, err := load(get(bad)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s=%q: got %v, want an error starting %q", tc.name, tc.value, err, tc.want)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), func(string) string { return "" }, &out, nil)
	if err == nil || err.Error() != "config: CUSTOMERS_API_BASE is required" {
		t.Errorf("got %v, want the first missing variable named", err)
	}
	if err := run(context.Background(), func(string) string { return "" }, &out, []string{"-no-such-flag"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

// TestRunRefusesBadBaseAtOnce: a bad CUSTOMERS_API_BASE stops the worker before it spends its
// connect budget on the database.
func TestRunRefusesBadBaseAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := map[string]string{
		"CUSTOMERS_API_BASE": "ftp://customers", "SERVICE_TOKEN": "tok",
		// Nothing listens there: reaching the connect loop would take the whole budget.
		"DB_HOST": "127.0.0.1", "DB_PORT": "1", "DB_CONNECT_TIMEOUT": "30s",
	}
	var out bytes.Buffer
	err := run(ctx, func(k string) string { return env[k] }, &out, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "config: CUSTOMERS_API_BASE ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v, want one line naming CUSTOMERS_API_BASE", err)
	}
	if out.Len() != 0 {
		t.Errorf("the worker started before refusing its configuration; it logged:\n%s", out.String())
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	s, err := load(func(k string) string {
		return map[string]string{"CUSTOMERS_API_BASE": "http://c", "SERVICE_TOKEN": "a-secret-token", "AWS_SECRET_ACCESS_KEY": "aws-secret", "DB_PASSWORD": "db-secret"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", s)
	got := buf.String()
	if !strings.Contains(got, `"service_token":"*** (14 chars)"`) {
		t.Errorf("logged configuration %s: want the token masked by its length", got)
	}
	// Durations read as they are written in the environment, like every binary logs them.
	if !strings.Contains(got, `"customers_api_timeout":"2s"`) || !strings.Contains(got, `"visibility_timeout":"30s"`) {
		t.Errorf("logged configuration %s: want durations as \"2s\"", got)
	}
	for _, secret := range []string{"a-secret-token", "aws-secret", "db-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("logged configuration %s shows %q", got, secret)
		}
	}
}
