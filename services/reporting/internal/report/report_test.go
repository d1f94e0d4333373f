package report_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/services/reporting/internal/report"
)

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// envelope returns the JSON of an order event of type typ at version v, changed by edit.
func envelope(t *testing.T, typ string, v int, edit func(m map[string]any)) []byte {
	t.Helper()
	o := events.Order{ID: 42, CustomerID: 7, Status: map[string]string{events.OrderCreated: "CREATED", events.OrderConfirmed: "CONFIRMED", events.OrderCanceled: "CANCELED"}[typ],
		TotalCents: 2500, Items: []events.Item{{ProductID: 1, Qty: 2, UnitPriceCents: 1000, SubtotalCents: 2000}, {ProductID: 3, Qty: 1, UnitPriceCents: 500, SubtotalCents: 500}},
		CreatedAt: t0}
	if o.Status == "CONFIRMED" || typ == events.OrderCanceled {
		at := t0.Add(time.Minute)
		o.ConfirmedAt = &at
	}
	if o.Status == "CANCELED" {
		at := t0.Add(2 * time.Minute)
		o.CanceledAt = &at
	}
	ev, err := events.NewOrderEvent(typ, o, v, "corr-1", t0.Add(time.Duration(v)*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if edit != nil {
		edit(m)
	}
	b, _ = json.Marshal(m)
	return b
}

func data(m map[string]any) map[string]any { return m["data"].(map[string]any) }

func TestDecode(t *testing.T) {
	created := envelope(t, events.OrderCreated, 1, nil)
	ev, err := report.Decode(created)
	if err != nil {
		t.Fatalf("order.created: %v", err)
	}
	if ev.Type != events.OrderCreated || ev.AggregateID != "42" || ev.AggregateVersion != 1 || ev.CorrelationID != "corr-1" ||
		ev.Order == nil || ev.Order.ID != 42 || ev.Order.CustomerID != 7 || ev.Order.Version != 1 || ev.Order.Units() != 3 ||
		len(ev.Order.Items) != 2 || !ev.Order.CreatedAt.Equal(t0) || ev.Order.ConfirmedAt != nil {
		t.Fatalf("order.created decoded as %+v (order %+v)", ev, ev.Order)
	}
	canceled, err := report.Decode(envelope(t, events.OrderCanceled, 3, nil))
	if err != nil || canceled.Order.Status != report.StatusCanceled || canceled.Order.ConfirmedAt == nil || canceled.Order.CanceledAt == nil {
		t.Fatalf("order.canceled: got %+v, %v", canceled.Order, err)
	}
	rej, err := events.New(events.OrderRejected, events.AggregateOrderRequest, "key-1", 1, "corr-2",
		events.Rejected{IdempotencyKey: "key-1", CustomerID: 7, Items: []events.LineItem{{ProductID: 99, Qty: 1}},
			Error: events.Error{Code: "PRODUCT_NOT_FOUND", Kind: "not_found", Message: "product not found"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	rejected, _ := json.Marshal(rej)
	if ev, err := report.Decode(rejected); err != nil || ev.Order != nil || ev.AggregateID != "key-1" {
		t.Fatalf("order.rejected: got %+v, %v; want an event without a snapshot", ev, err)
	}
	// Forward compatibility: fields this code does not know are ignored.
	if _, err := report.Decode(envelope(t, events.OrderConfirmed, 2, func(m map[string]any) { m["actor"] = "user-1"; data(m)["currency"] = "EUR" })); err != nil {
		t.Fatalf("unknown fields: got %v, want them ignored", err)
	}

	unknown := envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["type"] = "order.shipped" })
	var ute *report.UnknownTypeError
	if _, err := report.Decode(unknown); !errors.As(err, &ute) || ute.Type != "order.shipped" || report.IsPoison(err) {
		t.Fatalf("unknown type: got %v, want UnknownTypeError order.shipped", err)
	}

	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"not JSON", []byte("{{nope"), "not an event envelope"},
		{"JSON array", []byte("[1,2]"), "not an event envelope"},
		{"empty body", nil, "not an event envelope"},
		{"schema_version 2", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["schema_version"] = 2 }), "unknown schema_version 2"},
		{"schema_version missing", envelope(t, events.OrderCreated, 1, func(m map[string]any) { delete(m, "schema_version") }), "unknown schema_version 0"},
		// An unknown type under an unknown schema version is not trusted to be what it says.
		{"unknown type, schema_version 2", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["type"] = "order.shipped"; m["schema_version"] = 2 }), "unknown schema_version"},
		{"event_id not a uuid", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["event_id"] = "42" }), "is not a UUID"},
		{"no type", envelope(t, events.OrderCreated, 1, func(m map[string]any) { delete(m, "type") }), "has no type"},
		{"version 0", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["aggregate_version"] = 0 }), "aggregate_version 0"},
		{"no occurred_at", envelope(t, events.OrderCreated, 1, func(m map[string]any) { delete(m, "occurred_at") }), "no occurred_at"},
		{"data of another order", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["aggregate_id"] = "43" }), "under aggregate_id"},
		{"wrong aggregate type", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["aggregate_type"] = "order_request" }), "want order"},
		{"status not matching type", envelope(t, events.OrderConfirmed, 2, func(m map[string]any) { data(m)["status"] = "CREATED" }), `status "CREATED", want CONFIRMED`},
		{"confirmed without confirmed_at", envelope(t, events.OrderConfirmed, 2, func(m map[string]any) { data(m)["confirmed_at"] = nil }), "without confirmed_at"},
		{"canceled without canceled_at", envelope(t, events.OrderCanceled, 3, func(m map[string]any) { data(m)["canceled_at"] = nil }), "without canceled_at"},
		{"data not an object", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["data"] = "x" }), "not an order snapshot"},
		{"no items", envelope(t, events.OrderCreated, 1, func(m map[string]any) { data(m)["items"] = []any{} }), "without created_at, customer or items"},
		{"line of qty 0", envelope(t, events.OrderCreated, 1, func(m map[string]any) {
			data(m)["items"] = []any{map[string]any{"product_id": 1, "qty": 0, "unit_price_cents": 1, "subtotal_cents": 0}}
		}), "not a valid line"},
		{"rejected of an order", envelope(t, events.OrderCreated, 1, func(m map[string]any) { m["type"] = events.OrderRejected }), "want an order_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := report.Decode(tc.body)
			if !report.IsPoison(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a poison error saying %q", err, tc.want)
			}
		})
	}
}

