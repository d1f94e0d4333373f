package orderapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
	"github.com/b2b/backoffice/services/orders/internal/orderstest"
	"github.com/b2b/backoffice/services/orders/internal/orderworker"
)

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	a, b := e.product("A-1", 1000, 10), e.product("B-1", 250, 5)

	r := e.do("POST", "/orders", orderBody(2, [2]int64{b, 1}, [2]int64{a, 2}, [2]int64{a, 1}), "X-Correlation-Id", "corr-create-1")
	if r.status != 201 {
		t.Fatalf("got %d %s, want 201", r.status, r.body)
	}
	var o orderapi.Order
	r.json(t, &o)
	want := []orderapi.Item{{ProductID: a, Qty: 3, UnitPriceCents: 1000, SubtotalCents: 3000}, {ProductID: b, Qty: 1, UnitPriceCents: 250, SubtotalCents: 250}}
	if o.ID == 0 || o.CustomerID != 2 || o.Status != "CREATED" || o.TotalCents != 3250 || !reflect.DeepEqual(o.Items, want) || o.ConfirmedAt != nil || o.CanceledAt != nil {
		t.Errorf("got order %+v, want CREATED for customer 2, total 3250, items %+v", o, want)
	}
	if got := r.header.Get("X-Correlation-Id"); got != "corr-create-1" {
		t.Errorf("correlation id header: got %q", got)
	}
	if sa, sb := e.stock(a), e.stock(b); sa != 7 || sb != 4 {
		t.Errorf("stock: got %d, %d, want 7, 4", sa, sb)
	}
	if got := e.do("GET", "/orders/"+id(o.ID), nil); got.status != 200 || !bytes.Equal(got.body, r.body) {
		t.Errorf("GET order: got %d %s, want 200 %s", got.status, got.body, r.body)
	}

	// The outbox holds exactly one order.created with the full snapshot, version 1 and the correlation id.
	var payload string
	if err := e.db.QueryRow(`SELECT payload FROM outbox`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var env events.Envelope
	if err := json.Unmarshal([]byte(payload), &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != events.OrderCreated || env.AggregateType != "order" || env.AggregateID != id(o.ID) || env.AggregateVersion != 1 || env.CorrelationID != "corr-create-1" || env.EventID == "" {
		t.Errorf("got envelope %+v", env)
	}
	var snap events.Order
	if err := json.Unmarshal(env.Data, &snap); err != nil {
		t.Fatal(err)
	}
	// The snapshot is the order as the API answered it.
	if got, _ := json.Marshal(snap); !bytes.Equal(got, r.body) {
		t.Errorf("event data:\n got %s\nwant %s", got, r.body)
	}
	// customers-api was asked with the caller's correlation id.
	if !strings.Contains(e.cust.Logs.String(), `"correlation_id":"corr-create-1"`) {
		t.Errorf("customers-api logs lack the correlation id:\n%s", e.cust.Logs.String())
	}
}

func TestCreateOrderRejections(t *testing.T) {
	e := newEnv(t)
	a, b := e.product("A-2", 1000, 2), e.product("B-2", 500, 1)
	lines101 := make([][2]int64, 101)
	for i := range lines101 {
		lines101[i] = [2]int64{a, 1}
	}
	tests := []struct {
		name    string
		body    any
		status  int
		code    string
		details string
	}{
		{"no items", orderBody(1), 400, "VALIDATION_FAILED", `[{"field":"items","message":"must hold at least one item"}]`},
		{"101 lines", orderBody(1, lines101...), 400, "VALIDATION_FAILED", `[{"field":"items","message":"must hold at most 100 items"}]`},
		{"qty 0", orderBody(1, [2]int64{a, 0}), 400, "VALIDATION_FAILED", `[{"field":"items[0].qty","message":"must be from 1 to 10000"}]`},
		{"qty 10001", orderBody(1, [2]int64{a, 10001}), 400, "VALIDATION_FAILED", `[{"field":"items[0].qty","message":"must be from 1 to 10000"}]`},
		{"bad ids", orderBody(0, [2]int64{-1, 1}), 400, "VALIDATION_FAILED", `[{"field":"customer_id","message":"must be a positive integer"},{"field":"items[0].product_id","message":"must be a positive integer"}]`},
		{"unknown field", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"x":1}`, 400, "VALIDATION_FAILED", `[{"field":"x","message":"unknown field"}]`},
		{"malformed", `{"customer_id":`, 400, "INVALID_JSON", ``},
		{"unknown product", orderBody(1, [2]int64{a, 1}, [2]int64{9999, 1}), 404, "PRODUCT_NOT_FOUND", `[{"product_id":9999}]`},
		{"short stock lists every short line", orderBody(1, [2]int64{a, 3}, [2]int64{b, 2}), 409, "INSUFFICIENT_STOCK",
			fmt.Sprintf(`[{"product_id":%d,"requested":3,"available":2},{"product_id":%d,"requested":2,"available":1}]`, a, b)},
		{"unknown customer", orderBody(77, [2]int64{a, 1}), 404, "CUSTOMER_NOT_FOUND", ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/orders", tc.body)
			var eb struct {
				Error struct {
					Code    string          `json:"code"`
					Details json.RawMessage `json:"details"`
				} `json:"error"`
			}
			r.json(t, &eb)
			if r.status != tc.status || eb.Error.Code != tc.code || string(eb.Error.Details) != tc.details {
				t.Errorf("got %d %s, want %d %s %s", r.status, r.body, tc.status, tc.code, tc.details)
			}
		})
	}
	if sa, sb := e.stock(a), e.stock(b); sa != 2 || sb != 1 {
		t.Errorf("stock: got %d, %d, want 2, 1 (unchanged)", sa, sb)
	}
	e.nothingWritten()
}

func TestCreateOrderCustomersDown(t *testing.T) {
	e := newEnv(t)
	a := e.product("A-3", 1000, 5)

	t.Run("5xx", func(t *testing.T) {
		cl, err := customerclient.New(orderstest.StandIn(t, 500).URL, token, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.useCustomers(t, cl)
		r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 1}))
		if r.status != 503 || r.code() != "CUSTOMERS_UNAVAILABLE" {
			t.Errorf("got %d %s, want 503 CUSTOMERS_UNAVAILABLE", r.status, r.body)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer slow.Close()
		defer close(release)
		cl, err := customerclient.New(slow.URL, token, 200*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.useCustomers(t, cl)
		r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 1}))
		if r.status != 503 || r.code() != "CUSTOMERS_UNAVAILABLE" {
			t.Errorf("got %d %s, want 503 CUSTOMERS_UNAVAILABLE", r.status, r.body)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		cl, err := customerclient.New(dead.URL, token, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.useCustomers(t, cl)
		r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 1}))
		if r.status != 503 || r.code() != "CUSTOMERS_UNAVAILABLE" {
			t.Errorf("got %d %s, want 503 CUSTOMERS_UNAVAILABLE", r.status, r.body)
		}
	})
	t.Run("a 404 that is not customers-api's answer", func(t *testing.T) {
		cl, err := customerclient.New(e.cust.URL+"/dev", token, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.useCustomers(t, cl)
		r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 1}))
		if r.status != 503 || r.code() != "CUSTOMERS_UNAVAILABLE" {
			t.Errorf("got %d %s, want 503 CUSTOMERS_UNAVAILABLE", r.status, r.body)
		}
	})
	if got := e.stock(a); got != 5 {
		t.Errorf("stock: got %d, want 5", got)
	}
	e.nothingWritten()
}

// TestNoOversell: one unit of a hot product, 200 buyers at once. Exactly one wins.
func TestNoOversell(t *testing.T) {
	e := newEnv(t)
	p := e.product("HOT-1", 999, 1)
	const n = 200
	statuses := make(chan int, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try("POST", "/orders", orderBody(1+int64(i%3), [2]int64{p, 1}))
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			if r.status == 409 && r.code() != "INSUFFICIENT_STOCK" {
				t.Errorf("409 with code %s", r.code())
			}
			statuses <- r.status
		}()
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if got[201] != 1 || got[409] != n-1 || len(got) != 2 {
		t.Errorf("statuses: got %v, want 1×201 and %d×409", got, n-1)
	}
	if s := e.stock(p); s != 0 {
		t.Errorf("stock: got %d, want 0", s)
	}
	if c := e.eventCount(events.OrderCreated); c != 1 {
		t.Errorf("order.created rows: got %d, want 1", c)
	}
	if c := e.count(`SELECT COUNT(*) FROM orders`); c != 1 {
		t.Errorf("orders: got %d, want 1", c)
	}
	t.Logf("no-oversell: %d requests in %v (%.0f req/s)", n, time.Since(start).Round(time.Millisecond), n/time.Since(start).Seconds())
}

// TestConservationUnderContention: random multi-line orders over 20 products; whatever commits, stock
// is conserved and matches the committed orders and their events.
func TestConservationUnderContention(t *testing.T) {
	e := newEnv(t)
	const products, initial, n = 20, 100, 200
	ids := make([]int64, products)
	for i := range ids {
		ids[i] = e.product(fmt.Sprintf("C-%02d", i), int64(100+i), initial)
	}
	retriesBefore := sqldb.Retries()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			lines := make([][2]int64, 1+rng.IntN(5))
			for j := range lines {
				lines[j] = [2]int64{ids[rng.IntN(products)], int64(1 + rng.IntN(3))}
			}
			r, err := e.try("POST", "/orders", orderBody(1, lines...))
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if statuses[201]+statuses[409] != n {
		t.Errorf("statuses: got %v, want only 201 and 409", statuses)
	}
	// initial − final = Σ qty of committed orders, per product; never below zero.
	sold := map[int64]int{}
	rows, err := e.db.Query(`SELECT product_id, SUM(qty) FROM order_items GROUP BY product_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid int64
		var q int
		if err := rows.Scan(&pid, &q); err != nil {
			t.Fatal(err)
		}
		sold[pid] = q
	}
	rows.Close()
	for _, pid := range ids {
		s := e.stock(pid)
		if s < 0 || initial-s != sold[pid] {
			t.Errorf("product %d: stock %d, sold %d, want initial %d − final = sold", pid, s, sold[pid], initial)
		}
	}
	orders := e.count(`SELECT COUNT(*) FROM orders`)
	if orders != statuses[201] || e.eventCount(events.OrderCreated) != orders {
		t.Errorf("orders %d, 201s %d, order.created rows %d: want all equal", orders, statuses[201], e.eventCount(events.OrderCreated))
	}
	t.Logf("conservation: %d requests in %v (%.0f req/s), %d committed, deadlock/lock-wait retries %d",
		n, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), statuses[201], sqldb.Retries()-retriesBefore)
}

// TestCreateAtomicity: the transaction fails after the first stock update (a trigger refuses the second
// product's update); nothing of the order may remain.
func TestCreateAtomicity(t *testing.T) {
	e := newEnv(t)
	a, b := e.product("AT-1", 100, 10), e.product("AT-2", 200, 10)
	_, err := e.db.Exec(fmt.Sprintf(`CREATE TRIGGER fail_second_stock BEFORE UPDATE ON products FOR EACH ROW
		BEGIN IF NEW.id = %d THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END`, b))
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 3}, [2]int64{b, 4}))
	if r.status != 500 || r.code() != "INTERNAL" {
		t.Errorf("got %d %s, want 500 INTERNAL", r.status, r.body)
	}
	if sa, sb := e.stock(a), e.stock(b); sa != 10 || sb != 10 {
		t.Errorf("stock: got %d, %d, want 10, 10", sa, sb)
	}
	e.nothingWritten()
}

func TestCreateOrderIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	a := e.product("IK-1", 500, 10)
	first := e.do("POST", "/orders", orderBody(1, [2]int64{a, 2}), "Idempotency-Key", "create-key-1")
	if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("got %d %s (replayed %q), want 201", first.status, first.body, first.header.Get("Idempotent-Replayed"))
	}
	// The same request again (lines given differently but the same after merging) replays.
	again := e.do("POST", "/orders", orderBody(1, [2]int64{a, 1}, [2]int64{a, 1}), "Idempotency-Key", "create-key-1")
	if again.status != 201 || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: got %d %s (replayed %q), want 201 %s with Idempotent-Replayed: true", again.status, again.body, again.header.Get("Idempotent-Replayed"), first.body)
	}
	if r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 3}), "Idempotency-Key", "create-key-1"); r.status != 422 || r.code() != "IDEMPOTENCY_KEY_REUSED" {
		t.Errorf("other body: got %d %s, want 422 IDEMPOTENCY_KEY_REUSED", r.status, r.body)
	}
	// "." and ".." are dot segments: a URL joining them (GET /internal/order-requests/{key}) would be
	// cleaned to another route.
	for _, k := range []string{"bad key", ".", ".."} {
		if r := e.do("POST", "/orders", orderBody(1, [2]int64{a, 1}), "Idempotency-Key", k); r.status != 400 || r.code() != "IDEMPOTENCY_KEY_INVALID" {
			t.Errorf("invalid key %q: got %d %s, want 400 IDEMPOTENCY_KEY_INVALID", k, r.status, r.body)
		}
	}
	if s := e.stock(a); s != 8 {
		t.Errorf("stock: got %d, want 8 (taken once)", s)
	}
	if c := e.count(`SELECT COUNT(*) FROM orders`); c != 1 || e.eventCount(events.OrderCreated) != 1 {
		t.Errorf("orders %d, order.created %d: want 1 and 1", c, e.eventCount(events.OrderCreated))
	}
	// A failed create stores nothing under its key: after the stock is back its retry succeeds.
	short := e.do("POST", "/orders", orderBody(2, [2]int64{a, 9}), "Idempotency-Key", "create-key-2")
	if short.status != 409 {
		t.Fatalf("got %d %s, want 409", short.status, short.body)
	}
	if r := e.do("PATCH", "/products/"+id(a), map[string]int{"stock": 9}); r.status != 200 {
		t.Fatalf("patch: got %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/orders", orderBody(2, [2]int64{a, 9}), "Idempotency-Key", "create-key-2"); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry after failure: got %d %s, want a fresh 201", r.status, r.body)
	}
}

