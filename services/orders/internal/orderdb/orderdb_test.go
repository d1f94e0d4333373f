package orderdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// operator is the caller of the fixture's changes.
var operator = identity.Caller{Actor: "ops-test"}

type fixture struct {
	t   *testing.T
	db  *dbtest.DB
	s   *orderdb.Store
	svc *order.Service
	now time.Time // the service's clock
	mu  sync.Mutex
}

// newFixture is a store on a fresh orders database and the order use cases over it. The use cases
// used here never ask customers-api, so there is no customers client.
func newFixture(t *testing.T) *fixture {
	db := dbtest.New(t, "orders")
	f := &fixture{t: t, db: db, s: orderdb.New(db.DB), now: t0}
	f.svc = order.NewService(f.s, nil, order.Config{Now: f.clock})
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) at(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

func (f *fixture) product(sku string, price int64, stock int) int64 {
	f.t.Helper()
	p, err := f.s.CreateProduct(context.Background(), order.Product{SKU: sku, Name: sku, PriceCents: price, Stock: stock, CreatedAt: t0, UpdatedAt: t0},
		order.Audit{Entity: order.EntityProduct, Action: order.ActionProductCreated, By: order.Origin{At: t0, Actor: operator.Actor}})
	if err != nil {
		f.t.Fatal(err)
	}
	return p.ID
}

func (f *fixture) stock(id int64) int {
	f.t.Helper()
	var n int
	if err := f.db.QueryRow(`SELECT stock FROM products WHERE id = ?`, id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.QueryRow(query, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// row is an outbox row as the relay reads it.
type row struct {
	env  events.Envelope
	data events.Order
	meta map[string]string
}

// outbox returns the outbox rows in offset order.
func (f *fixture) outbox() []row {
	f.t.Helper()
	rows, err := f.db.Query("SELECT `payload`, `metadata` FROM outbox ORDER BY `offset`")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var payload, meta []byte
		if err := rows.Scan(&payload, &meta); err != nil {
			f.t.Fatal(err)
		}
		var r row
		if err := json.Unmarshal(payload, &r.env); err != nil {
			f.t.Fatalf("payload %s: %v", payload, err)
		}
		if r.env.AggregateType == events.AggregateOrder {
			if err := json.Unmarshal(r.env.Data, &r.data); err != nil {
				f.t.Fatalf("data %s: %v", r.env.Data, err)
			}
		}
		if err := json.Unmarshal(meta, &r.meta); err != nil {
			f.t.Fatalf("metadata %s: %v", meta, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// create records a PlaceOrder request and creates its order (the worker's first transaction).
func (f *fixture) create(customerID int64, lines ...events.LineItem) order.Order {
	f.t.Helper()
	key := fmt.Sprintf("req-%d", f.count(`SELECT COUNT(*) FROM order_requests`)+1)
	req := order.RequestFor(events.PlaceOrder{IdempotencyKey: key, CustomerID: customerID, Items: lines, CorrelationID: "corr-create"})
	o, err := f.svc.CreateForRequest(context.Background(), req, lines)
	if err != nil {
		f.t.Fatal(err)
	}
	return o
}

func render(o order.Order) ([]byte, error) {
	return json.Marshal(map[string]any{"id": o.ID, "status": o.Status})
}

func (f *fixture) confirm(id int64, at time.Time) (order.Outcome, error) {
	f.at(at)
	ctx := logging.WithCorrelationID(context.Background(), "corr-confirm")
	return f.svc.Confirm(ctx, operator, id, fmt.Sprintf("confirm-%d-%d", id, at.UnixNano()), nil, render)
}

func (f *fixture) cancel(id int64, at time.Time) (order.Order, error) {
	f.at(at)
	return f.svc.Cancel(logging.WithCorrelationID(context.Background(), "corr-cancel"), operator, id)
}

// Each change of an order leaves one outbox row whose payload carries the order as it is after the
// change at the next aggregate_version, and whose metadata repeats what the relay routes on.
func TestOutboxRowsFollowTheOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p1, p2 := f.product("P1", 250, 10), f.product("P2", 1000, 5)
	o := f.create(7, events.LineItem{ProductID: p1, Qty: 4}, events.LineItem{ProductID: p2, Qty: 1})
	if _, err := f.confirm(o.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cancel(o.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}

	rows := f.outbox()
	if len(rows) != 3 {
		t.Fatalf("got %d outbox rows, want 3", len(rows))
	}
	aggID := strconv.FormatInt(o.ID, 10)
	eventIDs := map[string]bool{}
	for i, want := range []struct {
		typ, status, corr string
		at                time.Time
	}{
		{events.OrderCreated, order.StatusCreated, "corr-create", t0},
		{events.OrderConfirmed, order.StatusConfirmed, "corr-confirm", t0.Add(time.Minute)},
		{events.OrderCanceled, order.StatusCanceled, "corr-cancel", t0.Add(2 * time.Minute)},
	} {
		r, version := rows[i], i+1
		e := r.env
		if e.Type != want.typ || e.AggregateType != events.AggregateOrder || e.AggregateID != aggID || e.AggregateVersion != version ||
			e.CorrelationID != want.corr || !e.OccurredAt.Equal(want.at) || e.SchemaVersion != events.SchemaVersion || e.EventID == "" {
			t.Errorf("row %d envelope: got %+v", i, e)
		}
		eventIDs[e.EventID] = true
		d := r.data
		if d.ID != o.ID || d.CustomerID != 7 || d.Status != want.status || d.TotalCents != 2000 || len(d.Items) != 2 ||
			d.Items[0] != (events.Item{ProductID: p1, Qty: 4, UnitPriceCents: 250, SubtotalCents: 1000}) ||
			d.Items[1] != (events.Item{ProductID: p2, Qty: 1, UnitPriceCents: 1000, SubtotalCents: 1000}) || !d.CreatedAt.Equal(t0) {
			t.Errorf("row %d data: got %+v", i, d)
		}
		if (d.ConfirmedAt != nil) != (i >= 1) || (d.CanceledAt != nil) != (i == 2) {
			t.Errorf("row %d data timestamps: confirmed %v canceled %v", i, d.ConfirmedAt, d.CanceledAt)
		}
		wantMeta := map[string]string{"event_type": want.typ, "aggregate_type": "order", "aggregate_id": aggID,
			"aggregate_version": strconv.Itoa(version), "correlation_id": want.corr}
		for k, v := range wantMeta {
			if r.meta[k] != v {
				t.Errorf("row %d metadata %s: got %q, want %q (all: %v)", i, k, r.meta[k], v, r.meta)
			}
		}
	}
	if len(eventIDs) != 3 {
		t.Errorf("event ids not distinct: %v", eventIDs)
	}
	if v := f.count(`SELECT version FROM orders WHERE id = ?`, o.ID); v != 3 {
		t.Errorf("orders.version: got %d, want 3", v)
	}
	got, err := f.s.Order(ctx, o.ID)
	if err != nil || got.Version != 3 || got.Status != order.StatusCanceled || !got.ConfirmedAt.Equal(t0.Add(time.Minute)) || !got.CanceledAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("order after cancel: got %+v, %v", got, err)
	}
	if f.stock(p1) != 10 || f.stock(p2) != 5 {
		t.Errorf("stock after cancel: got %d and %d, want 10 and 5", f.stock(p1), f.stock(p2))
	}
}

// Changes that change nothing (a second confirm or cancel) and changes that fail write no event and
// leave the version where it was, so aggregate_version has no gaps.
func TestNoEventWithoutAChange(t *testing.T) {
	f := newFixture(t)
	p := f.product("P", 100, 10)
	o := f.create(1, events.LineItem{ProductID: p, Qty: 3})
	if _, err := f.confirm(o.ID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	out, err := f.confirm(o.ID, t0.Add(2*time.Second))
	if err != nil || out.Order.Version != 2 || !out.Order.ConfirmedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("second confirm: got %+v, %v; want the order unchanged at version 2", out.Order, err)
	}
	// Outside the window: refused, nothing written.
	_, err = f.cancel(o.ID, t0.Add(time.Hour))
	if !errors.Is(err, order.ErrCancelWindowExpired) {
		t.Errorf("late cancel: got %v, want CANCEL_WINDOW_EXPIRED", err)
	}
	if n := len(f.outbox()); n != 2 || f.stock(p) != 7 || f.count(`SELECT version FROM orders WHERE id = ?`, o.ID) != 2 {
		t.Errorf("after a no-op and a refusal: %d outbox rows, stock %d; want 2 rows, stock 7, version 2", n, f.stock(p))
	}

	// A CREATED order canceled is version 2; confirming it afterwards fails without a trace.
	o2 := f.create(1, events.LineItem{ProductID: p, Qty: 2})
	if got, err := f.cancel(o2.ID, t0.Add(time.Minute)); err != nil || got.Version != 2 {
		t.Fatalf("cancel created: got %+v, %v", got, err)
	}
	if _, err := f.confirm(o2.ID, t0.Add(2*time.Minute)); !errors.Is(err, order.ErrNotConfirmable) {
		t.Errorf("confirm canceled: got %v, want ORDER_NOT_CONFIRMABLE", err)
	}
	if n := f.count(`SELECT COUNT(*) FROM idempotency_keys WHERE target_id = ?`, o2.ID); n != 0 {
		t.Errorf("a refused confirm stored %d keys", n)
	}
	rows := f.outbox()
	if len(rows) != 4 || rows[3].env.Type != events.OrderCanceled || rows[3].env.AggregateVersion != 2 {
		t.Errorf("outbox: got %d rows, last %+v; want 4, the last order.canceled v2", len(rows), rows[len(rows)-1].env)
	}
	if f.stock(p) != 7 {
		t.Errorf("stock: got %d, want 7 (the canceled order's 2 back)", f.stock(p))
	}
}

// Concurrent cancels of one order give its stock back once and publish one order.canceled.
func TestCancelRestoresStockOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p1, p2 := f.product("A", 10, 100), f.product("B", 10, 100)
	o := f.create(1, events.LineItem{ProductID: p1, Qty: 30}, events.LineItem{ProductID: p2, Qty: 40})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changed int
	)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := f.svc.Cancel(ctx, operator, o.ID)
			if err != nil {
				t.Errorf("cancel: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if got.Status != order.StatusCanceled || got.Version != 2 {
				t.Errorf("cancel answer: got %+v", got)
			}
			changed++
		}()
	}
	wg.Wait()
	if changed != 10 || f.stock(p1) != 100 || f.stock(p2) != 100 {
		t.Errorf("got %d answers, stock %d and %d; want 10 answers, stock 100 and 100", changed, f.stock(p1), f.stock(p2))
	}
	if n := f.count(`SELECT COUNT(*) FROM outbox WHERE JSON_VALUE(payload, '$.type') = 'order.canceled'`); n != 1 {
		t.Errorf("got %d order.canceled rows, want 1", n)
	}
}

// A create that fails (short stock) leaves no request, no order, no event and the stock as it was,
// although the request row was written first in its transaction.
func TestFailedCreateWritesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p1, p2 := f.product("A", 10, 5), f.product("B", 10, 1)
	lines := []events.LineItem{{ProductID: p1, Qty: 2}, {ProductID: p2, Qty: 2}}
	req := order.RequestFor(events.PlaceOrder{IdempotencyKey: "r1", CustomerID: 1, Items: lines, CorrelationID: "c"})
	if _, err := f.svc.CreateForRequest(ctx, req, lines); !errors.Is(err, order.ErrInsufficientStock) {
		t.Errorf("got %v, want INSUFFICIENT_STOCK", err)
	}
	for _, table := range []string{"orders", "order_items", "idempotency_keys", "order_requests", "outbox"} {
		if n := f.count("SELECT COUNT(*) FROM " + table); n != 0 {
			t.Errorf("%s: %d rows after a failed create, want 0", table, n)
		}
	}
	if f.stock(p1) != 5 || f.stock(p2) != 1 {
		t.Errorf("stock: got %d and %d, want 5 and 1", f.stock(p1), f.stock(p2))
	}
}

// The key steps: a claimed key holds its answer once completed; Answer and a later ClaimKey return it
// until it expires; an expired key is claimed anew; a transaction that loses the race for a key to a
// concurrent one fails with ErrKeyRace once the winner commits.
func TestIdempotencyKeySteps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k := order.Key{Scope: order.ScopeCreate, Value: "k1", Hash: "h1", At: t0, ExpiresAt: t0.Add(time.Hour)}
	err := f.s.InTx(ctx, func(tx order.Tx) error {
		if _, ok, err := tx.ClaimKey(ctx, k); err != nil || ok {
			return fmt.Errorf("claim new key: ok %v, %v", ok, err)
		}
		return tx.CompleteKey(ctx, k, 42, []byte(`{"id":42}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	later := k
	later.At = t0.Add(time.Minute)
	if a, ok, err := f.s.Answer(ctx, later); err != nil || !ok || a.TargetID != 42 || a.Hash != "h1" || string(a.Body) != `{"id":42}` {
		t.Errorf("answer: got %+v %v %v", a, ok, err)
	}
	_ = f.s.InTx(ctx, func(tx order.Tx) error {
		if a, ok, err := tx.ClaimKey(ctx, later); err != nil || !ok || a.TargetID != 42 {
			t.Errorf("claim of a completed key: got %+v %v %v, want its answer", a, ok, err)
		}
		return nil
	})
	expired := k
	expired.At = t0.Add(2 * time.Hour)
	expired.ExpiresAt = expired.At.Add(time.Hour)
	if _, ok, err := f.s.Answer(ctx, expired); err != nil || ok {
		t.Errorf("answer of an expired key: ok %v %v, want none", ok, err)
	}
	if err := f.s.InTx(ctx, func(tx order.Tx) error {
		if _, ok, err := tx.ClaimKey(ctx, expired); err != nil || ok {
			return fmt.Errorf("claim of an expired key: ok %v, %v", ok, err)
		}
		return tx.CompleteKey(ctx, expired, 43, []byte(`{"id":43}`))
	}); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT COUNT(*) FROM idempotency_keys WHERE target_id = 43`); n != 1 {
		t.Errorf("expired key claimed anew: %d rows for the new answer, want 1", n)
	}

	// The race: the first transaction holds the claim until the second one is waiting on it.
	race := order.Key{Scope: order.ScopeConfirm, Value: "race", Hash: "h", TargetID: 1, At: t0, ExpiresAt: t0.Add(time.Hour)}
	claimed, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- f.s.InTx(ctx, func(tx order.Tx) error {
			if _, _, err := tx.ClaimKey(ctx, race); err != nil {
				return err
			}
			close(claimed)
			<-release
			return tx.CompleteKey(ctx, race, 1, []byte("{}"))
		})
	}()
	<-claimed
	second := make(chan error, 1)
	go func() {
		second <- f.s.InTx(ctx, func(tx order.Tx) error {
			_, _, err := tx.ClaimKey(ctx, race)
			return err
		})
	}()
	time.Sleep(100 * time.Millisecond) // let the second claim reach the first one's lock
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, order.ErrKeyRace) {
		t.Errorf("the claim that lost: got %v, want ErrKeyRace", err)
	}
}

// order.rejected is an order_request event at version 1; a request recorded once can not be recorded
// again, and finishing a request that is no longer PROCESSING changes nothing.
func TestRejectEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	items := []events.LineItem{{ProductID: 9, Qty: 1}}
	r := order.RequestFor(events.PlaceOrder{IdempotencyKey: "req-1", CustomerID: 3, Items: items, CorrelationID: "corr-r"})
	cause := order.ErrProductNotFound.WithDetails(order.MissingProduct{ProductID: 9})
	if _, err := f.svc.RejectRequest(ctx, r, items, cause); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RejectRequest(ctx, r, items, cause); !errors.Is(err, order.ErrRequestExists) {
		t.Errorf("second reject: got %v, want ErrRequestExists", err)
	}
	_ = f.s.InTx(ctx, func(tx order.Tx) error {
		changed, err := tx.FinishRequest(ctx, "req-1", events.RequestConfirmed, nil, t0)
		if err != nil || changed {
			t.Errorf("finishing a rejected request: changed %v, %v; want nothing changed", changed, err)
		}
		return nil
	})
	rows := f.outbox()
	if len(rows) != 1 {
		t.Fatalf("got %d outbox rows, want 1", len(rows))
	}
	e := rows[0].env
	var data events.Rejected
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatal(err)
	}
	if e.Type != events.OrderRejected || e.AggregateType != events.AggregateOrderRequest || e.AggregateID != "req-1" || e.AggregateVersion != 1 ||
		e.CorrelationID != "corr-r" || data.Error.Code != "PRODUCT_NOT_FOUND" || data.CustomerID != 3 || data.RequestHash != r.RequestHash ||
		len(data.Items) != 1 || data.Items[0] != items[0] {
		t.Errorf("order.rejected: got %+v %+v", e, data)
	}
	if rows[0].meta["event_type"] != events.OrderRejected || rows[0].meta["aggregate_type"] != events.AggregateOrderRequest ||
		rows[0].meta["aggregate_id"] != "req-1" || rows[0].meta["aggregate_version"] != "1" {
		t.Errorf("order.rejected metadata: got %v", rows[0].meta)
	}
	got, err := f.s.Request(ctx, "req-1")
	if err != nil || got.Status != events.RequestRejected || got.Error == nil || got.Error.Code != "PRODUCT_NOT_FOUND" || got.CorrelationID != "corr-r" {
		t.Errorf("request: got %+v, %v", got, err)
	}
}

