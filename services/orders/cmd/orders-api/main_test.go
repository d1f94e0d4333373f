package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/internal/proctest"
)

// envOf is an environment with the test tokens' AUTH_* variables and kv.
func envOf(kv ...string) func(string) string {
	m := authtest.EnvMap()
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	c, err := load(envOf("SERVICE_TOKEN", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3002 || c.DB.Name != "orders" || c.ServiceToken != "s3cret" || c.CustomersAPIBase != "http://127.0.0.1:3001" ||
		c.CancelWindow != 10*time.Minute || c.IdempotencyTTL != 24*time.Hour || c.LogLevel != "info" {
		t.Errorf("defaults: got %+v", c)
	}
	c, err = load(envOf("SERVICE_TOKEN", "s", "PORT", "8080", "CANCEL_WINDOW", "30s", "IDEMPOTENCY_TTL", "1h", "CUSTOMERS_API_BASE", "http://h:3001/dev/"))
	if err != nil || c.Port != 8080 || c.CancelWindow != 30*time.Second || c.IdempotencyTTL != time.Hour || c.CustomersAPIBase != "http://h:3001/dev/" {
		t.Errorf("got %+v, %v", c, err)
	}
	for _, tc := range []struct {
		env  func(string) string
		want string
	}{
		{envOf(), "config: SERVICE_TOKEN is required"},
		{envOf("SERVICE_TOKEN", "x", "PORT", "http"), "config: PORT must be an integer"},
		{envOf("SERVICE_TOKEN", "x", "CANCEL_WINDOW", "10"), "config: CANCEL_WINDOW must be a positive duration"},
		{envOf("SERVICE_TOKEN", "x", "IDEMPOTENCY_TTL", "-1h"), "config: IDEMPOTENCY_TTL must be a positive duration"},
		{envOf("SERVICE_TOKEN", "x", "CUSTOMERS_API_BASE", "localhost:3001"), "config: CUSTOMERS_API_BASE"},
		{envOf("SERVICE_TOKEN", "x", "AUTH_HS256_SECRET", ""), "config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set to verify access tokens"},
		{envOf("SERVICE_TOKEN", "x", "AUTH_JWKS_URL", "http://idp.example/jwks"), "config: AUTH_JWKS_URL must use https"},
		{envOf("SERVICE_TOKEN", "x", "AUTH_AUDIENCE", ""), "config: AUTH_AUDIENCE is required"},
	} {
		if _, err := load(tc.env); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	// Secrets never reach the start-up log line.
	c, _ = load(envOf("SERVICE_TOKEN", "very-secret-token", "DB_PASSWORD", "pw-secret", "DB_DSN", "u:pw-secret@tcp(h:3306)/orders"))
	var line bytes.Buffer
	slog.New(slog.NewJSONHandler(&line, nil)).Info("starting", "config", c)
	if s := line.String(); strings.Contains(s, "very-secret-token") || strings.Contains(s, "pw-secret") || strings.Contains(s, authtest.Secret) ||
		!strings.Contains(s, `"host":"127.0.0.1"`) || !strings.Contains(s, `"issuer":"`+authtest.Issuer+`"`) {
		t.Errorf("start-up line leaks a secret or lacks the database: %s", s)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &proctest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, envOf("PORT", "0", "DB_DSN", db.DSN, "SERVICE_TOKEN", "tok", "DB_CONNECT_TIMEOUT", "5s"), out)
	}()
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Msg == "listening" {
				addr = m.Addr
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no listening line:\n%s", out.String())
	}
	_, port, _ := net.SplitHostPort(addr)
	base := "http://127.0.0.1:" + port
	get := func(path string, header ...string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := get("/health"); s != 200 || b != `{"checks":{"db":"ok"},"service":"orders-api","status":"ok"}` {
		t.Errorf("health: got %d %s", s, b)
	}
	if s, b := get("/openapi.yaml"); s != 200 || !strings.HasPrefix(b, "openapi: 3.0") {
		t.Errorf("openapi: got %d %.30s", s, b)
	}
	if s, _ := get("/internal/order-requests/k"); s != 401 {
		t.Errorf("internal without token: got %d, want 401", s)
	}
	if s, _ := get("/internal/order-requests/k", "Authorization", "Bearer tok"); s != 404 {
		t.Errorf("internal with token: got %d, want 404", s)
	}
	m := metricstest.Scrape(t, base+"/metrics")
	if got := m.Value(t, "http_requests_total", "route", "/health", "method", "GET", "code", "2xx"); got != 1 {
		t.Errorf("http_requests_total{route=/health,method=GET,code=2xx} = %v, want 1", got)
	}
	for _, name := range []string{"orders_created_total", "outbox_events_written_total", "go_sql_open_connections", "sqldb_tx_retries_total"} {
		if m.Series(name) == 0 {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// The backlog is read by a poller, at once after the start.
	for deadline := time.Now().Add(10 * time.Second); metricstest.Scrape(t, base+"/metrics").Series("outbox_backlog_events") != 1; {
		if time.Now().After(deadline) {
			t.Fatal("/metrics lacks outbox_backlog_events")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, _ := get("/orders"); s != 401 {
		t.Errorf("orders without an access token: got %d, want 401", s)
	}
	if s, b := get("/orders", "Authorization", authtest.Bearer(authtest.Operator(t))); s != 200 || b != `{"data":[],"next_cursor":null}` {
		t.Errorf("orders with an access token: got %d %s, want an empty page", s, b)
	}
	if strings.Contains(out.String(), `"tok"`) {
		t.Errorf("the service token was logged:\n%s", out.String())
	}
	// Pooled connections still answer a ping once the database is gone: health must not.
	if _, err := db.Exec("DROP DATABASE `" + db.Name + "`"); err != nil {
		t.Fatal(err)
	}
	if s, b := get("/health"); s != 503 || b != `{"checks":{"db":"down"},"service":"orders-api","status":"degraded"}` {
		t.Errorf("health with the database dropped: got %d %s, want 503 with db down", s, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestRunWithAuthDisabled: AUTH_DISABLED=true starts without any way to verify tokens, warns at start, and
// lets every request in as an operator, warning on each.
func TestRunWithAuthDisabled(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &proctest.Buffer{}
	done := make(chan error, 1)
	env := map[string]string{"PORT": "0", "DB_DSN": db.DSN, "SERVICE_TOKEN": "tok", "DB_CONNECT_TIMEOUT": "5s", "AUTH_DISABLED": "true"}
	go func() { done <- run(ctx, func(k string) string { return env[k] }, out) }()
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		default:
		}
		for _, l := range out.Lines() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &m) == nil && m.Msg == "listening" {
				addr = m.Addr
			}
		}
	}
	_, port, _ := net.SplitHostPort(addr)
	resp, err := http.Get("http://127.0.0.1:" + port + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /orders without a token: got %d, want 200 with authentication disabled", resp.StatusCode)
	}
	cancel()
	<-done
	logs := out.String()
	for _, want := range []string{
		`"level":"WARN","msg":"authentication is disabled (AUTH_DISABLED=true): every request acts as an operator`,
		`"level":"WARN","msg":"authentication is disabled (AUTH_DISABLED=true): request not authenticated"`,
		`"sub":"auth-disabled"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the log:\n%s", want, logs)
		}
	}
}
