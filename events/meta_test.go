package events_test

import (
	"testing"

	"github.com/b2b/backoffice/events"
)

// TestMetaKeys pins the attribute names on the wire: consumers filter on them.
func TestMetaKeys(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{events.MetaCorrelationID, "correlation_id"},
		{events.MetaEventType, "event_type"},
		{events.MetaAggregateType, "aggregate_type"},
		{events.MetaAggregateID, "aggregate_id"},
		{events.MetaAggregateVersion, "aggregate_version"},
		{events.MetaIdempotencyKey, "idempotency_key"},
	} {
		if tc.got != tc.want {
			t.Errorf("metadata key: got %q, want %q", tc.got, tc.want)
		}
	}
}
