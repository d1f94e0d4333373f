package asyncapitest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
)

func created(t *testing.T) (events.Envelope, map[string]string) {
	t.Helper()
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)
	ev, err := events.NewOrderEvent(events.OrderCreated, events.Order{ID: 42, CustomerID: 7, Status: "CREATED", TotalCents: 2000, CreatedAt: at,
		Items: []events.Item{{ProductID: 1, Qty: 2, UnitPriceCents: 1000, SubtotalCents: 2000}}}, 1, "req-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return ev, map[string]string{"_watermill_message_uuid": ev.EventID, "event_type": ev.Type, "aggregate_type": "order",
		"aggregate_id": "42", "aggregate_version": "1", "correlation_id": "req-1"}
}

func TestValidate(t *testing.T) {
	c := Load(t, events.AsyncAPI)
	if got := strings.Join(c.Messages(), " "); got != "order.canceled order.confirmed order.created order.rejected" {
		t.Fatalf("messages: got %s", got)
	}
	ev, attrs := created(t)
	body, _ := json.Marshal(ev)
	if err := c.Validate(body, attrs); err != nil {
		t.Fatalf("a valid order.created: %v", err)
	}
	if got := strings.Join(c.Uncovered(), " "); got != "order.canceled order.confirmed order.rejected" {
		t.Fatalf("uncovered: got %s", got)
	}

	// The document's own example is valid too.
	ex := lookup(c.doc, "#/components/messages/OrderCreated/examples/0").(map[string]any)
	exBody, _ := json.Marshal(ex["payload"])
	exAttrs := map[string]string{}
	for k, v := range ex["headers"].(map[string]any) {
		exAttrs[k] = v.(string)
	}
	if err := c.Validate(exBody, exAttrs); err != nil {
		t.Fatalf("the document's example: %v", err)
	}

	for _, tc := range []struct {
		name  string
		edit  func(env map[string]any, data map[string]any, attrs map[string]string)
		error string
	}{
		{"unknown type", func(env, _ map[string]any, _ map[string]string) { env["type"] = "order.shipped" }, `no message of the document is named "order.shipped"`},
		{"undocumented envelope field", func(env, _ map[string]any, _ map[string]string) { env["tenant"] = "acme" }, "additional properties 'tenant' not allowed"},
		{"undocumented data field", func(_, data map[string]any, _ map[string]string) { data["currency"] = "EUR" }, "additional properties 'currency' not allowed"},
		{"status of another type", func(_, data map[string]any, _ map[string]string) { data["status"] = "CONFIRMED" }, "status"},
		{"version 2 of a creation", func(env, _ map[string]any, attrs map[string]string) {
			env["aggregate_version"] = 2
			attrs["aggregate_version"] = "2"
		}, "aggregate_version"},
		{"schema version 2", func(env, _ map[string]any, _ map[string]string) { env["schema_version"] = 2 }, "schema_version"},
		{"no items", func(_, data map[string]any, _ map[string]string) { data["items"] = []any{} }, "items"},
		{"qty 0", func(_, data map[string]any, _ map[string]string) {
			data["items"].([]any)[0].(map[string]any)["qty"] = 0
		}, "qty"},
		{"timestamp not RFC 3339", func(env, _ map[string]any, _ map[string]string) { env["occurred_at"] = "02/03/2026 09:30" }, "occurred_at"},
		{"event id not a uuid", func(env, _ map[string]any, attrs map[string]string) {
			env["event_id"] = "42"
			attrs["_watermill_message_uuid"] = "42"
		}, "event_id"},
		{"missing correlation_id field", func(env, _ map[string]any, attrs map[string]string) {
			delete(env, "correlation_id")
			delete(attrs, "correlation_id")
		}, "correlation_id"},
		{"attribute disagrees with the envelope", func(_, _ map[string]any, attrs map[string]string) { attrs["aggregate_id"] = "43" }, `attribute aggregate_id is "43", but the envelope's aggregate_id is "42"`},
		{"uuid attribute disagrees", func(_, _ map[string]any, attrs map[string]string) {
			attrs["_watermill_message_uuid"] = "0b6f8a4e-3c1d-4e8f-9a2b-5c7d1e3f9a01"
		}, "attribute _watermill_message_uuid"},
		{"attribute missing", func(_, _ map[string]any, attrs map[string]string) { delete(attrs, "event_type") }, "event_type"},
		{"correlation attribute missing", func(_, _ map[string]any, attrs map[string]string) { delete(attrs, "correlation_id") }, "attribute correlation_id is missing"},
		{"undocumented attribute", func(_, _ map[string]any, attrs map[string]string) { attrs["tenant"] = "x" }, "additional properties 'tenant' not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, attrs := created(t)
			b, _ := json.Marshal(ev)
			var env map[string]any
			_ = json.Unmarshal(b, &env)
			tc.edit(env, env["data"].(map[string]any), attrs)
			b, _ = json.Marshal(env)
			err := c.Validate(b, attrs)
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.error)
			}
		})
	}
}

func TestLoadRefusesBrokenDocuments(t *testing.T) {
	base := string(events.AsyncAPI)
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"version 2", "asyncapi: 3.0.0", "asyncapi: 2.6.0", `asyncapi version "2.6.0"`},
		{"dangling reference", `payload: { $ref: "#/components/schemas/OrderCreatedEvent" }`, `payload: { $ref: "#/components/schemas/OrderCreatedEvnt" }`, `does not resolve`},
		{"message without a name", "      name: order.confirmed\n", "", "has no name"},
		{"operation message of another channel", `      - $ref: "#/channels/reportingOrderEvents/messages/orderRejected"`, `      - $ref: "#/channels/orderEvents/messages/orderRejected"`, "is not one of its channel"},
		{"invalid schema", "minItems: 1\n          maxItems: 100\n          description: One line", "minItems: many\n          maxItems: 100\n          description: One line", "is not valid against metaschema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("the document no longer contains %q", tc.old)
			}
			_, err := parse([]byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
