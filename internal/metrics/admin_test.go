package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/internal/web"
)

// startAdmin serves an admin listener on a free loopback port until the test ends.
func startAdmin(t *testing.T, reg *prometheus.Registry, pprof bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	health := web.Health("orders-worker", map[string]web.Check{"db": func(context.Context) error { return nil }})
	go func() {
		done <- metrics.ServeAdmin(ctx, l, metrics.AdminHandler(reg, health, pprof), slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeAdmin: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeAdmin did not return after its context ended")
		}
	})
	return "http://" + l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.TxRetries())
	base := startAdmin(t, reg, false)

	s := metricstest.Scrape(t, base+"/metrics")
	if s.Series("go_goroutines") != 1 || s.Series("sqldb_tx_retries_total") != 1 {
		t.Errorf("admin /metrics lacks the registry's metrics")
	}
	if code, body := get(t, base+"/health"); code != http.StatusOK || !strings.Contains(body, `"service":"orders-worker"`) {
		t.Errorf("GET /health: %d %s", code, body)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/", "/other"} {
		if code, _ := get(t, base+path); code != http.StatusNotFound {
			t.Errorf("GET %s with pprof off: %d, want 404", path, code)
		}
	}
	if resp, err := http.Post(base+"/metrics", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %v %v, want 405", resp.StatusCode, err)
	}
}

func TestAdminPprof(t *testing.T) {
	t.Parallel()
	base := startAdmin(t, metrics.NewRegistry(), true)
	for path, want := range map[string]string{
		"/debug/pprof/":                     "goroutine",
		"/debug/pprof/heap?debug=1":         "heap profile",
		"/debug/pprof/goroutine?debug=1":    "goroutine profile",
		"/debug/pprof/cmdline":              "metrics.test",
		"/debug/pprof/profile?seconds=1":    "",
		"/debug/pprof/trace?seconds=0.2":    "",
		"/debug/pprof/symbol":               "num_symbols",
		"/debug/pprof/threadcreate?debug=1": "threadcreate profile",
	} {
		code, body := get(t, base+path)
		if code != http.StatusOK || !strings.Contains(body, want) || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes, want 200 containing %q", path, code, len(body), want)
		}
	}
}

func TestLoadAdminConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want metrics.AdminConfig
		err  string
	}{
		{"defaults", nil, metrics.AdminConfig{Addr: "127.0.0.1:9101"}, ""},
		{"set", map[string]string{"WORKER_ADMIN_ADDR": "0.0.0.0:9200", "PPROF": "true"}, metrics.AdminConfig{Addr: "0.0.0.0:9200", Pprof: true}, ""},
		{"every interface", map[string]string{"WORKER_ADMIN_ADDR": ":9101", "PPROF": "FALSE"}, metrics.AdminConfig{Addr: ":9101"}, ""},
		{"no port", map[string]string{"WORKER_ADMIN_ADDR": "127.0.0.1"}, metrics.AdminConfig{}, "config: WORKER_ADMIN_ADDR must be host:port"},
		{"port only", map[string]string{"WORKER_ADMIN_ADDR": "9101"}, metrics.AdminConfig{}, "config: WORKER_ADMIN_ADDR must be host:port"},
		{"port out of range", map[string]string{"WORKER_ADMIN_ADDR": "127.0.0.1:70000"}, metrics.AdminConfig{}, "config: WORKER_ADMIN_ADDR must be host:port with a port from 0 to 65535"},
		{"any free port", map[string]string{"WORKER_ADMIN_ADDR": "127.0.0.1:0"}, metrics.AdminConfig{Addr: "127.0.0.1:0"}, ""},
		{"named port", map[string]string{"WORKER_ADMIN_ADDR": "127.0.0.1:http"}, metrics.AdminConfig{}, "config: WORKER_ADMIN_ADDR must be host:port with a port from 0 to 65535"},
		{"bad pprof", map[string]string{"PPROF": "yes"}, metrics.AdminConfig{}, `config: PPROF must be true or false, got "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := config.New(func(k string) string { return tc.env[k] })
			got := metrics.LoadAdminConfig(l, "WORKER_ADMIN_ADDR", "127.0.0.1:9101")
			if tc.err != "" {
				if err := l.Err(); err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error %v, want one starting %q", err, tc.err)
				}
				return
			}
			if err := l.Err(); err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestStartAdmin(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var logs logBuffer
	health := web.Health("outbox-relay", nil)
	stop, err := metrics.StartAdmin(ctx, metrics.AdminConfig{Addr: "127.0.0.1:0"}, metrics.NewRegistry(), health, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	var addr string
	eventually(t, 5*time.Second, "no admin listening line", func() bool {
		if l := logs.lines("admin listening"); len(l) == 1 {
			addr, _ = l[0]["addr"].(string)
		}
		return addr != ""
	})
	metricstest.Scrape(t, "http://"+addr+"/metrics")

	// The address is taken now: a second start fails at once.
	if _, err := metrics.StartAdmin(ctx, metrics.AdminConfig{Addr: addr}, metrics.NewRegistry(), health, logs.logger()); err == nil {
		t.Error("a second admin listener on the same address started")
	}
	defer cancel()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return")
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("the admin listener still answers after stop")
	}
}