// An order canceled between a PlaceOrder's two transactions can not be confirmed: the second one
// rejects the request with ORDER_NOT_CONFIRMABLE and publishes order.rejected, in one transaction.
func TestConfirmRequestOfACanceledOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.product("P", 100, 10)
	lines := []events.LineItem{{ProductID: p, Qty: 2}}
	req := order.RequestFor(events.PlaceOrder{IdempotencyKey: "req-c", CustomerID: 1, Items: lines, CorrelationID: "corr-c"})
	o, err := f.svc.CreateForRequest(ctx, req, lines)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cancel(o.ID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	req.OrderID = o.ID
	final, err := f.svc.ConfirmRequest(ctx, req)
	if err != nil || final.Status != events.RequestRejected || final.Error == nil || final.Error.Code != "ORDER_NOT_CONFIRMABLE" {
		t.Fatalf("got %+v, %v; want the request rejected with ORDER_NOT_CONFIRMABLE", final, err)
	}
	got, err := f.s.Request(ctx, "req-c")
	if err != nil || got.Status != events.RequestRejected || got.Error.Code != "ORDER_NOT_CONFIRMABLE" || got.OrderID != o.ID {
		t.Errorf("stored request: got %+v, %v", got, err)
	}
	var types []string
	for _, r := range f.outbox() {
		types = append(types, r.env.Type)
	}
	if fmt.Sprint(types) != "[order.created order.canceled order.rejected]" {
		t.Errorf("events: got %v", types)
	}
	if f.stock(p) != 10 {
		t.Errorf("stock: got %d, want 10", f.stock(p))
	}
}

