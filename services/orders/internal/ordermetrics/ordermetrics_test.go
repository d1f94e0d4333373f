package ordermetrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/services/orders/internal/order"
	"github.com/b2b/backoffice/services/orders/internal/orderdb"
	"github.com/b2b/backoffice/services/orders/internal/ordermetrics"
)

// customers knows every customer but 404.
type customers struct{}

func (customers) Verify(_ context.Context, id int64) error {
	if id == 404 {
		return apperr.NotFound("CUSTOMER_NOT_FOUND", "customer not found")
	}
	return nil
}

func render(o order.Order) ([]byte, error) { return json.Marshal(o.Snapshot()) }

// The counters move with the changes that commit, through the use cases with a real store: never for
// a replayed answer, a change that did not happen, or a refused one.
// ops is the operator the use cases run for.
var ops = identity.Caller{Actor: "ops"}

func TestCountsWhatCommits(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	store := orderdb.New(db.DB)
	reg := prometheus.NewRegistry()
	svc := order.NewService(store, customers{}, order.Config{Observer: ordermetrics.New(reg)})
	p, err := svc.CreateProduct(ctx, ops, order.Product{SKU: "M-1", Name: "Metered", PriceCents: 100, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	items := []events.LineItem{{ProductID: p.ID, Qty: 1}}

	want := map[string]float64{}
	check := func(step string) {
		t.Helper()
		s := metricstest.Gather(t, reg)
		for _, tc := range []struct {
			name   string
			labels []string
		}{
			{"orders_created_total", nil},
			{"orders_confirmed_total", nil},
			{"orders_canceled_total", nil},
			{"orders_stock_conflicts_total", nil},
			{"orders_rejected_total", []string{"reason", "INSUFFICIENT_STOCK"}},
			{"orders_rejected_total", []string{"reason", "CUSTOMER_NOT_FOUND"}},
			{"outbox_events_written_total", []string{"type", events.OrderCreated}},
			{"outbox_events_written_total", []string{"type", events.OrderConfirmed}},
			{"outbox_events_written_total", []string{"type", events.OrderCanceled}},
			{"outbox_events_written_total", []string{"type", events.OrderRejected}},
		} {
			key := tc.name
			if tc.labels != nil {
				key += "{" + tc.labels[1] + "}"
			}
			if got := s.Value(t, tc.name, tc.labels...); got != want[key] {
				t.Errorf("after %s: %s = %v, want %v", step, key, got, want[key])
			}
		}
	}
	check("start: every series at 0")

	created, err := svc.CreateOrder(ctx, ops, 1, items, "create-1", render)
	if err != nil {
		t.Fatal(err)
	}
	want["orders_created_total"], want["outbox_events_written_total{order.created}"] = 1, 1
	check("a created order")

	if out, err := svc.CreateOrder(ctx, ops, 1, items, "create-1", render); err != nil || !out.Replayed {
		t.Fatalf("replay: %+v, %v", out, err)
	}
	check("a replayed creation")

	if _, err := svc.Confirm(ctx, ops, created.ID, "confirm-1", nil, render); err != nil {
		t.Fatal(err)
	}
	want["orders_confirmed_total"], want["outbox_events_written_total{order.confirmed}"] = 1, 1
	check("a confirmation")
	if _, err := svc.Confirm(ctx, ops, created.ID, "confirm-2", nil, render); err != nil {
		t.Fatal(err)
	}
	check("confirming a confirmed order (no change, no event)")

	if _, err := svc.Cancel(ctx, ops, created.ID); err != nil {
		t.Fatal(err)
	}
	want["orders_canceled_total"], want["outbox_events_written_total{order.canceled}"] = 1, 1
	check("a cancellation")
	if _, err := svc.Cancel(ctx, ops, created.ID); err != nil {
		t.Fatal(err)
	}
	check("canceling a canceled order")

	_, err = svc.CreateOrder(ctx, ops, 1, []events.LineItem{{ProductID: p.ID, Qty: 4}}, "", render)
	if !errors.Is(err, order.ErrInsufficientStock) {
		t.Fatalf("short order: %v, want INSUFFICIENT_STOCK", err)
	}
	want["orders_stock_conflicts_total"] = 1
	check("an order refused for lack of stock")

	// create-and-confirm: one confirmed, one rejected for stock, one for an unknown customer.
	req := order.RequestFor(events.PlaceOrder{IdempotencyKey: "place-1", CustomerID: 1, Items: items})
	o, err := svc.CreateForRequest(ctx, req, items)
	if err != nil {
		t.Fatal(err)
	}
	req.OrderID = o.ID
	if _, err := svc.ConfirmRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	want["orders_created_total"], want["outbox_events_written_total{order.created}"] = 2, 2
	want["orders_confirmed_total"], want["outbox_events_written_total{order.confirmed}"] = 2, 2
	check("a placed order")

	short := []events.LineItem{{ProductID: p.ID, Qty: 9}}
	req = order.RequestFor(events.PlaceOrder{IdempotencyKey: "place-2", CustomerID: 1, Items: short})
	_, err = svc.CreateForRequest(ctx, req, short)
	if !errors.Is(err, order.ErrInsufficientStock) {
		t.Fatalf("short request: %v, want INSUFFICIENT_STOCK", err)
	}
	if _, err := svc.RejectRequest(ctx, req, short, err); err != nil {
		t.Fatal(err)
	}
	want["orders_stock_conflicts_total"] = 2
	want["orders_rejected_total{INSUFFICIENT_STOCK}"], want["outbox_events_written_total{order.rejected}"] = 1, 1
	check("a request rejected for stock")

	req = order.RequestFor(events.PlaceOrder{IdempotencyKey: "place-3", CustomerID: 404, Items: items})
	if _, err := svc.RejectRequest(ctx, req, items, svc.VerifyCustomer(ctx, 404)); err != nil {
		t.Fatal(err)
	}
	want["orders_rejected_total{CUSTOMER_NOT_FOUND}"], want["outbox_events_written_total{order.rejected}"] = 1, 2
	check("a request rejected for its customer")
	if _, err := svc.RejectRequest(ctx, req, items, svc.VerifyCustomer(ctx, 404)); !errors.Is(err, order.ErrRequestExists) {
		t.Fatalf("second rejection: %v, want ErrRequestExists", err)
	}
	check("a rejection that did not commit")
}
