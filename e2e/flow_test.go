package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// TestCreateAndConfirm runs the business cases against one stack. The orchestrator reaches both APIs
// through a /dev stage (bases "…/dev" and "…/dev/"), and the worker reaches customers-api through a base
// with a trailing slash: any doubled or missing path segment would fail the requests.
func TestCreateAndConfirm(t *testing.T) {
	stage := &stageProxy{}
	s := newStack(t, stackOptions{stage: stage})
	stagePath, plainPath := s.orchURL+orchestrator.StagePath, s.orchURL+orchestrator.Path

	p1 := s.product("E2E-HAPPY-1", 1250, 10)
	p2 := s.product("E2E-HAPPY-2", 400, 5)
	happy := request{
		CustomerID:     1,
		Items:          []item{{p1, 2}, {p2, 1}, {p1, 1}},
		IdempotencyKey: "e2e-happy-key-001",
		CorrelationID:  "e2e-corr-happy-001",
	}
	var first answer

	t.Run("happy path", func(t *testing.T) {
		first = post(t, stagePath, happy)
		if first.Status != http.StatusCreated || !first.Body.Success {
			t.Fatalf("got %d %s, want 201 success", first.Status, first.Raw)
		}
		if first.Body.CorrelationID != happy.CorrelationID || first.Header.Get("X-Correlation-Id") != happy.CorrelationID {
			t.Errorf("correlation id: body %q header %q, want %q", first.Body.CorrelationID, first.Header.Get("X-Correlation-Id"), happy.CorrelationID)
		}
		d := first.order(t)
		phone := "+1-555-0100"
		if d.Customer.ID != 1 || d.Customer.Name != "ACME Corp" || d.Customer.Email != "ops@acme.com" || d.Customer.Phone == nil || *d.Customer.Phone != phone {
			t.Errorf("customer: got %+v, want ACME Corp (1, ops@acme.com, %s)", d.Customer, phone)
		}
		o := d.Order
		if o.ID <= 0 || o.Status != "CONFIRMED" || o.TotalCents != 3*1250+400 || o.CreatedAt.IsZero() || o.ConfirmedAt == nil {
			t.Errorf("order: got %+v, want CONFIRMED, total %d, with created_at and confirmed_at", o, 3*1250+400)
		}
		wantItems := fmt.Sprintf(`[{"product_id":%d,"qty":3,"unit_price_cents":1250,"subtotal_cents":3750},{"product_id":%d,"qty":1,"unit_price_cents":400,"subtotal_cents":400}]`, p1, p2)
		if got, _ := json.Marshal(o.Items); string(got) != wantItems {
			t.Errorf("items: got %s, want %s", got, wantItems)
		}
		if got := s.stock(p1); got != 7 {
			t.Errorf("stock of p1: got %d, want 7 (decremented once)", got)
		}
		if got := s.stock(p2); got != 4 {
			t.Errorf("stock of p2: got %d, want 4", got)
		}
		id := strconv.FormatInt(o.ID, 10)
		if c, f := s.events(events.OrderCreated, id), s.events(events.OrderConfirmed, id); c != 1 || f != 1 {
			t.Errorf("outbox for order %s: got %d order.created and %d order.confirmed, want 1 and 1", id, c, f)
		}
		// Every process touched by the request logged it under the client's correlation id. The worker
		// and the customers-api call it makes may finish their log lines just after the answer.
		for _, p := range []*proc{s.orch, s.customers, s.orders, s.worker} {
			eventually(t, 5*time.Second, p.name+" logs the correlation id", func() bool {
				return len(logLines(p.out.String(), happy.CorrelationID)) > 0
			})
		}
		// customers-api was asked twice: by the orchestrator, then by the worker, both under the id.
		eventually(t, 5*time.Second, "customers-api logs both calls", func() bool {
			return len(logLines(s.customers.out.String(), happy.CorrelationID)) >= 2
		})
		if lines := logLines(s.orch.out.String(), happy.CorrelationID); len(lines) != 1 || !strings.Contains(lines[0], `"status":201`) {
			t.Errorf("orchestrator: got %d lines %q, want one request line with status 201", len(lines), lines)
		}
	})

	t.Run("same request again returns the same order", func(t *testing.T) {
		if first.Status != http.StatusCreated {
			t.Skip("happy path failed")
		}
		again := post(t, plainPath, happy)
		if again.Status != http.StatusCreated || !bytes.Equal(again.Body.Data, first.Body.Data) {
			t.Fatalf("got %d data %s\nwant 201 data %s", again.Status, again.Body.Data, first.Body.Data)
		}
		if got := s.stock(p1); got != 7 {
			t.Errorf("stock of p1: got %d, want 7 (unchanged)", got)
		}
		if n := s.ordersWithProduct(p1); n != 1 {
			t.Errorf("orders with p1: got %d, want 1", n)
		}
	})

	t.Run("20 concurrent identical requests make one order", func(t *testing.T) {
		p := s.product("E2E-CONC", 100, 100)
		req := request{CustomerID: 2, Items: []item{{p, 4}}, IdempotencyKey: "e2e-concurrent-key"}
		answers := make([]answer, 20)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() { answers[i] = post(t, plainPath, req) })
		}
		wg.Wait()
		var id int64
		for i, a := range answers {
			if a.Status != http.StatusCreated {
				t.Errorf("answer %d: got %d %s, want 201", i, a.Status, a.Raw)
				continue
			}
			oid := a.order(t).Order.ID
			if id == 0 {
				id = oid
			}
			if oid != id {
				t.Errorf("answer %d: order %d, want %d like the others", i, oid, id)
			}
		}
		if n := s.ordersWithProduct(p); n != 1 {
			t.Errorf("orders: got %d, want 1", n)
		}
		if got := s.stock(p); got != 96 {
			t.Errorf("stock: got %d, want 96", got)
		}
	})

	t.Run("same key with other items is 422", func(t *testing.T) {
		other := happy
		other.Items = []item{{p1, 1}}
		a := post(t, stagePath, other)
		if a.Status != http.StatusUnprocessableEntity || a.errCode() != "IDEMPOTENCY_KEY_REUSED" || a.Body.Success {
			t.Errorf("got %d %s, want 422 IDEMPOTENCY_KEY_REUSED", a.Status, a.Raw)
		}
		if got := s.stock(p1); got != 7 {
			t.Errorf("stock of p1: got %d, want 7", got)
		}
	})

	t.Run("unknown customer is 404 and nothing is recorded", func(t *testing.T) {
		a := post(t, stagePath, request{CustomerID: 999999, Items: []item{{p1, 1}}, IdempotencyKey: "e2e-unknown-customer"})
		if a.Status != http.StatusNotFound || a.errCode() != "CUSTOMER_NOT_FOUND" {
			t.Fatalf("got %d %s, want 404 CUSTOMER_NOT_FOUND", a.Status, a.Raw)
		}
		if st, _ := s.requestStatus("e2e-unknown-customer"); st != "" {
			t.Errorf("order request recorded as %s, want none (no command sent)", st)
		}
	})

	t.Run("short stock is 409 with details and leaves stock alone", func(t *testing.T) {
		short := s.product("E2E-SHORT", 900, 2)
		plenty := s.product("E2E-PLENTY", 100, 10)
		req := request{CustomerID: 3, Items: []item{{plenty, 1}, {short, 5}}, IdempotencyKey: "e2e-short-stock"}
		a := post(t, stagePath, req)
		if a.Status != http.StatusConflict || a.errCode() != "INSUFFICIENT_STOCK" {
			t.Fatalf("got %d %s, want 409 INSUFFICIENT_STOCK", a.Status, a.Raw)
		}
		want := []any{map[string]any{"product_id": float64(short), "requested": 5.0, "available": 2.0}}
		if !reflect.DeepEqual(a.Body.Error.Details, want) {
			t.Errorf("details: got %v, want %v", a.Body.Error.Details, want)
		}
		if s.stock(short) != 2 || s.stock(plenty) != 10 {
			t.Errorf("stock: got %d and %d, want 2 and 10 (unchanged)", s.stock(short), s.stock(plenty))
		}
		if st, oid := s.requestStatus(req.IdempotencyKey); st != "REJECTED" || oid.Valid {
			t.Errorf("order request: got %s (order %v), want REJECTED without an order", st, oid)
		}
		if n := s.events(events.OrderRejected, req.IdempotencyKey); n != 1 {
			t.Errorf("order.rejected events: got %d, want 1", n)
		}
		// The rejection is the request's final answer: asking again gives it again.
		again := post(t, plainPath, req)
		if again.Status != http.StatusConflict || !bytes.Equal(mustJSON(t, again.Body.Error), mustJSON(t, a.Body.Error)) {
			t.Errorf("again: got %d %s, want the same 409", again.Status, again.Raw)
		}
	})

	t.Run("unknown product is 404", func(t *testing.T) {
		a := post(t, stagePath, request{CustomerID: 1, Items: []item{{999999, 1}}, IdempotencyKey: "e2e-unknown-product"})
		if a.Status != http.StatusNotFound || a.errCode() != "PRODUCT_NOT_FOUND" {
			t.Errorf("got %d %s, want 404 PRODUCT_NOT_FOUND", a.Status, a.Raw)
		}
	})

	t.Run("invalid body is 400", func(t *testing.T) {
		a := post(t, stagePath, map[string]any{"customer_id": 1, "items": []item{{p1, 0}}, "idempotency_key": "e2e-invalid"})
		if a.Status != http.StatusBadRequest || a.errCode() != "VALIDATION_FAILED" {
			t.Errorf("got %d %s, want 400 VALIDATION_FAILED", a.Status, a.Raw)
		}
	})

	t.Run("stage paths", func(t *testing.T) {
		for _, p := range stage.seen() {
			if !strings.HasPrefix(p, "/dev/internal/customers/") && !strings.HasPrefix(p, "/dev/internal/order-requests/") {
				t.Errorf("the orchestrator asked for %s: want only /dev/internal/customers/… and /dev/internal/order-requests/…", p)
			}
		}
		if len(stage.seen()) == 0 {
			t.Error("no request went through the stage")
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
