package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/services/customers"
)

func TestLoad(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := authtest.EnvMap()
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := load(env("SERVICE_TOKEN", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3001 || c.DB.Name != "customers" || c.DB.Host != "127.0.0.1" || c.DB.Port != 3306 || c.ServiceToken != "s3cret" || c.LogLevel != "info" {
		t.Fatalf("defaults: got %+v", c)
	}
	c, err = load(env("SERVICE_TOKEN", "s3cret", "PORT", "8080", "DB_NAME", "other", "DB_HOST", "db", "LOG_LEVEL", "debug"))
	if err != nil || c.Port != 8080 || c.DB.Name != "other" || c.DB.Host != "db" || c.LogLevel != "debug" {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, tc := range []struct {
		env  func(string) string
		want string
	}{
		{env(), "config: SERVICE_TOKEN is required"},
		{env("SERVICE_TOKEN", "   "), "config: SERVICE_TOKEN is required"},
		{env("SERVICE_TOKEN", "x", "PORT", "http"), `config: PORT must be an integer from 0 to 65535, got "http"`},
		{env("SERVICE_TOKEN", "x", "DB_PORT", "99999"), "config: DB_PORT must be an integer"},
		{env("SERVICE_TOKEN", "x", "DB_CONNECT_TIMEOUT", "soon"), "config: DB_CONNECT_TIMEOUT must be a positive duration"},
		{env("SERVICE_TOKEN", "x", "DB_DSN", "::not a dsn::"), "config: DB_DSN is not a valid MySQL DSN"},
		{env("SERVICE_TOKEN", "x", "AUTH_HS256_SECRET", ""), "config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set to verify access tokens"},
		{env("SERVICE_TOKEN", "x", "AUTH_HS256_SECRET", "short"), "config: AUTH_HS256_SECRET must be at least 32 bytes"},
		{env("SERVICE_TOKEN", "x", "AUTH_ISSUER", ""), "config: AUTH_ISSUER is required"},
	} {
		if _, err := load(tc.env); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	db := dbtest.New(t, "customers")
	const token = "run-test-token-abcdef"
	getenv := func(k string) string {
		return map[string]string{"PORT": "0", "DB_DSN": db.DSN, "SERVICE_TOKEN": token, "DB_CONNECT_TIMEOUT": "5s",
			"AUTH_HS256_SECRET": authtest.Secret, "AUTH_ISSUER": authtest.Issuer, "AUTH_AUDIENCE": authtest.Audience}[k]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &proctest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, getenv, out) }()

	addr := proctest.WaitForLog(t, out, done, "listening", "addr")
	_, port, _ := net.SplitHostPort(addr)
	base := "http://127.0.0.1:" + port

	c := apitest.Load(t, customers.OpenAPI)
	req, _ := http.NewRequest(http.MethodPost, base+"/customers", strings.NewReader(`{"name":"ACME Corp","email":"ops@acme.com"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Correlation-Id", "run-test-1")
	if status, _, body := c.Do(t, nil, req); status != http.StatusUnauthorized {
		t.Fatalf("POST without an access token: got %d %s, want 401", status, body)
	}
	req.Header.Set("Authorization", authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "ops-run-test", Scopes: []string{auth.ScopeCustomersWrite}})))
	if status, _, body := c.Do(t, nil, req); status != http.StatusCreated {
		t.Fatalf("POST over the network: got %d %s", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/internal/customers/1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if status, _, body := c.Do(t, nil, req); status != http.StatusOK || !strings.Contains(string(body), `"ops@acme.com"`) {
		t.Fatalf("internal GET: got %d %s", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/health", nil)
	if status, _, body := c.Do(t, nil, req); status != http.StatusOK {
		t.Fatalf("health: got %d %s", status, body)
	}
	m := metricstest.Scrape(t, base+"/metrics")
	if got := m.Value(t, "http_requests_total", "route", "/customers", "method", "POST", "code", "2xx"); got != 1 {
		t.Errorf("http_requests_total{route=/customers,method=POST,code=2xx} = %v, want 1", got)
	}
	if m.Series("go_sql_open_connections", "db_name", "customers") != 1 || m.Series("sqldb_tx_retries_total") != 1 {
		t.Errorf("/metrics lacks the pool or the retry metrics")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v, want nil (graceful shutdown)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	logs := out.String()
	if strings.Contains(logs, token) || strings.Contains(logs, authtest.Secret) {
		t.Fatalf("the service token or the token secret leaked into the log:\n%s", logs)
	}
	start, _ := logLine(t, logs, "starting")["config"].(map[string]any)
	dbAttrs, _ := start["db"].(map[string]any)
	authAttrs, _ := start["auth"].(map[string]any)
	if start["service_token"] != fmt.Sprintf("*** (%d chars)", len(token)) || dbAttrs["dsn"] != fmt.Sprintf("*** (%d chars)", len(db.DSN)) || start["port"] != float64(0) ||
		authAttrs["hs256_secret"] != fmt.Sprintf("*** (%d chars)", len(authtest.Secret)) || authAttrs["issuer"] != authtest.Issuer {
		t.Fatalf("start-up line: got %v, want the tokens, the secret and the DSN masked", start)
	}
	var created map[string]any
	for _, l := range requestLines(t, logs) {
		if l["status"] == float64(201) {
			created = l
		}
	}
	// The actor of the change is on the request's line.
	if created["correlation_id"] != "run-test-1" || created["route"] != "/customers" || created["service"] != "customers-api" || created["sub"] != "ops-run-test" {
		t.Fatalf("request line: got %v, want the correlation id, the route and sub", created)
	}
	if !strings.Contains(logs, `"msg":"shutting down"`) {
		t.Fatalf("no shutdown line in\n%s", logs)
	}
}

func requestLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no %q line in\n%s", msg, logs)
	return nil
}

func TestMain(m *testing.M) { proctest.Main(m) }

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

func TestStartupFailuresExitWithOneLine(t *testing.T) {
	bin := proctest.Build(t, "github.com/b2b/backoffice/services/customers/cmd/customers-api")
	server := dbtest.ServerConfig(t)
	host, port, _ := net.SplitHostPort(server.Addr)
	closed := closedPort(t)
	base := append(authtest.Env(), "PATH="+os.Getenv("PATH"), "DB_CONNECT_TIMEOUT=1s", "PORT=0", "LOG_LEVEL=error")
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"missing SERVICE_TOKEN", nil, "customers-api: config: SERVICE_TOKEN is required"},
		{"bad PORT", []string{"SERVICE_TOKEN=x", "PORT=abc"}, `customers-api: config: PORT must be an integer from 0 to 65535, got "abc"`},
		{"no way to verify access tokens", []string{"SERVICE_TOKEN=x", "AUTH_HS256_SECRET="},
			"customers-api: config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set to verify access tokens (AUTH_DISABLED=true only for local experiments)"},
		{"unreachable database", []string{"SERVICE_TOKEN=x", "DB_HOST=127.0.0.1", "DB_PORT=" + closed},
			"customers-api: database unreachable at 127.0.0.1:" + closed},
		{"wrong password", []string{"SERVICE_TOKEN=x", "DB_HOST=" + host, "DB_PORT=" + port, "DB_USER=" + server.User, "DB_PASSWORD=definitely-wrong"},
			fmt.Sprintf("customers-api: database access denied for user %q", server.User)},
		{"missing database", []string{"SERVICE_TOKEN=x", "DB_HOST=" + host, "DB_PORT=" + port, "DB_USER=" + server.User, "DB_PASSWORD=" + server.Passwd, "DB_NAME=bo_test_no_such_db"},
			`customers-api: database "bo_test_no_such_db" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = append(append([]string{}, base...), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("got %v, want exit code 1; stderr %q", err, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Fatalf("stderr: got %q, want one line starting %q", stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String()+stdout.String(), "definitely-wrong") {
				t.Fatal("the password was printed")
			}
		})
	}
}
