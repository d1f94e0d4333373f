package orderapi_test

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
	"github.com/b2b/backoffice/services/customers/customerstest"
	"github.com/b2b/backoffice/services/orders"
	"github.com/b2b/backoffice/services/orders/internal/orderstest"
)

// TestDatabaseUnavailable: while the database refuses connections, as during a restart, the real
// orders-api answers every route that needs it with 503 DATABASE_UNAVAILABLE and Retry-After (not 500
// INTERNAL), and /health with 503; once the database is back it serves again, and nothing was written
// meanwhile (no order, no stock taken, no event). Every answer is checked against openapi.yaml.
func TestDatabaseUnavailable(t *testing.T) {
	db := dbtest.New(t, "orders")
	proxy := db.NewProxy(t)
	cust := customerstest.Start(t, token)
	srv := proctest.Serve(t, proctest.Build(t, "github.com/b2b/backoffice/services/orders/cmd/orders-api"),
		append(authtest.Env(), "PORT=0", "DB_DSN="+proxy.DSN(db.DSN), "SERVICE_TOKEN="+token, "DB_CONNECT_TIMEOUT=5s",
			"CUSTOMERS_API_BASE="+cust.URL, "LOG_LEVEL=info")...)
	operator := authtest.Operator(t)
	c := apitest.Load(t, orders.OpenAPI)
	send := func(method, path, body string, header ...string) response {
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
		if !strings.HasPrefix(path, "/internal/") {
			req.Header.Set("Authorization", authtest.Bearer(operator))
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		status, h, b := c.Do(t, nil, req)
		return response{status: status, header: h, body: b}
	}
	if r := send("POST", "/products", `{"sku":"DU-1","name":"Product","price_cents":100,"stock":10}`); r.status != 201 {
		t.Fatalf("create product: got %d %s", r.status, r.body)
	}
	if r := send("POST", "/orders", `{"customer_id":1,"items":[{"product_id":1,"qty":1}]}`); r.status != 201 {
		t.Fatalf("create order: got %d %s", r.status, r.body)
	}

	proxy.Down()
	order := `{"customer_id":1,"items":[{"product_id":1,"qty":2}]}`
	for _, r := range []struct {
		method, path, body string
		header             []string
	}{
		{"POST", "/products", `{"sku":"DU-2","name":"Other","price_cents":1,"stock":1}`, nil},
		{"GET", "/products?search=du", "", nil},
		{"GET", "/products/1", "", nil},
		{"PATCH", "/products/1", `{"stock":99}`, nil},
		{"POST", "/orders", order, nil},
		{"POST", "/orders", order, []string{"Idempotency-Key", "du-create"}},
		{"GET", "/orders?customer_id=1", "", nil},
		{"GET", "/orders/1", "", nil},
		{"POST", "/orders/1/confirm", "", []string{"X-Idempotency-Key", "du-confirm"}},
		{"POST", "/orders/1/cancel", "", nil},
		{"GET", "/internal/order-requests/du-key", "", []string{"Authorization", "Bearer " + token}},
	} {
		got := send(r.method, r.path, r.body, r.header...)
		if got.status != http.StatusServiceUnavailable || got.code() != "DATABASE_UNAVAILABLE" || got.header.Get("Retry-After") != "2" {
			t.Errorf("%s %s: got %d %s (Retry-After %q), want 503 DATABASE_UNAVAILABLE with Retry-After 2",
				r.method, r.path, got.status, got.body, got.header.Get("Retry-After"))
		}
	}
	if h := send("GET", "/health", ""); h.status != http.StatusServiceUnavailable || !strings.Contains(string(h.body), `"db":"down"`) {
		t.Errorf("health while the database is down: got %d %s", h.status, h.body)
	}
	// Invalid input is still a 400: it is refused before the database is asked.
	if r := send("POST", "/orders", `{"customer_id":1,"items":[]}`); r.status != 400 {
		t.Errorf("invalid order: got %d %s, want 400", r.status, r.body)
	}

	proxy.Up()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := send("GET", "/orders/1", "")
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database came back: got %d %s, want 200", r.status, r.body)
		}
	}
	if h := send("GET", "/health", ""); h.status != http.StatusOK {
		t.Errorf("health after the database came back: got %d %s", h.status, h.body)
	}
	for query, want := range map[string]int{
		`SELECT COUNT(*) FROM products`:                        1,
		`SELECT stock FROM products WHERE id = 1`:              9,
		`SELECT COUNT(*) FROM orders`:                          1,
		`SELECT COUNT(*) FROM orders WHERE status = 'CREATED'`: 1,
		`SELECT COUNT(*) FROM idempotency_keys`:                0,
		`SELECT COUNT(*) FROM outbox`:                          1,
	} {
		if got := orderstest.Count(t, db.DB, query); got != want {
			t.Errorf("%s: got %d, want %d (nothing written while the database was down)", query, got, want)
		}
	}
	if r := send("POST", "/orders", order, "Idempotency-Key", "du-create"); r.status != 201 {
		t.Errorf("create after the database came back: got %d %s", r.status, r.body)
	}
}
