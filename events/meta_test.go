package events_test

import (
	"testing"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/outbox"
)

// TestMetaKeys pins the attribute names on the wire and keeps the outbox, which writes the event ones,
// in step with this package.
func TestMetaKeys(t *testing.T) {
	for _, tc := range []struct{ got, outbox, want string }{
		{events.MetaCorrelationID, outbox.MetaCorrelationID, "correlation_id"},
		{events.MetaEventType, outbox.MetaEventType, "event_type"},
		{events.MetaAggregateType, outbox.MetaAggregateType, "aggregate_type"},
		{events.MetaAggregateID, outbox.MetaAggregateID, "aggregate_id"},
		{events.MetaAggregateVersion, outbox.MetaAggregateVersion, "aggregate_version"},
		{events.MetaIdempotencyKey, "idempotency_key", "idempotency_key"},
	} {
		if tc.got != tc.want || tc.outbox != tc.want {
			t.Errorf("metadata key: events %q, outbox %q, want %q", tc.got, tc.outbox, tc.want)
		}
	}
}
