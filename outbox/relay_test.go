package outbox_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/outbox"
)

func TestRelayDeliversEventsWithAttributes(t *testing.T) {
	e := newEnv(t)
	evs := []events.Envelope{newEvent(t, 7, 1, "corr-7"), newEvent(t, 7, 2, "corr-7b"), newEvent(t, 8, 1, "")}
	publish(t, e.db.DB, evs[:2]...)
	publish(t, e.db.DB, evs[2])

	r, _ := e.relay(outbox.Options{}, nil)
	msgs := e.sqs.Collect(t, eventsQueue, 3, 30*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3", len(msgs))
	}
	for i, m := range msgs {
		want := evs[i]
		var got events.Envelope
		if err := json.Unmarshal([]byte(m.Body), &got); err != nil {
			t.Fatal(err)
		}
		if got.EventID != want.EventID || got.Type != want.Type || got.AggregateVersion != want.AggregateVersion {
			t.Errorf("message %d: got %s %s v%d, want %s %s v%d", i, got.EventID, got.Type, got.AggregateVersion, want.EventID, want.Type, want.AggregateVersion)
		}
		wantAttrs := map[string]string{
			"_watermill_message_uuid":   want.EventID,
			outbox.MetaEventType:        want.Type,
			outbox.MetaAggregateType:    "order",
			outbox.MetaAggregateID:      want.AggregateID,
			outbox.MetaAggregateVersion: itoa(want.AggregateVersion),
		}
		if want.CorrelationID != "" {
			wantAttrs[outbox.MetaCorrelationID] = want.CorrelationID
		}
		if len(m.Attributes) != len(wantAttrs) {
			t.Errorf("message %d: attributes %v, want %v", i, m.Attributes, wantAttrs)
		}
		for k, v := range wantAttrs {
			if m.Attributes[k] != v {
				t.Errorf("message %d: attribute %s = %q, want %q", i, k, m.Attributes[k], v)
			}
		}
	}
	// Delivered rows do not accumulate.
	waitFor(t, 10*time.Second, "outbox emptied", func() bool { return outboxRows(t, e.db.DB) == 0 })
	if got := r.Delivered(); got != 3 {
		t.Errorf("Delivered() = %d, want 3", got)
	}
	lag, err := r.Lag(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lag != (outbox.Lag{}) {
		t.Errorf("lag after delivery: %+v, want zero", lag)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