// TestCreateOrderIdempotencyKeyRace: 20 creates with one key at once take the stock once.
func TestCreateOrderIdempotencyKeyRace(t *testing.T) {
	e := newEnv(t)
	a := e.product("IKR-1", 500, 100)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		bodies = map[string]int{}
	)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try("POST", "/orders", orderBody(1, [2]int64{a, 3}), "Idempotency-Key", "create-race")
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if r.status == 201 {
				bodies[string(r.body)]++
			} else if r.status != 409 || r.code() != "IDEMPOTENCY_KEY_IN_USE" {
				t.Errorf("got %d %s, want 201 or 409 IDEMPOTENCY_KEY_IN_USE", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if len(bodies) != 1 {
		t.Errorf("got %d distinct 201 bodies, want 1", len(bodies))
	}
	if s := e.stock(a); s != 97 {
		t.Errorf("stock: got %d, want 97", s)
	}
	if c := e.count(`SELECT COUNT(*) FROM orders`); c != 1 || e.eventCount(events.OrderCreated) != 1 {
		t.Errorf("orders %d, order.created %d: want 1 and 1", c, e.eventCount(events.OrderCreated))
	}
}

// TestOrderRequestWaitsForTheAnswer: a caller that asks with wait_ms gets the final answer as soon as the
// worker records it, not after the whole wait; before the request is recorded at all it keeps waiting.
func TestOrderRequestWaitsForTheAnswer(t *testing.T) {
	e := newEnv(t)
	p := e.product("W-1", 100, 5)
	worker := orderworker.New(e.svc, logging.New(io.Discard, "orders-worker", "error"))
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = worker.PlaceOrder(context.Background(), events.PlaceOrder{IdempotencyKey: "wait-1", CustomerID: 1, Items: []events.LineItem{{ProductID: p, Qty: 1}}})
	}()
	start := time.Now()
	r := e.do("GET", "/internal/order-requests/wait-1?wait_ms=15000", nil, "Authorization", "Bearer "+token)
	took := time.Since(start)
	var v events.OrderRequest
	r.json(t, &v)
	if r.status != 200 || v.Status != events.RequestConfirmed || v.Order == nil || v.Order.Status != "CONFIRMED" {
		t.Fatalf("got %d %s, want the confirmed request", r.status, r.body)
	}
	if took >= 10*time.Second {
		t.Errorf("answered after %s: it waited for the whole wait_ms instead of the answer", took)
	}
	// Without wait_ms the answer is immediate, final or not.
	if r := e.do("GET", "/internal/order-requests/never?wait_ms=0", nil, "Authorization", "Bearer "+token); r.status != 404 {
		t.Errorf("unknown key: got %d %s, want 404", r.status, r.body)
	}
}
