package orderworker_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/services/orders/internal/orderstest"
	"github.com/b2b/backoffice/services/orders/internal/orderworker"
)

// The worker's changes are made in the name of the command's actor: the audit records and the events
// of the order say who asked for it through the orchestrator.
func TestPlaceOrderActor(t *testing.T) {
	e := newEnv(t)
	p := e.product("PA-1", 100, 10)

	cmd := placeOrder("pa-bound", 2, [2]int64{p, 1})
	cmd.Actor, cmd.ActorCustomerID = "globex-integration", 2
	if err := e.place(cmd); err != nil {
		t.Fatal(err)
	}
	_, v := e.orderRequest("pa-bound")
	if got, want := orderstest.Audit(t, e.db.DB, "order", v.Order.ID), []string{"order.created by globex-integration/2 (corr-pa-bound)", "order.confirmed by globex-integration/2 (corr-pa-bound)"}; !slices.Equal(got, want) {
		t.Errorf("audit:\ngot  %q\nwant %q", got, want)
	}
	if got, want := orderstest.Actors(t, e.db.DB, id(v.Order.ID)), []string{"order.created by globex-integration", "order.confirmed by globex-integration"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}

	// A command with nobody authenticated behind it (the local orchestrator, or one queued before
	// commands carried an actor) is made by identity.Anonymous.
	anon := placeOrder("pa-anon", 1, [2]int64{p, 1})
	if err := e.place(anon); err != nil {
		t.Fatal(err)
	}
	_, v = e.orderRequest("pa-anon")
	if got, want := orderstest.Actors(t, e.db.DB, id(v.Order.ID)), []string{"order.created by " + identity.Anonymous, "order.confirmed by " + identity.Anonymous}; !slices.Equal(got, want) {
		t.Errorf("events of an anonymous command: got %q, want %q", got, want)
	}
}

// A caller bound to a customer orders only for that customer: a command that asks for another one
// (which the orchestrator refuses before sending) is rejected with FORBIDDEN, and no order is made.
func TestPlaceOrderForAnotherCustomer(t *testing.T) {
	e := newEnv(t)
	p := e.product("PA-2", 100, 10)
	cmd := placeOrder("pa-other", 2, [2]int64{p, 1})
	cmd.Actor, cmd.ActorCustomerID = "acme-integration", 1
	res, err := e.w.PlaceOrder(e.ctx(cmd), cmd)
	if err != nil || res.Outcome != orderworker.OutcomeRejected || res.Code != "FORBIDDEN" {
		t.Fatalf("got %+v, %v; want rejected with FORBIDDEN", res, err)
	}
	if n := e.count(`SELECT COUNT(*) FROM orders`); n != 0 {
		t.Errorf("orders: got %d, want none", n)
	}
	if got := orderstest.Actors(t, e.db.DB, "pa-other"); !slices.Equal(got, []string{"order.rejected by acme-integration"}) {
		t.Errorf("events: got %q, want order.rejected by the caller", got)
	}
	_, v := e.orderRequest("pa-other")
	if v.Status != events.RequestRejected || v.Error == nil || v.Error.Kind != "forbidden" {
		t.Errorf("order request: got %+v, want REJECTED as forbidden", v)
	}
}

// A request resumed after a crash between its two transactions is confirmed in the name of whoever
// asked for it, read back from the request, whatever the delivery that resumes it carries.
func TestResumedRequestKeepsItsActor(t *testing.T) {
	crash := errors.New("crash")
	e := newEnv(t, orderworker.AfterCreate(func(int64) { panic(crash) }))
	p := e.product("PA-3", 100, 10)
	cmd := placeOrder("pa-crash", 3, [2]int64{p, 2})
	cmd.Actor = "ops-carol"
	func() {
		defer func() {
			if r := recover(); r != crash {
				t.Fatalf("got panic %v, want the crash", r)
			}
		}()
		_ = e.place(cmd)
	}()
	e.w = orderworker.New(e.svc, logging.New(e.logs, "orders-worker", "info"))
	again := cmd
	again.Actor = "" // even a delivery that lost it
	if err := e.place(again); err != nil {
		t.Fatal(err)
	}
	_, v := e.orderRequest("pa-crash")
	if v.Status != events.RequestConfirmed {
		t.Fatalf("after redelivery: got %+v", v)
	}
	if got, want := orderstest.Audit(t, e.db.DB, "order", v.Order.ID), []string{"order.created by ops-carol/0 (corr-pa-crash)", "order.confirmed by ops-carol/0 (corr-pa-crash)"}; !slices.Equal(got, want) {
		t.Errorf("audit:\ngot  %q\nwant %q", got, want)
	}
}
