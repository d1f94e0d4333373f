package orchestrator

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"CUSTOMERS_API_BASE": "http://127.0.0.1:3001",
		"ORDERS_API_BASE":    "http://127.0.0.1:3002/dev/",
		"SERVICE_TOKEN":      "secret-token",
	}
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := LoadConfig(get(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue != "order-commands" || c.WaitTimeout != 8*time.Second || c.UpstreamTimeout != 2*time.Second {
		t.Errorf("defaults: got queue %q wait %s upstream %s, want order-commands 8s 2s", c.Queue, c.WaitTimeout, c.UpstreamTimeout)
	}
	for name, want := range map[string]string{
		"SERVICE_TOKEN":      "config: SERVICE_TOKEN is required",
		"ORDERS_API_BASE":    "config: ORDERS_API_BASE is required",
		"ORDER_WAIT_TIMEOUT": "config: ORDER_WAIT_TIMEOUT must be a positive duration",
		"CUSTOMERS_API_BASE": "config: CUSTOMERS_API_BASE base url",
	} {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		switch name {
		case "ORDER_WAIT_TIMEOUT":
			bad[name] = "soon"
		case "CUSTOMERS_API_BASE":
			bad[name] = "localhost:3001"
		default:
			delete(bad, name)
		}
		if _, err := LoadConfig(get(bad)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want an error starting %q", name, err, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{initial: 40 * time.Millisecond, max: 300 * time.Millisecond}
	caps := []time.Duration{40, 80, 160, 300, 300, 300}
	for i, c := range caps {
		c *= time.Millisecond
		if d := b.next(); d < c/2 || d > c {
			t.Errorf("pause %d: got %s, want within [%s, %s]", i, d, c/2, c)
		}
	}
}

func TestDeadlineKeepsMargin(t *testing.T) {
	h, err := New(Config{CustomersBase: "http://c", OrdersBase: "http://o", WaitTimeout: 8 * time.Second, Margin: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if got, want := h.deadline(t.Context(), start), start.Add(8*time.Second); !got.Equal(want) {
		t.Errorf("no invocation deadline: got %s, want %s", got, want)
	}
	ctx, cancel := contextWithDeadline(t, start.Add(5*time.Second))
	defer cancel()
	if got, want := h.deadline(ctx, start), start.Add(4*time.Second); !got.Equal(want) {
		t.Errorf("invocation deadline 5s away: got %s, want %s", got, want)
	}
}

func TestNewRefusesBadBases(t *testing.T) {
	for _, tc := range []struct{ customers, orders, want string }{
		{"h:3001", "http://o", "CUSTOMERS_API_BASE "},
		{"http://c", "http://o/?stage=dev", "ORDERS_API_BASE "},
	} {
		if _, err := New(Config{CustomersBase: tc.customers, OrdersBase: tc.orders}, nil, nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%q, %q): got %v, want an error naming %s", tc.customers, tc.orders, err, tc.want)
		}
	}
}

func contextWithDeadline(t *testing.T, d time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(t.Context(), d)
}

func TestConfigLogMasksSecrets(t *testing.T) {
	c, err := LoadConfig(func(k string) string {
		return map[string]string{
			"CUSTOMERS_API_BASE": "http://c", "ORDERS_API_BASE": "http://o",
			"SERVICE_TOKEN": "svc-secret-token", "AWS_SECRET_ACCESS_KEY": "aws-secret",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	for _, secret := range []string{"svc-secret-token", "aws-secret"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("logged configuration %s shows %q", buf.String(), secret)
		}
	}
	if !strings.Contains(buf.String(), `"orders_api_base":"http://o"`) {
		t.Errorf("logged configuration %s: want the bases shown", buf.String())
	}
	if !strings.Contains(buf.String(), `"wait_timeout":"8s"`) || !strings.Contains(buf.String(), `"upstream_timeout":"2s"`) {
		t.Errorf("logged configuration %s: want durations as \"8s\"", buf.String())
	}
}
