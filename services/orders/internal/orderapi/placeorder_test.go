package orderapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
)

func placeOrder(key string, customerID int64, items ...[2]int64) events.PlaceOrder {
	lines := make([]events.LineItem, len(items))
	for i, it := range items {
		lines[i] = events.LineItem{ProductID: it[0], Qty: int(it[1])}
	}
	return events.PlaceOrder{IdempotencyKey: key, RequestHash: events.RequestHash(customerID, lines), CustomerID: customerID,
		Items: lines, CorrelationID: "corr-" + key, RequestedAt: time.Now().UTC()}
}

func (e *env) place(cmd events.PlaceOrder) error {
	ctx := logging.WithCorrelationID(logging.WithLogger(context.Background(), logging.New(e.logs, "orders-worker", "info")), cmd.CorrelationID)
	return e.svc.PlaceOrder(ctx, cmd)
}

func (e *env) orderRequest(key string) (response, order.RequestView) {
	e.t.Helper()
	r := e.do("GET", "/internal/order-requests/"+key, nil, "Authorization", "Bearer "+token)
	var v order.RequestView
	if r.status == 200 {
		r.json(e.t, &v)
	}
	return r, v
}

func TestPlaceOrder(t *testing.T) {
	e := newEnv(t)
	a, b := e.product("PO-A", 1000, 10), e.product("PO-B", 50, 10)
	cmd := placeOrder("po-happy", 2, [2]int64{b, 2}, [2]int64{a, 1}, [2]int64{b, 1})
	if err := e.place(cmd); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	r, v := e.orderRequest("po-happy")
	if r.status != 200 || v.Status != "CONFIRMED" || v.IdempotencyKey != "po-happy" || v.RequestHash != cmd.RequestHash || v.Error != nil || v.Order == nil {
		t.Fatalf("order request: got %d %s", r.status, r.body)
	}
	o := v.Order
	wantItems := []order.Item{{ProductID: a, Qty: 1, UnitPriceCents: 1000, SubtotalCents: 1000}, {ProductID: b, Qty: 3, UnitPriceCents: 50, SubtotalCents: 150}}
	if o.Status != "CONFIRMED" || o.CustomerID != 2 || o.TotalCents != 1150 || o.ConfirmedAt == nil || !reflect.DeepEqual(o.Items, wantItems) {
		t.Errorf("order: got %+v", o)
	}
	if sa, sb := e.stock(a), e.stock(b); sa != 9 || sb != 7 {
		t.Errorf("stock: got %d, %d, want 9, 7", sa, sb)
	}
	if got := e.events(id(o.ID)); !reflect.DeepEqual(got, []string{"order.created@1", "order.confirmed@2"}) {
		t.Errorf("events: got %v", got)
	}
	if n := e.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.correlation_id') = 'corr-po-happy'`); n != 2 {
		t.Errorf("events with the command's correlation id: got %d, want 2", n)
	}

	t.Run("redelivery is a no-op", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if err := e.place(cmd); err != nil {
				t.Fatalf("PlaceOrder again: %v", err)
			}
		}
		if n := e.count(`SELECT COUNT(*) FROM orders`); n != 1 {
			t.Errorf("orders: got %d, want 1", n)
		}
		if sa, sb := e.stock(a), e.stock(b); sa != 9 || sb != 7 {
			t.Errorf("stock: got %d, %d, want 9, 7", sa, sb)
		}
		if n := e.count(`SELECT COUNT(*) FROM outbox`); n != 2 {
			t.Errorf("outbox rows: got %d, want 2", n)
		}
	})
	t.Run("same key, other request: the first one stands", func(t *testing.T) {
		other := placeOrder("po-happy", 2, [2]int64{a, 5})
		if err := e.place(other); err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		_, v := e.orderRequest("po-happy")
		if v.RequestHash != cmd.RequestHash || v.RequestHash == other.RequestHash || v.Status != "CONFIRMED" || v.Order.ID != o.ID {
			t.Errorf("request: got %+v, want the first request unchanged", v)
		}
		if sa := e.stock(a); sa != 9 {
			t.Errorf("stock: got %d, want 9", sa)
		}
	})
	t.Run("unknown request", func(t *testing.T) {
		if r, _ := e.orderRequest("po-unknown"); r.status != 404 || r.code() != "ORDER_REQUEST_NOT_FOUND" {
			t.Errorf("got %d %s, want 404 ORDER_REQUEST_NOT_FOUND", r.status, r.body)
		}
	})
}

