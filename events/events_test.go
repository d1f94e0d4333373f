package events

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

func TestRequestHashIsCanonical(t *testing.T) {
	base := RequestHash(1, []LineItem{{ProductID: 1, Qty: 2}, {ProductID: 2, Qty: 1}})
	cases := []struct {
		name     string
		customer int64
		items    []LineItem
		same     bool
	}{
		{"same request", 1, []LineItem{{1, 2}, {2, 1}}, true},
		{"other line order", 1, []LineItem{{2, 1}, {1, 2}}, true},
		{"split line of one product", 1, []LineItem{{1, 1}, {2, 1}, {1, 1}}, true},
		{"other customer", 2, []LineItem{{1, 2}, {2, 1}}, false},
		{"other qty", 1, []LineItem{{1, 3}, {2, 1}}, false},
		{"other product", 1, []LineItem{{1, 2}, {3, 1}}, false},
		{"line missing", 1, []LineItem{{1, 2}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := RequestHash(tc.customer, tc.items)
			if (got == base) != tc.same {
				t.Errorf("RequestHash(%d, %v) = %s, same as base: %v, want %v", tc.customer, tc.items, got, got == base, tc.same)
			}
		})
	}
	// The value is part of the wire contract between the orchestrator and orders-api (stored request
	// hashes must keep matching across releases): pin it. It is SHA-256 of
	// {"customer_id":1,"items":[{"product_id":1,"qty":2},{"product_id":2,"qty":1}]}.
	const want = "29bb92a9474ee44468eb7722a497a467728bf26dfb24625bf6e4f9c33e4d9f29"
	if base != want {
		t.Fatalf("RequestHash = %s, want %s", base, want)
	}
}

func TestMergeItems(t *testing.T) {
	got := MergeItems([]LineItem{{3, 1}, {1, 2}, {3, 4}, {2, 1}})
	want := []LineItem{{1, 2}, {2, 1}, {3, 5}}
	if len(got) != len(want) {
		t.Fatalf("MergeItems = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("MergeItems = %v, want %v", got, want)
		}
	}
}

func TestNewOrderEventEnvelope(t *testing.T) {
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	o := Order{ID: 42, CustomerID: 1, Status: "CONFIRMED", TotalCents: 259800,
		Items: []Item{{ProductID: 1, Qty: 2, UnitPriceCents: 129900, SubtotalCents: 259800}}, CreatedAt: at}
	ev, err := NewOrderEvent(OrderConfirmed, o, 2, "corr-1", at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"type": "order.confirmed", "schema_version": 1.0, "aggregate_type": "order", "aggregate_id": "42",
		"aggregate_version": 2.0, "occurred_at": "2026-11-30T07:00:00Z", "correlation_id": "corr-1",
	} {
		if wire[k] != want {
			t.Errorf("envelope %s = %v, want %v", k, wire[k], want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(ev.EventID) {
		t.Errorf("event_id = %q, want a version 4 UUID", ev.EventID)
	}
	data := wire["data"].(map[string]any)
	if data["id"] != 42.0 || data["total_cents"] != 259800.0 || data["confirmed_at"] != nil {
		t.Errorf("data = %v, want the order snapshot", data)
	}
	other, _ := NewOrderEvent(OrderConfirmed, o, 2, "corr-1", at)
	if other.EventID == ev.EventID {
		t.Errorf("two events share the id %s", ev.EventID)
	}
}
