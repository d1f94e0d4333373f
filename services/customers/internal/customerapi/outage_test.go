package customerapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/services/customers"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// TestDatabaseUnavailable: while the database refuses connections, as during a restart, the real
// customers-api answers every route that needs it with 503 DATABASE_UNAVAILABLE and Retry-After (not 500
// INTERNAL), and /health with 503; once the database is back it serves again, and nothing was written
// meanwhile. Every answer is checked against openapi.yaml.
func TestDatabaseUnavailable(t *testing.T) {
	db := dbtest.New(t, "customers")
	proxy := db.NewProxy(t)
	srv := proctest.Serve(t, proctest.Build(t, "github.com/b2b/backoffice/services/customers/cmd/customers-api"),
		append(authtest.Env(), "PORT=0", "DB_DSN="+proxy.DSN(db.DSN), "SERVICE_TOKEN="+token, "DB_CONNECT_TIMEOUT=5s", "LOG_LEVEL=info")...)
	operator := authtest.Operator(t)
	c := apitest.Load(t, customers.OpenAPI)
	send := func(method, path, body string) response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if strings.HasPrefix(path, "/internal/") {
			req.Header.Set("Authorization", "Bearer "+token)
		} else {
			req.Header.Set("Authorization", authtest.Bearer(operator))
		}
		status, header, b := c.Do(t, nil, req)
		return response{status, header, b}
	}
	send(http.MethodPost, "/customers", `{"name":"One","email":"one@x.example"}`).want(t, http.StatusCreated, "")

	proxy.Down()
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/customers", `{"name":"Two","email":"two@x.example"}`},
		{http.MethodGet, "/customers/1", ""},
		{http.MethodGet, "/customers?search=one", ""},
		{http.MethodPut, "/customers/1", `{"name":"Renamed"}`},
		{http.MethodDelete, "/customers/1", ""},
		{http.MethodGet, "/internal/customers/1", ""},
	} {
		got := send(r.method, r.path, r.body)
		got.want(t, http.StatusServiceUnavailable, "DATABASE_UNAVAILABLE")
		if ra := got.header.Get("Retry-After"); ra != "2" {
			t.Errorf("%s %s: Retry-After %q, want 2", r.method, r.path, ra)
		}
	}
	if h := send(http.MethodGet, "/health", ""); h.status != http.StatusServiceUnavailable || !strings.Contains(string(h.body), `"db":"down"`) {
		t.Errorf("health while the database is down: got %d %s", h.status, h.body)
	}
	// Invalid input is still a 400: it is refused before the database is asked.
	send(http.MethodPost, "/customers", `{"name":"","email":"x"}`).wantFields(t, "name", "email")

	proxy.Up()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := send(http.MethodGet, "/customers/1", "")
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database came back: got %d %s, want 200", r.status, r.body)
		}
	}
	send(http.MethodGet, "/health", "").want(t, http.StatusOK, "")
	got := decode[wireCustomer](t, send(http.MethodGet, "/customers/1", ""))
	if got.Name != "One" {
		t.Errorf("customer 1: got %+v, want it unchanged", got)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM customers WHERE deleted_at IS NULL").Scan(&n); err != nil || n != 1 {
		t.Errorf("got %d live customers (%v), want 1: nothing written while the database was down", n, err)
	}
	send(http.MethodPost, "/customers", `{"name":"Two","email":"two@x.example"}`).want(t, http.StatusCreated, "")
}
