package orderapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
)

const token = "test-service-token"

// env is orders-api on a fresh database, served over real HTTP, talking to a customers-api over real HTTP.
type env struct {
	t    *testing.T
	db   *dbtest.DB
	svc  *order.Service
	h    http.Handler
	url  string
	cust *customersAPI
	hc   *http.Client
	logs *proctest.Buffer
}

// newEnv starts orders-api against a fresh orders database and a customers-api holding customers 1..3.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, db: dbtest.New(t, "orders"), cust: startCustomers(t), logs: &proctest.Buffer{}}
	cl, err := customerclient.New(e.cust.URL, token, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = &order.Service{Store: orderdb.New(e.db.DB), Customers: cl}
	log := logging.New(e.logs, "orders-api", "info")
	e.h = orderapi.Routes(log, e.svc, token, map[string]web.Check{"db": func(ctx context.Context) error { return e.db.PingContext(ctx) }})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	e.hc = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("orders-api logs:\n%s\ncustomers-api logs:\n%s", e.logs.String(), e.cust.logs.String())
		}
	})
	return e
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
// name, value pairs.
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
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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
	var p order.Product
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
	var n int
	if err := e.db.QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// events returns the outbox rows' type and aggregate version, in outbox order, for aggregate id.
func (e *env) events(aggregateID string) []string {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT JSON_VALUE(payload, '$.type'), JSON_VALUE(payload, '$.aggregate_version') FROM outbox
		WHERE JSON_VALUE(payload, '$.aggregate_id') = ? ORDER BY `+"`offset`", aggregateID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, v string
		if err := rows.Scan(&typ, &v); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, typ+"@"+v)
	}
	return out
}

func (e *env) eventCount(typ string) int {
	e.t.Helper()
	return e.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.type') = ?`, typ)
}

func (e *env) createOrder(customerID int64, items ...[2]int64) order.Order {
	e.t.Helper()
	r := e.do("POST", "/orders", orderBody(customerID, items...))
	if r.status != 201 {
		e.t.Fatalf("create order: got %d %s, want 201", r.status, r.body)
	}
	var o order.Order
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

// customersAPI is the real customers-api binary, built once per test run and started per test on a
// fresh customers database holding customers 1, 2 and 3.
type customersAPI struct {
	URL  string
	logs *proctest.Buffer
}

func TestMain(m *testing.M) { proctest.Main(m) }

func startCustomers(t *testing.T) *customersAPI {
	t.Helper()
	db := dbtest.New(t, "customers")
	c := &customersAPI{logs: &proctest.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, proctest.Build(t, "github.com/b2b/backoffice/services/customers/cmd/customers-api"))
	cmd.Env = []string{"PORT=0", "DB_DSN=" + db.DSN, "SERVICE_TOKEN=" + token, "DB_CONNECT_TIMEOUT=5s", "LOG_LEVEL=info"}
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
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
	})
	deadline := time.Now().Add(20 * time.Second)
	for c.URL == "" {
		select {
		case <-done:
			t.Fatalf("customers-api exited:\n%s", c.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("customers-api did not start:\n%s", c.logs.String())
		}
		for _, line := range strings.Split(c.logs.String(), "\n") {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" {
				_, port, _ := net.SplitHostPort(m.Addr)
				c.URL = "http://127.0.0.1:" + port
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 1; i <= 3; i++ {
		body := fmt.Sprintf(`{"name":"Customer %d","email":"c%d@example.com"}`, i, i)
		resp, err := http.Post(c.URL+"/customers", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || !strings.Contains(string(b), fmt.Sprintf(`"id":%d`, i)) {
			t.Fatalf("create customer %d: got %d %s", i, resp.StatusCode, b)
		}
	}
	return c
}

// standIn is a stand-in for a customers-api that is failing: it answers every lookup with status.
func standIn(t *testing.T, status int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.RespondRaw(w, status, []byte(`{"error":{"code":"INTERNAL","message":"internal error"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// nothingWritten asserts that no order, item, key, request or event exists.
func (e *env) nothingWritten() {
	e.t.Helper()
	for _, table := range []string{"orders", "order_items", "idempotency_keys", "order_requests", "outbox"} {
		if n := e.count(`SELECT COUNT(*) FROM ` + table); n != 0 {
			e.t.Errorf("%s: got %d rows, want 0", table, n)
		}
	}
}
