package orderapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/customers/customerstest"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
	"github.com/b2b/backoffice/services/orders/internal/orderstest"
)

const token = "test-service-token"

// env is orders-api on a fresh database, served over real HTTP, talking to a customers-api over real HTTP.
type env struct {
	t    *testing.T
	db   *dbtest.DB
	url  string
	cust *customerstest.Server
	hc   *http.Client
	logs *proctest.Buffer

	// bearer is the access token do sends to public routes unless the request names its own.
	bearer string

	mu        sync.Mutex
	cfg       order.Config
	customers order.Customers
	svc       *order.Service
	h         http.Handler
}

// newEnv starts orders-api against a fresh orders database and a customers-api holding customers 1..3.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, db: dbtest.New(t, "orders"), cust: customerstest.Start(t, token), logs: &proctest.Buffer{}, bearer: authtest.Operator(t)}
	cl, err := customerclient.New(e.cust.URL, token, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.customers = cl
	e.rebuild()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.handler().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	e.hc = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("orders-api logs:\n%s", e.logs.String())
		}
	})
	return e
}

// rebuild makes the service and the routes anew from e.cfg and e.customers; the test server serves the
// new ones from the next request on.
func (e *env) rebuild() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.svc = order.NewService(orderdb.New(e.db.DB), e.customers, e.cfg)
	log := logging.New(e.logs, "orders-api", "info")
	e.h = orderapi.Routes(log, e.svc, token, authtest.Verifier(), map[string]web.Check{"db": func(ctx context.Context) error { return e.db.PingContext(ctx) }})
}

func (e *env) handler() http.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.h
}

// configure changes the service's settings.
func (e *env) configure(change func(*order.Config)) {
	change(&e.cfg)
	e.rebuild()
}

// useCustomers makes orders-api ask c for customers until the test (or subtest) t ends.
func (e *env) useCustomers(t *testing.T, c order.Customers) {
	old := e.customers
	e.customers = c
	e.rebuild()
	t.Cleanup(func() { e.customers = old; e.rebuild() })
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) code() string {
	var eb web.ErrorBody
	_ = json.Unmarshal(r.body, &eb)
	return eb.Error.Code
}

// do sends a request to orders-api; body is JSON-encoded unless it is a string or nil; headers come in
// name, value pairs. A public route gets e.bearer unless an Authorization header is given (an empty
// one sends none).
func (e *env) do(method, path string, body any, headers ...string) response {
	e.t.Helper()
	r, err := e.try(method, path, body, headers...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (e *env) try(method, path string, body any, headers ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !strings.HasPrefix(path, "/internal/") {
		req.Header.Set("Authorization", authtest.Bearer(e.bearer))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		}
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func (e *env) product(sku string, price int64, stock int) int64 {
	e.t.Helper()
	r := e.do("POST", "/products", map[string]any{"sku": sku, "name": "Product " + sku, "price_cents": price, "stock": stock})
	if r.status != 201 {
		e.t.Fatalf("create product: got %d %s, want 201", r.status, r.body)
	}
	var p orderapi.Product
	r.json(e.t, &p)
	return p.ID
}

func (e *env) stock(id int64) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT stock FROM products WHERE id = ?`, id).Scan(&n); err != nil {
		e.t.Fatalf("stock of %d: %v", id, err)
	}
	return n
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	return orderstest.Count(e.t, e.db.DB, query, args...)
}

func (e *env) events(aggregateID string) []string {
	return orderstest.Events(e.t, e.db.DB, aggregateID)
}

func (e *env) eventCount(typ string) int {
	e.t.Helper()
	return e.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.type') = ?`, typ)
}

func (e *env) createOrder(customerID int64, items ...[2]int64) orderapi.Order {
	e.t.Helper()
	r := e.do("POST", "/orders", orderBody(customerID, items...))
	if r.status != 201 {
		e.t.Fatalf("create order: got %d %s, want 201", r.status, r.body)
	}
	var o orderapi.Order
	r.json(e.t, &o)
	return o
}

func orderBody(customerID int64, items ...[2]int64) map[string]any {
	lines := make([]map[string]int64, len(items))
	for i, it := range items {
		lines[i] = map[string]int64{"product_id": it[0], "qty": it[1]}
	}
	return map[string]any{"customer_id": customerID, "items": lines}
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func TestMain(m *testing.M) { proctest.Main(m) }

func (e *env) nothingWritten() { orderstest.NothingWritten(e.t, e.db.DB) }