// TakeStock takes stock only while the product has enough of it at the price the order was priced at;
// otherwise it reports that the products changed, and the transaction keeps nothing of it.
func TestTakeStockIsConditional(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.product("A", 100, 5), f.product("B", 200, 5)
	take := func(items ...order.Item) bool {
		t.Helper()
		var got bool
		if err := f.s.InTx(ctx, func(tx order.Tx) error {
			ok, err := tx.TakeStock(ctx, items, t0)
			got = ok
			if !ok {
				return errors.New("changed") // roll back what an earlier item took
			}
			return err
		}); err != nil && got {
			t.Fatal(err)
		}
		return got
	}
	if !take(order.Item{ProductID: a, Qty: 2, UnitPriceCents: 100}, order.Item{ProductID: b, Qty: 5, UnitPriceCents: 200}) {
		t.Fatal("enough stock at the same prices: refused")
	}
	if take(order.Item{ProductID: a, Qty: 1, UnitPriceCents: 100}, order.Item{ProductID: b, Qty: 1, UnitPriceCents: 200}) {
		t.Error("B has no stock left: taken anyway")
	}
	if take(order.Item{ProductID: a, Qty: 1, UnitPriceCents: 99}) {
		t.Error("A's price changed: taken anyway")
	}
	if f.stock(a) != 3 || f.stock(b) != 0 {
		t.Errorf("stock: got %d and %d, want 3 and 0 (nothing of the refused takes kept)", f.stock(a), f.stock(b))
	}
}
