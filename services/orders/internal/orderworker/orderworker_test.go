package orderworker_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/services/customers/customerstest"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
	"github.com/b2b/backoffice/services/orders/internal/orderstest"
	"github.com/b2b/backoffice/services/orders/internal/orderworker"
)

func placeOrder(key string, customerID int64, items ...[2]int64) events.PlaceOrder {
	lines := make([]events.LineItem, len(items))
	for i, it := range items {
		lines[i] = events.LineItem{ProductID: it[0], Qty: int(it[1])}
	}
	return events.PlaceOrder{IdempotencyKey: key, RequestHash: events.RequestHash(customerID, lines), CustomerID: customerID,
		Items: lines, CorrelationID: "corr-" + key, RequestedAt: time.Now().UTC()}
}

const token = "test-service-token"

// env is the orders worker's use case on a fresh orders database, asking a real customers-api
// (customers 1..3).
type env struct {
	t    *testing.T
	db   *dbtest.DB
	svc  *order.Service
	w    *orderworker.Worker
	cust order.Customers
	logs *proctest.Buffer
}

func TestMain(m *testing.M) { proctest.Main(m) }

func newEnv(t *testing.T, opts ...orderworker.Option) *env {
	t.Helper()
	e := &env{t: t, db: dbtest.New(t, "orders"), logs: &proctest.Buffer{}}
	cl, err := customerclient.New(customerstest.Start(t, token).URL, token, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.cust = cl
	e.svc = order.NewService(orderdb.New(e.db.DB), cl, order.Config{})
	e.w = orderworker.New(e.svc, logging.New(e.logs, "orders-worker", "info"), opts...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) ctx(cmd events.PlaceOrder) context.Context {
	return logging.WithCorrelationID(logging.WithLogger(context.Background(), logging.New(e.logs, "orders-worker", "info")), cmd.CorrelationID)
}

func (e *env) place(cmd events.PlaceOrder) error {
	_, err := e.w.PlaceOrder(e.ctx(cmd), cmd)
	return err
}

// orderRequest is what orders-api's internal route answers for key.
func (e *env) orderRequest(key string) (found bool, v events.OrderRequest) {
	e.t.Helper()
	v, err := e.svc.OrderRequest(context.Background(), key)
	if errors.Is(err, order.ErrRequestNotFound) {
		return false, v
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return true, v
}

func (e *env) product(sku string, price int64, stock int) int64 {
	e.t.Helper()
	p, err := e.svc.CreateProduct(context.Background(), identity.Caller{Actor: "ops-test"}, order.Product{SKU: sku, Name: "Product " + sku, PriceCents: price, Stock: stock})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

func (e *env) stock(id int64) int {
	e.t.Helper()
	return e.count(`SELECT stock FROM products WHERE id = ?`, id)
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	return orderstest.Count(e.t, e.db.DB, query, args...)
}

func (e *env) events(aggregateID string) []string {
	return orderstest.Events(e.t, e.db.DB, aggregateID)
}

func (e *env) nothingWritten() { orderstest.NothingWritten(e.t, e.db.DB) }

func id(n int64) string { return strconv.FormatInt(n, 10) }

func TestPlaceOrder(t *testing.T) {
	e := newEnv(t)
	a, b := e.product("PO-A", 1000, 10), e.product("PO-B", 50, 10)
	cmd := placeOrder("po-happy", 2, [2]int64{b, 2}, [2]int64{a, 1}, [2]int64{b, 1})
	if err := e.place(cmd); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	found, v := e.orderRequest("po-happy")
	if !found || v.Status != "CONFIRMED" || v.IdempotencyKey != "po-happy" || v.RequestHash != cmd.RequestHash || v.Error != nil || v.Order == nil {
		t.Fatalf("order request: got %v %+v", found, v)
	}
	o := v.Order
	wantItems := []events.Item{{ProductID: a, Qty: 1, UnitPriceCents: 1000, SubtotalCents: 1000}, {ProductID: b, Qty: 3, UnitPriceCents: 50, SubtotalCents: 150}}
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
		if found, v := e.orderRequest("po-unknown"); found {
			t.Errorf("got %+v, want none", v)
		}
	})
}

// TestPlaceOrderCrashBetweenCreateAndConfirm: the process stops after the create transaction; the
// redelivered command finds the request PROCESSING and only confirms.
func TestPlaceOrderCrashBetweenCreateAndConfirm(t *testing.T) {
	crash := errors.New("crash")
	e := newEnv(t, orderworker.AfterCreate(func(int64) { panic(crash) }))
	p := e.product("PO-CRASH", 100, 5)
	cmd := placeOrder("po-crash", 1, [2]int64{p, 2})
	func() {
		defer func() {
			if r := recover(); r != crash {
				t.Fatalf("got panic %v, want the crash", r)
			}
		}()
		_ = e.place(cmd)
	}()
	found, v := e.orderRequest("po-crash")
	if !found || v.Status != "PROCESSING" || v.Order == nil || v.Order.Status != "CREATED" {
		t.Fatalf("after the crash: got %+v, want PROCESSING with a CREATED order", v)
	}

	// The redelivery goes to a worker that does not crash.
	e.w = orderworker.New(e.svc, logging.New(e.logs, "orders-worker", "info"))
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
			found, v := e.orderRequest(tc.cmd.IdempotencyKey)
			if !found || v.Error == nil {
				t.Fatalf("got %+v, want an error", v)
			}
			// Details went through the database as JSON: compare them as JSON values.
			var want any
			_ = json.Unmarshal([]byte(tc.details), &want)
			wantJSON, _ := json.Marshal(want)
			details, _ := json.Marshal(v.Error.Details)
			// The kind travels with the code, so the orchestrator answers with the status orders-api's
			// REST routes give the same error.
			if v.Status != "REJECTED" || v.Order != nil || v.Error.Code != tc.code || v.Error.Kind != tc.kind || string(details) != string(wantJSON) {
				t.Errorf("got %+v (details %s), want REJECTED %s (%s) %s", v, details, tc.code, tc.kind, tc.details)
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
	if n := e.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.type') = ?`, events.OrderRejected); n != len(tests) {
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
			cl, err := customerclient.New(orderstest.StandIn(t, status).URL, token, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := orderworker.New(order.NewService(orderdb.New(e.db.DB), cl, order.Config{}), logging.New(e.logs, "orders-worker", "info"))
			res, err := w.PlaceOrder(t.Context(), cmd)
			if !order.IsTransient(err) || !errors.Is(err, order.ErrTransient) || res.Outcome != orderworker.OutcomeRetried {
				t.Errorf("customers-api %d: got %+v, %v; want a transient error, retried", status, res, err)
			}
		}
	})
	t.Run("database down", func(t *testing.T) {
		closed, err := sql.Open("mysql", e.db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		w := orderworker.New(order.NewService(orderdb.New(closed), e.cust, order.Config{}), logging.New(e.logs, "orders-worker", "info"))
		if res, err := w.PlaceOrder(t.Context(), cmd); !order.IsTransient(err) || res.Outcome != orderworker.OutcomeRetried {
			t.Errorf("got %+v, %v; want a transient error, retried", res, err)
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

// TestHandle: the queue handler acks a command that has its answer and nacks one that may get it on a
// redelivery or never can be read; each delivery is one log line with its outcome, under the
// command's correlation id (from the message attribute when there is one).
func TestHandle(t *testing.T) {
	e := newEnv(t)
	p := e.product("H-1", 100, 1)
	msg := func(cmd any, corr string) *message.Message {
		b, _ := json.Marshal(cmd)
		m := message.NewMessage("msg-"+corr, b)
		if corr != "" {
			m.Metadata.Set(events.MetaCorrelationID, corr)
		}
		return m
	}
	ok := placeOrder("h-ok", 1, [2]int64{p, 1})
	ok.CorrelationID = ""
	if err := e.w.Handle(msg(ok, "corr-h-ok")); err != nil {
		t.Fatalf("a confirmed command: got %v, want nil (ack)", err)
	}
	if err := e.w.Handle(msg(placeOrder("h-short", 1, [2]int64{p, 5}), "")); err != nil {
		t.Fatalf("a rejected command: got %v, want nil (ack)", err)
	}
	if err := e.w.Handle(message.NewMessage("msg-garbage", []byte("{not json"))); err == nil {
		t.Fatal("an undecodable command: got nil, want an error (nack, towards the dead-letter queue)")
	}
	if _, v := e.orderRequest("h-ok"); v.Status != "CONFIRMED" {
		t.Errorf("h-ok: got %+v", v)
	}
	var lines []map[string]any
	for _, l := range e.logs.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(m["msg"].(string), "place order:") {
			lines = append(lines, m)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want one per delivery: %v", len(lines), lines)
	}
	if l := lines[0]; l["outcome"] != "confirmed" || l["correlation_id"] != "corr-h-ok" || l["idempotency_key"] != "h-ok" || l["order_id"] == nil {
		t.Errorf("confirmed line: got %v", l)
	}
	if l := lines[1]; l["outcome"] != "rejected" || l["code"] != "INSUFFICIENT_STOCK" || l["correlation_id"] != "corr-h-short" {
		t.Errorf("rejected line: got %v", l)
	}
	if l := lines[2]; l["level"] != "ERROR" || l["msg"] != "place order: undecodable command" {
		t.Errorf("undecodable line: got %v", l)
	}
	// The events carry the correlation id the message attribute gave.
	if n := e.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.correlation_id') = 'corr-h-ok'`); n != 2 {
		t.Errorf("events with the attribute's correlation id: got %d, want 2", n)
	}
}

// TestHandleMetrics: every delivery is counted by outcome and timed; a message delivered again (the same
// message id, or SQS's receive count above 1) counts as redelivered, a new message with the same
// idempotency key does not.
func TestHandleMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, orderworker.WithMetrics(orderworker.NewMetrics(reg)))
	p := e.product("HM-1", 100, 1)
	msg := func(id string, cmd any) *message.Message {
		b, ok := cmd.([]byte)
		if !ok {
			b, _ = json.Marshal(cmd)
		}
		return message.NewMessage(id, b)
	}
	s := metricstest.Gather(t, reg)
	for _, o := range []string{"confirmed", "rejected", "foreign", "dropped", "retried", "undecodable"} {
		if got := s.Value(t, "worker_commands_total", "outcome", o); got != 0 {
			t.Errorf("worker_commands_total{outcome=%s} = %v at start, want 0", o, got)
		}
	}

	ok := placeOrder("hm-ok", 1, [2]int64{p, 1})
	_ = e.w.Handle(msg("m-1", ok))
	_ = e.w.Handle(msg("m-1", ok))                                        // redelivered: same message
	_ = e.w.Handle(msg("m-2", ok))                                        // a client's resend: new message, same key
	_ = e.w.Handle(msg("m-3", placeOrder("hm-short", 1, [2]int64{p, 5}))) // rejected
	_ = e.w.Handle(msg("m-4", []byte("{not json")))
	_ = e.w.Handle(msg("m-4", []byte("{not json")))
	counted := msg("m-5", []byte("{not json"))
	counted.Metadata.Set(queue.MetaReceiveCount, "2") // SQS's own count: delivered before, elsewhere
	_ = e.w.Handle(counted)

	s = metricstest.Gather(t, reg)
	for outcome, want := range map[string]float64{"confirmed": 3, "rejected": 1, "undecodable": 3, "retried": 0} {
		if got := s.Value(t, "worker_commands_total", "outcome", outcome); got != want {
			t.Errorf("worker_commands_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
		if got := s.Sum("worker_command_duration_seconds_count", "outcome", outcome); got != want {
			t.Errorf("worker_command_duration_seconds_count{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	if got := s.Value(t, "worker_commands_redelivered_total"); got != 3 {
		t.Errorf("worker_commands_redelivered_total = %v, want 3 (m-1 and m-4 again, m-5 by its receive count)", got)
	}
}