func TestReplaces(t *testing.T) {
	for _, tc := range []struct {
		version, stored int
		want            bool
	}{{2, 1, true}, {3, 1, true}, {2, 2, false}, {1, 2, false}, {1, 0, true}} {
		if got := (report.Order{Version: tc.version}).Replaces(tc.stored); got != tc.want {
			t.Errorf("version %d over stored %d: got %v, want %v", tc.version, tc.stored, got, tc.want)
		}
	}
}

func TestNewRange(t *testing.T) {
	r, err := report.NewRange("2026-03-01", "2026-03-31")
	if err != nil || !r.From.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !r.End().Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %+v end %s, %v", r, r.End(), err)
	}
	if _, err := report.NewRange("2026-03-01", "2026-03-01"); err != nil {
		t.Fatalf("a one-day range: %v", err)
	}
	// 2024 is a leap year: 2024-01-01..2024-12-31 is 366 days, one more is too many.
	if _, err := report.NewRange("2024-01-01", "2024-12-31"); err != nil {
		t.Fatalf("366 days: %v", err)
	}
	for _, tc := range []struct {
		from, to string
		want     string
	}{
		{"", "", "[from: is required (YYYY-MM-DD) to: is required (YYYY-MM-DD)]"},
		{"2026-03-01", "", "[to: is required (YYYY-MM-DD)]"},
		{"2026-3-1", "2026-03-31", "[from: must be a date as YYYY-MM-DD]"},
		{"2026-02-30", "2026-03-31", "[from: must be a date as YYYY-MM-DD]"},
		{"2026-03-01T00:00:00Z", "yesterday", "[from: must be a date as YYYY-MM-DD to: must be a date as YYYY-MM-DD]"},
		{"2026-03-02", "2026-03-01", "[to: must not be before from]"},
		{"2024-01-01", "2025-01-01", "[to: must be at most 366 days after from, both included (got 367 days)]"},
		{"0001-01-01", "9999-12-31", "[to: must be at most 366 days"},
	} {
		_, err := report.NewRange(tc.from, tc.to)
		if got := fieldErrors(err); !strings.HasPrefix(got, tc.want) {
			t.Errorf("NewRange(%q, %q): got %s, want %s", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]int{"": report.DefaultLimit, "1": 1, "100": 100} {
		if n, err := report.ParseLimit(in); err != nil || n != want {
			t.Errorf("ParseLimit(%q) = %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"0", "101", "-1", "ten", "1.5", " 5"} {
		if _, err := report.ParseLimit(in); fieldErrors(err) != "[limit: must be an integer from 1 to 100]" {
			t.Errorf("ParseLimit(%q): got %s", in, fieldErrors(err))
		}
	}
}

// fieldErrors renders a VALIDATION_FAILED error's details, or says what else err is.
func fieldErrors(err error) string {
	e := apperr.As(err)
	if e == nil || e.Code != "VALIDATION_FAILED" {
		return fmt.Sprintf("not a validation error: %v", err)
	}
	var parts []string
	for _, d := range e.Details {
		f := d.(apperr.FieldError)
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