// TestPlaceOrderCrashBetweenCreateAndConfirm: the process stops after the create transaction; the
// redelivered command finds the request PROCESSING and only confirms.
func TestPlaceOrderCrashBetweenCreateAndConfirm(t *testing.T) {
	e := newEnv(t)
	p := e.product("PO-CRASH", 100, 5)
	cmd := placeOrder("po-crash", 1, [2]int64{p, 2})
	crash := errors.New("crash")
	e.svc.AfterCreate = func() { panic(crash) }
	func() {
		defer func() {
			if r := recover(); r != crash {
				t.Fatalf("got panic %v, want the crash", r)
			}
		}()
		_ = e.place(cmd)
	}()
	r, v := e.orderRequest("po-crash")
	if r.status != 200 || v.Status != "PROCESSING" || v.Order == nil || v.Order.Status != "CREATED" {
		t.Fatalf("after the crash: got %d %s, want PROCESSING with a CREATED order", r.status, r.body)
	}

	e.svc.AfterCreate = nil
	if err := e.place(cmd); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	_, v = e.orderRequest("po-crash")
	if v.Status != "CONFIRMED" || v.Order == nil || v.Order.Status != "CONFIRMED" {
		t.Errorf("after redelivery: got %+v", v)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 1 {
		t.Errorf("orders: got %d, want 1", n)
	}
	if s := e.stock(p); s != 3 {
		t.Errorf("stock: got %d, want 3", s)
	}
	if got := e.events(id(v.Order.ID)); !reflect.DeepEqual(got, []string{"order.created@1", "order.confirmed@2"}) {
		t.Errorf("events: got %v", got)
	}
}

func TestPlaceOrderRejections(t *testing.T) {
	e := newEnv(t)
	a, b := e.product("PO-R1", 100, 2), e.product("PO-R2", 100, 0)
	tests := []struct {
		name, code, kind string
		cmd              events.PlaceOrder
		details          string
	}{
		{"short stock", "INSUFFICIENT_STOCK", "conflict", placeOrder("po-short", 1, [2]int64{a, 3}, [2]int64{b, 1}),
			`[{"product_id":` + id(a) + `,"requested":3,"available":2},{"product_id":` + id(b) + `,"requested":1,"available":0}]`},
		{"unknown product", "PRODUCT_NOT_FOUND", "not_found", placeOrder("po-noproduct", 1, [2]int64{a, 1}, [2]int64{777, 1}), `[{"product_id":777}]`},
		{"unknown customer", "CUSTOMER_NOT_FOUND", "not_found", placeOrder("po-nocustomer", 55, [2]int64{a, 1}), `null`},
		{"invalid items", "VALIDATION_FAILED", "invalid", placeOrder("po-invalid", 1, [2]int64{a, 0}), `[{"field":"items[0].qty","message":"must be from 1 to 10000"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 2; i++ { // a redelivery of a rejected command changes nothing
				if err := e.place(tc.cmd); err != nil {
					t.Fatalf("PlaceOrder: got %v, want nil (rejected and acked)", err)
				}
			}
			r, v := e.orderRequest(tc.cmd.IdempotencyKey)
			if v.Error == nil {
				t.Fatalf("got %d %s, want an error", r.status, r.body)
			}
			// Details went through the database as JSON: compare them as JSON values.
			var want any
			_ = json.Unmarshal([]byte(tc.details), &want)
			wantJSON, _ := json.Marshal(want)
			details, _ := json.Marshal(v.Error.Details)
			// The kind travels with the code, so the orchestrator answers with the status orders-api's
			// REST routes give the same error.
			if r.status != 200 || v.Status != "REJECTED" || v.Order != nil || v.Error.Code != tc.code || v.Error.Kind != tc.kind || string(details) != string(wantJSON) {
				t.Errorf("got %d %s, want REJECTED %s (%s) %s", r.status, r.body, tc.code, tc.kind, tc.details)
			}
			var (
				aggType, version, code, kind, hash string
			)
			err := e.db.QueryRow(`SELECT JSON_VALUE(payload, '$.aggregate_type'), JSON_VALUE(payload, '$.aggregate_version'),
				JSON_VALUE(payload, '$.data.error.code'), JSON_VALUE(payload, '$.data.error.kind'), JSON_VALUE(payload, '$.data.request_hash') FROM outbox
				WHERE JSON_VALUE(payload, '$.type') = 'order.rejected' AND JSON_VALUE(payload, '$.aggregate_id') = ?`, tc.cmd.IdempotencyKey).
				Scan(&aggType, &version, &code, &kind, &hash)
			if err != nil || aggType != "order_request" || version != "1" || code != tc.code || kind != tc.kind || hash != tc.cmd.RequestHash {
				t.Errorf("order.rejected: got %v %s v%s %s (%s) %s", err, aggType, version, code, kind, hash)
			}
		})
	}
	if n := e.eventCount(events.OrderRejected); n != len(tests) {
		t.Errorf("order.rejected rows: got %d, want %d", n, len(tests))
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 0 {
		t.Errorf("orders: got %d, want 0", n)
	}
	if sa, sb := e.stock(a), e.stock(b); sa != 2 || sb != 0 {
		t.Errorf("stock: got %d, %d, want 2, 0", sa, sb)
	}
}

func TestPlaceOrderTransientFailures(t *testing.T) {
	e := newEnv(t)
	p := e.product("PO-T", 100, 5)
	cmd := placeOrder("po-transient", 1, [2]int64{p, 1})

	t.Run("customers-api down", func(t *testing.T) {
		for _, status := range []int{500, 503} {
			cl, err := customerclient.New(standIn(t, status).URL, token, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			svc := *e.svc
			svc.Customers = cl
			if err := svc.PlaceOrder(t.Context(), cmd); !order.IsTransient(err) || !errors.Is(err, order.ErrTransient) {
				t.Errorf("customers-api %d: got %v, want a transient error", status, err)
			}
		}
	})
	t.Run("database down", func(t *testing.T) {
		closed, err := sql.Open("mysql", e.db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		svc := *e.svc
		svc.Store = orderdb.New(closed)
		if err := svc.PlaceOrder(t.Context(), cmd); !order.IsTransient(err) {
			t.Errorf("got %v, want a transient error", err)
		}
	})
	if s := e.stock(p); s != 5 {
		t.Errorf("stock: got %d, want 5", s)
	}
	e.nothingWritten()
	// Once customers-api answers again, the redelivery goes through.
	if err := e.place(cmd); err != nil {
		t.Fatalf("PlaceOrder after recovery: %v", err)
	}
	if _, v := e.orderRequest("po-transient"); v.Status != "CONFIRMED" {
		t.Errorf("got %+v, want CONFIRMED", v)
	}
}

// TestPlaceOrderConcurrentDeliveries: one command delivered to several workers at once makes one order.
func TestPlaceOrderConcurrentDeliveries(t *testing.T) {
	e := newEnv(t)
	p := e.product("PO-C", 100, 50)
	cmd := placeOrder("po-concurrent", 3, [2]int64{p, 4})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.place(cmd); err != nil {
				t.Errorf("PlaceOrder: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("orders: got %d, want 1", n)
	}
	_, v := e.orderRequest("po-concurrent")
	if v.Status != "CONFIRMED" || v.Order == nil || v.Order.Status != "CONFIRMED" {
		t.Errorf("request: got %+v", v)
	}
	if s := e.stock(p); s != 46 {
		t.Errorf("stock: got %d, want 46", s)
	}
	if got := e.events(id(v.Order.ID)); !reflect.DeepEqual(got, []string{"order.created@1", "order.confirmed@2"}) {
		t.Errorf("events: got %v", got)
	}
}
