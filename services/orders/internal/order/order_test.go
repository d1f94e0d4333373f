package order_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

func TestValidateLines(t *testing.T) {
	many := make([]events.LineItem, 101)
	for i := range many {
		many[i] = events.LineItem{ProductID: 1, Qty: 1}
	}
	tests := []struct {
		name  string
		items []events.LineItem
		want  []events.LineItem
		err   string // details as JSON
	}{
		{"merges and sorts", []events.LineItem{{ProductID: 3, Qty: 1}, {ProductID: 1, Qty: 2}, {ProductID: 3, Qty: 4}},
			[]events.LineItem{{ProductID: 1, Qty: 2}, {ProductID: 3, Qty: 5}}, ""},
		{"empty", nil, nil, `[{"field":"items","message":"must hold at least one item"}]`},
		{"101 lines", many, nil, `[{"field":"items","message":"must hold at most 100 items"}]`},
		{"bad line", []events.LineItem{{ProductID: 0, Qty: 10001}}, nil,
			`[{"field":"items[0].product_id","message":"must be a positive integer"},{"field":"items[0].qty","message":"must be from 1 to 10000"}]`},
		{"merged qty too large", []events.LineItem{{ProductID: 1, Qty: 6000}, {ProductID: 1, Qty: 6000}}, nil,
			`[{"field":"items","message":"product 1: total qty must be at most 10000"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := order.ValidateLines(tc.items)
			if tc.err == "" {
				if err != nil || len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) || got[len(got)-1] != tc.want[len(tc.want)-1] {
					t.Errorf("got %v, %v, want %v", got, err, tc.want)
				}
				return
			}
			e := apperr.As(err)
			d, _ := json.Marshal(e.Details)
			if e == nil || e.Code != "VALIDATION_FAILED" || string(d) != tc.err {
				t.Errorf("got %v %s, want VALIDATION_FAILED %s", err, d, tc.err)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	products := map[int64]order.Product{1: {ID: 1, PriceCents: 250, Stock: 5}, 2: {ID: 2, PriceCents: 1000, Stock: 1}}
	o, err := order.Build(7, []events.LineItem{{ProductID: 1, Qty: 4}, {ProductID: 2, Qty: 1}}, products, now)
	if err != nil || o.CustomerID != 7 || o.Status != "CREATED" || o.TotalCents != 2000 || o.Version != 1 || len(o.Items) != 2 ||
		o.Items[0] != (order.Item{ProductID: 1, Qty: 4, UnitPriceCents: 250, SubtotalCents: 1000}) || !o.CreatedAt.Equal(now) {
		t.Errorf("got %+v, %v", o, err)
	}
	_, err = order.Build(7, []events.LineItem{{ProductID: 1, Qty: 6}, {ProductID: 2, Qty: 2}}, products, now)
	if e := apperr.As(err); !errors.Is(err, order.ErrInsufficientStock) || len(e.Details) != 2 ||
		e.Details[1] != (order.Shortage{ProductID: 2, Requested: 2, Available: 1}) {
		t.Errorf("short: got %v %+v", err, e)
	}
	// An unknown product wins over short stock: the request can never succeed.
	_, err = order.Build(7, []events.LineItem{{ProductID: 1, Qty: 6}, {ProductID: 9, Qty: 1}}, products, now)
	if !errors.Is(err, order.ErrProductNotFound) {
		t.Errorf("unknown: got %v", err)
	}
}

// A price stored around the API's limits must not wrap the total into a negative number.
func TestBuildOverflow(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	products := map[int64]order.Product{1: {ID: 1, PriceCents: math.MaxInt64, Stock: 5}, 2: {ID: 2, PriceCents: math.MaxInt64 / 2, Stock: 5},
		3: {ID: 3, PriceCents: order.MaxPriceCents, Stock: order.MaxQty}}
	for _, lines := range [][]events.LineItem{
		{{ProductID: 1, Qty: 2}},
		{{ProductID: 2, Qty: 1}, {ProductID: 1, Qty: 1}},
		{{ProductID: 2, Qty: 1}, {ProductID: 2, Qty: 1}, {ProductID: 2, Qty: 1}},
	} {
		if o, err := order.Build(7, lines, products, now); err == nil || apperr.As(err) != nil {
			t.Errorf("%v: got %+v, %v; want an internal error", lines, o, err)
		}
	}
	lines := make([]events.LineItem, order.MaxLines)
	for i := range lines {
		lines[i] = events.LineItem{ProductID: 3, Qty: order.MaxQty}
	}
	o, err := order.Build(7, lines, products, now)
	if want := int64(order.MaxPriceCents) * order.MaxQty * order.MaxLines; err != nil || o.TotalCents != want {
		t.Errorf("largest order: got %d, %v; want %d", o.TotalCents, err, want)
	}
}

func TestTransitions(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	window := 10 * time.Minute
	confirmedAt := t0
	at := func(d time.Duration) order.Origin { return order.Origin{At: t0.Add(d), CorrelationID: "corr-t"} }
	confirm := func(by order.Origin) func(*order.Order) ([]events.Envelope, error) {
		return func(o *order.Order) ([]events.Envelope, error) { return o.Confirm(by) }
	}
	cancel := func(by order.Origin) func(*order.Order) ([]events.Envelope, error) {
		return func(o *order.Order) ([]events.Envelope, error) { return o.Cancel(by, window) }
	}
	tests := []struct {
		name    string
		o       order.Order
		op      func(*order.Order) ([]events.Envelope, error)
		event   string // "" when nothing changes
		err     error
		status  string
		version int
	}{
		{"confirm created", order.Order{ID: 9, Status: "CREATED", Version: 1}, confirm(at(0)), events.OrderConfirmed, nil, "CONFIRMED", 2},
		{"confirm confirmed", order.Order{ID: 9, Status: "CONFIRMED", Version: 2, ConfirmedAt: &confirmedAt}, confirm(at(0)), "", nil, "CONFIRMED", 2},
		{"confirm canceled", order.Order{ID: 9, Status: "CANCELED", Version: 2}, confirm(at(0)), "", order.ErrNotConfirmable, "CANCELED", 2},
		{"cancel created", order.Order{ID: 9, Status: "CREATED", Version: 1}, cancel(at(time.Hour)), events.OrderCanceled, nil, "CANCELED", 2},
		{"cancel confirmed at the window's end", order.Order{ID: 9, Status: "CONFIRMED", Version: 2, ConfirmedAt: &confirmedAt}, cancel(at(window)), events.OrderCanceled, nil, "CANCELED", 3},
		{"cancel confirmed after the window", order.Order{ID: 9, Status: "CONFIRMED", Version: 2, ConfirmedAt: &confirmedAt}, cancel(at(window + time.Microsecond)), "", order.ErrCancelWindowExpired, "CONFIRMED", 2},
		{"cancel canceled", order.Order{ID: 9, Status: "CANCELED", Version: 3}, cancel(at(0)), "", nil, "CANCELED", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			evs, err := tc.op(&o)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) || o.Status != tc.status || o.Version != tc.version {
				t.Fatalf("got err %v, %s v%d; want %v, %s v%d", err, o.Status, o.Version, tc.err, tc.status, tc.version)
			}
			if tc.event == "" {
				if len(evs) != 0 {
					t.Fatalf("got events %+v, want none: nothing changed", evs)
				}
				return
			}
			// The domain decides the event of a change: its type, the order's new version and snapshot.
			if len(evs) != 1 {
				t.Fatalf("got %d events, want one %s", len(evs), tc.event)
			}
			ev := evs[0]
			var snap events.Order
			_ = json.Unmarshal(ev.Data, &snap)
			if ev.Type != tc.event || ev.AggregateType != "order" || ev.AggregateID != "9" || ev.AggregateVersion != tc.version ||
				ev.CorrelationID != "corr-t" || snap.Status != tc.status || snap.ID != 9 || ev.EventID == "" {
				t.Errorf("event: got %+v (data %s)", ev, ev.Data)
			}
		})
	}
}

func TestCreatedAndRejectedEvents(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	by := order.Origin{At: t0, CorrelationID: "corr-c"}
	o := order.Order{ID: 7, CustomerID: 3, Status: "CREATED", TotalCents: 500, Version: 1, CreatedAt: t0,
		Items: []order.Item{{ProductID: 2, Qty: 5, UnitPriceCents: 100, SubtotalCents: 500}}}
	ev, err := o.Created(by)
	if err != nil || ev.Type != events.OrderCreated || ev.AggregateVersion != 1 || ev.AggregateID != "7" || !ev.OccurredAt.Equal(t0) {
		t.Errorf("created: got %+v, %v", ev, err)
	}
	want := `{"id":7,"customer_id":3,"status":"CREATED","total_cents":500,"items":[{"product_id":2,"qty":5,"unit_price_cents":100,"subtotal_cents":500}],"created_at":"2026-11-30T12:00:00Z","confirmed_at":null,"canceled_at":null}`
	if string(ev.Data) != want {
		t.Errorf("created data:\n got %s\nwant %s", ev.Data, want)
	}

	items := []events.LineItem{{ProductID: 2, Qty: 5}}
	req := order.RequestFor(events.PlaceOrder{IdempotencyKey: "k-1", CustomerID: 3, Items: items, CorrelationID: "corr-r"})
	if req.Status != events.RequestProcessing || req.RequestHash != events.RequestHash(3, items) {
		t.Fatalf("request: got %+v", req)
	}
	rejected, ev, err := req.Reject(order.ErrInsufficientStock.WithDetails(order.Shortage{ProductID: 2, Requested: 5, Available: 1}), items, by)
	if err != nil || rejected.Status != events.RequestRejected || rejected.Error.Code != "INSUFFICIENT_STOCK" || rejected.Error.Kind != "conflict" {
		t.Fatalf("rejected: got %+v, %v", rejected, err)
	}
	if ev.Type != events.OrderRejected || ev.AggregateType != events.AggregateOrderRequest || ev.AggregateID != "k-1" || ev.AggregateVersion != 1 {
		t.Errorf("order.rejected: got %+v", ev)
	}
	want = `{"idempotency_key":"k-1","request_hash":"` + req.RequestHash + `","customer_id":3,"items":[{"product_id":2,"qty":5}],"error":{"code":"INSUFFICIENT_STOCK","kind":"conflict","message":"not enough stock for one or more items","details":[{"product_id":2,"requested":5,"available":1}]}}`
	if string(ev.Data) != want {
		t.Errorf("rejected data:\n got %s\nwant %s", ev.Data, want)
	}
}

func TestIsTransient(t *testing.T) {
	if order.IsTransient(customerclient.ErrNotFound) || !order.IsBusiness(customerclient.ErrNotFound) {
		t.Error("CUSTOMER_NOT_FOUND must be a business failure")
	}
	if order.IsBusiness(customerclient.ErrUnavailable) {
		t.Error("CUSTOMERS_UNAVAILABLE must not be a business failure")
	}
	if order.IsBusiness(errors.New("driver: bad connection")) {
		t.Error("a driver error must not be a business failure")
	}
}

// Every event carries the actor of its change, and a request the actor of its command.
func TestEventsCarryTheActor(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	by := order.Origin{At: t0, CorrelationID: "corr-a", Actor: "ops-alice"}
	o := order.Order{ID: 7, CustomerID: 3, Status: "CREATED", TotalCents: 500, Version: 1, CreatedAt: t0,
		Items: []order.Item{{ProductID: 2, Qty: 5, UnitPriceCents: 100, SubtotalCents: 500}}}
	created, _ := o.Created(by)
	confirmed, _ := o.Confirm(order.Origin{At: t0, Actor: "ops-bob"})
	canceled, _ := o.Cancel(order.Origin{At: t0, Actor: "acme-bot", ActorCustomerID: 3}, time.Hour)
	if created.Actor != "ops-alice" || confirmed[0].Actor != "ops-bob" || canceled[0].Actor != "acme-bot" {
		t.Errorf("actors: got %q, %q, %q", created.Actor, confirmed[0].Actor, canceled[0].Actor)
	}

	items := []events.LineItem{{ProductID: 2, Qty: 5}}
	req := order.RequestFor(events.PlaceOrder{IdempotencyKey: "k-1", CustomerID: 3, Items: items, Actor: "acme-bot", ActorCustomerID: 3})
	if req.Actor != "acme-bot" || req.ActorCustomerID != 3 || req.Caller() != (identity.Caller{Actor: "acme-bot", CustomerID: 3}) {
		t.Errorf("request: got %+v", req)
	}
	_, rejected, _ := req.Reject(order.ErrInsufficientStock, items, req.Origin(t0))
	if rejected.Actor != "acme-bot" {
		t.Errorf("order.rejected: actor %q, want acme-bot", rejected.Actor)
	}
	if anon := order.RequestFor(events.PlaceOrder{IdempotencyKey: "k-2", CustomerID: 3, Items: items}); anon.Actor != identity.Anonymous {
		t.Errorf("a command without an actor: got %q, want %q", anon.Actor, identity.Anonymous)
	}
}

func TestCheckCustomer(t *testing.T) {
	for _, tc := range []struct {
		who      identity.Caller
		customer int64
		ok       bool
	}{
		{identity.Caller{Actor: "ops"}, 3, true},
		{identity.Caller{Actor: "acme-bot", CustomerID: 3}, 3, true},
		{identity.Caller{Actor: "acme-bot", CustomerID: 3}, 4, false},
	} {
		err := order.CheckCustomer(tc.who, tc.customer)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, order.ErrOtherCustomer)) {
			t.Errorf("%+v ordering for %d: got %v", tc.who, tc.customer, err)
		}
	}
	if !order.IsBusiness(order.ErrOtherCustomer) {
		t.Error("FORBIDDEN must be a business failure: the worker records it rather than retrying")
	}
}
