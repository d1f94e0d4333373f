package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/services/reporting"
)

func TestMain(m *testing.M) { proctest.Main(m) }

const eventsQueue = "reporting-order-events"

func TestLoad(t *testing.T) {
	get := func(m map[string]string) func(string) string {
		env := authtest.EnvMap()
		maps.Copy(env, m)
		return func(k string) string { return env[k] }
	}
	c, err := load(get(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3004 || c.DB.Name != "reporting" || c.Queue != eventsQueue || c.Visibility != 30*time.Second || c.Workers != 4 ||
		c.LogLevel != "info" || c.SQS.Region != "us-east-1" {
		t.Fatalf("defaults: got %+v", c)
	}
	c, err = load(get(map[string]string{"PORT": "0", "REPORTING_EVENTS_QUEUE": "q", "REPORTING_EVENTS_VISIBILITY_TIMEOUT": "2s",
		"REPORTING_CONCURRENCY": "8", "DB_NAME": "other", "LOG_LEVEL": "debug"}))
	if err != nil || c.Port != 0 || c.Queue != "q" || c.Visibility != 2*time.Second || c.Workers != 8 || c.DB.Name != "other" || c.LogLevel != "debug" {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"PORT", "http", `config: PORT must be an integer from 0 to 65535, got "http"`},
		{"REPORTING_CONCURRENCY", "0", "config: REPORTING_CONCURRENCY must be an integer from 1 to 64"},
		{"REPORTING_EVENTS_VISIBILITY_TIMEOUT", "soon", "config: REPORTING_EVENTS_VISIBILITY_TIMEOUT must be a positive duration"},
		{"REPORTING_EVENTS_VISIBILITY_TIMEOUT", "13h", "config: REPORTING_EVENTS_VISIBILITY_TIMEOUT must be a positive duration"},
		{"DB_DSN", "::not a dsn::", "config: DB_DSN is not a valid MySQL DSN"},
		{"LOG_LEVEL", "loud", "config: LOG_LEVEL must be one of"},
		{"AUTH_HS256_SECRET", "", "config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set to verify access tokens"},
		{"AUTH_DISABLED", "yes", "config: AUTH_DISABLED must be one of"},
	} {
		if _, err := load(get(map[string]string{tc.name: tc.value})); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s=%q: got %v, want an error starting %q", tc.name, tc.value, err, tc.want)
		}
	}
}

// TestStartingLineMasksSecrets: the configuration is logged at start with the password, the DSN and the
// AWS secret masked, and durations written the way they are configured.
func TestStartingLineMasksSecrets(t *testing.T) {
	var out bytes.Buffer
	const dsn = "user:hunter2-db@tcp(127.0.0.1:1)/reporting"
	getenv := func(k string) string {
		return map[string]string{
			"DB_DSN": dsn, "DB_CONNECT_TIMEOUT": "1s", "AWS_SECRET_ACCESS_KEY": "hunter2-aws",
			"REPORTING_EVENTS_VISIBILITY_TIMEOUT": "45s",
			"AUTH_HS256_SECRET":                   "hunter2-jwt-secret-0123456789abcdef",
			"AUTH_ISSUER":                         "iss",
			"AUTH_AUDIENCE":                       "aud",
		}[k]
	}
	if err := run(context.Background(), getenv, &out, nil); err == nil || !strings.Contains(err.Error(), "database unreachable") {
		t.Fatalf("got %v, want the unreachable database", err)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("a secret leaked into the log:\n%s", out.String())
	}
	start := logLine(t, out.String(), "starting")
	cfg, _ := start["config"].(map[string]any)
	db, _ := cfg["db"].(map[string]any)
	sqs, _ := cfg["sqs"].(map[string]any)
	if cfg["visibility_timeout"] != "45s" || db["dsn"] != fmt.Sprintf("*** (%d chars)", len(dsn)) || db["connect_timeout"] != "1s" || sqs["secret_access_key"] != "*** (11 chars)" ||
		cfg["queue"] != eventsQueue || cfg["port"] != float64(3004) || cfg["workers"] != float64(4) {
		t.Fatalf("start-up line: got %v", start)
	}
}

