// Package customerstest runs the real customers-api for other services' tests: the binary built by
// proctest, on a fresh customers database, holding customers 1, 2 and 3. A test package that uses it
// calls proctest.Main from its TestMain. AuditLog reads a customers database's audit trail.
package customerstest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/proctest"
)

// Server is a running customers-api.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	// Logs collects the process's output.
	Logs *proctest.Buffer
}

// Start builds (once per test binary) and starts customers-api with the service token token and the
// test tokens' verification (authtest), on a fresh database with customers 1..3 ("Customer N",
// cN@example.com); it is stopped when t ends.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	db := dbtest.New(t, "customers")
	s := &Server{Logs: &proctest.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, proctest.Build(t, "github.com/b2b/backoffice/services/customers/cmd/customers-api"))
	cmd.Env = append(authtest.Env(), "PORT=0", "DB_DSN="+db.DSN, "SERVICE_TOKEN="+token, "DB_CONNECT_TIMEOUT=5s", "LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = s.Logs, s.Logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("customers-api logs:\n%s", s.Logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for s.URL == "" {
		select {
		case <-done:
			t.Fatalf("customers-api exited:\n%s", s.Logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("customers-api did not start:\n%s", s.Logs.String())
		}
		for _, line := range s.Logs.Lines() {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				_, port, _ := net.SplitHostPort(m.Addr)
				s.URL = "http://127.0.0.1:" + port
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	operator := authtest.Operator(t)
	for i := 1; i <= 3; i++ {
		body := fmt.Sprintf(`{"name":"Customer %d","email":"c%d@example.com"}`, i, i)
		req, err := http.NewRequest(http.MethodPost, s.URL+"/customers", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", authtest.Bearer(operator))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || !strings.Contains(string(b), fmt.Sprintf(`"id":%d`, i)) {
			t.Fatalf("create customer %d: got %d %s", i, resp.StatusCode, b)
		}
	}
	return s
}

// AuditLog returns every audit_log record of a customers database, oldest first, as
// "action by actor/bound customer of entity id (correlation id)".
func AuditLog(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT action, actor, COALESCE(actor_customer_id, 0), entity_type, entity_id, COALESCE(correlation_id, '')
		FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var action, actor, entity, corr string
		var bound, id int64
		if err := rows.Scan(&action, &actor, &bound, &entity, &id, &corr); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s by %s/%d of %s %d (%s)", action, actor, bound, entity, id, corr))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