// TestRunServesAndShutsDown: the process serves its routes over the network and stops cleanly on cancel.
func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	s := startInProcess(t, startSQS(t, sqstest.Options{}), dbtest.New(t, "reporting"), nil)
	c := apitest.Load(t, reporting.OpenAPI)
	for _, path := range []string{"/health", "/openapi.yaml", "/reports/daily-sales?from=2026-03-01&to=2026-03-02"} {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		req.Header.Set("X-Correlation-Id", "run-test-1")
		req.Header.Set("Authorization", authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "ops-reader", Scopes: []string{auth.ScopeReportsRead}})))
		if status, _, body := c.Do(t, nil, req); status != http.StatusOK {
			t.Fatalf("GET %s: got %d %s", path, status, body)
		}
	}
	if status, _ := get(t, s.url+"/reports/customers/1"); status != http.StatusUnauthorized {
		t.Errorf("a report without an access token: got %d, want 401", status)
	}
	s.stop(t)
	logs := s.logs.String()
	for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, msg) {
			t.Errorf("no %s line in\n%s", msg, logs)
		}
	}
	if req := logLine(t, logs, "request"); req["correlation_id"] != "run-test-1" || req["service"] != "reporting" {
		t.Errorf("request line: got %v", req)
	}
	var reads int
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"route":"/reports/daily-sales"`) && strings.Contains(l, `"sub":"ops-reader"`) {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("got %d request lines of the report with its sub, want 1:\n%s", reads, logs)
	}
}

// TestStartupFailuresExitWithOneLine runs the real binary with what stops it at start.
func TestStartupFailuresExitWithOneLine(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t, "github.com/b2b/backoffice/services/reporting/cmd/reporting")
	db := dbtest.New(t, "reporting")
	sqs := startSQS(t, sqstest.Options{})
	closed := closedPort(t)
	base := append(authtest.Env(), "PATH="+os.Getenv("PATH"), "DB_CONNECT_TIMEOUT=1s", "PORT=0", "LOG_LEVEL=error")
	aws := []string{"AWS_ENDPOINT_URL=" + sqs.Endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test"}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"bad PORT", []string{"PORT=abc"}, `reporting: config: PORT must be an integer from 0 to 65535, got "abc"`},
		{"no way to verify access tokens", []string{"AUTH_HS256_SECRET="}, "reporting: config: AUTH_JWKS_URL or AUTH_HS256_SECRET must be set to verify access tokens"},
		{"unknown flag", []string{"-x"}, "reporting: flag provided but not defined: -x"},
		{"unreachable database", []string{"DB_HOST=127.0.0.1", "DB_PORT=" + closed}, "reporting: database unreachable at 127.0.0.1:" + closed},
		{"missing queue", append([]string{"DB_DSN=" + db.DSN, "REPORTING_EVENTS_QUEUE=no-such-queue"}, aws...),
			`reporting: events queue "no-such-queue": `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var args []string
			env := append([]string{}, base...)
			for _, e := range tc.env {
				if strings.HasPrefix(e, "-") {
					args = append(args, e)
				} else {
					env = append(env, e)
				}
			}
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = env
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
		})
	}
}

// inProcess is run() started by a test.
type inProcess struct {
	url    string
	logs   *proctest.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startInProcess runs the service against sqs and db with extra environment, waits until it listens,
// and stops it when the test ends.
func startInProcess(t *testing.T, sqs *sqstest.Server, db *dbtest.DB, extra map[string]string) *inProcess {
	t.Helper()
	c := sqs.Config()
	env := map[string]string{
		"PORT": "0", "DB_DSN": db.DSN, "DB_CONNECT_TIMEOUT": "5s", "LOG_LEVEL": "info",
		"AWS_REGION": c.Region, "AWS_ENDPOINT_URL": c.Endpoint, "AWS_ACCESS_KEY_ID": c.AccessKeyID, "AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"REPORTING_EVENTS_QUEUE": eventsQueue, "REPORTING_EVENTS_VISIBILITY_TIMEOUT": "2s",
	}
	maps.Copy(env, authtest.EnvMap())
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcess{logs: &proctest.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, func(k string) string { return env[k] }, s.logs, nil) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("reporting logs:\n%s", s.logs.String())
		}
	})
	addr := proctest.WaitForLog(t, s.logs, s.done, "listening", "addr")
	_, port, _ := net.SplitHostPort(addr)
	s.url = "http://127.0.0.1:" + port
	return s
}

// stop cancels run and waits for it to return nil; stopping twice is harmless.
func (s *inProcess) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run after cancel: %v, want nil (graceful shutdown)", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("run did not return within 30s of cancel")
	}
}

// logLines returns the JSON log lines with msg.
func logLines(logs, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	lines := logLines(logs, msg)
	if len(lines) == 0 {
		t.Fatalf("no %q line in\n%s", msg, logs)
	}
	return lines[0]
}

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

// get fetches url and returns status and body.
// get sends GET url without an access token.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return getAs(t, url, "")
}

// getAs sends GET url with the access token tok ("" for none).
func getAs(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", authtest.Bearer(tok))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
