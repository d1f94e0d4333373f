package relay_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/outbox/relay"
)

// TestMetrics: the relay counts the events the destination accepted, the refusals that park a poison
// event, the failed sends of an outage, its batches and the time of its calls.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startRelay(relay.Options{Metrics: relay.NewMetrics(reg), MaxAttempts: 2, RetryBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, AckDeadline: 500 * time.Millisecond}, nil)
	value := func(name string, labels ...string) float64 {
		return metricstest.Gather(t, reg).Value(t, name, labels...)
	}
	if got := value("outbox_send_failures_total", "reason", "unavailable"); got != 0 {
		t.Errorf("outbox_send_failures_total{reason=unavailable} = %v at start, want 0", got)
	}

	evs := []events.Envelope{newEvent(t, 1, 1, ""), newEvent(t, 2, 1, ""), newEvent(t, 3, 1, "")}
	publish(t, e.db.DB, evs...)
	insertRaw(t, e.db.DB, "44444444-4444-4444-8444-444444444444", `{}`, `[1,2]`)
	waitFor(t, 20*time.Second, "3 events sent and the poison parked", func() bool {
		return value("outbox_events_sent_total") == 3 && value("outbox_events_parked_total") == 1
	})
	if got := value("outbox_send_failures_total", "reason", "refused"); got != 2 {
		t.Errorf("outbox_send_failures_total{reason=refused} = %v, want 2 (MaxAttempts)", got)
	}
	if got := value("outbox_batches_total"); got < 1 {
		t.Errorf("outbox_batches_total = %v, want at least 1", got)
	}
	if got := value("outbox_send_duration_seconds_count"); got < 1 {
		t.Errorf("outbox_send_duration_seconds_count = %v, want at least 1", got)
	}

	e.sqs.Stop()
	publish(t, e.db.DB, newEvent(t, 4, 1, ""))
	waitFor(t, 20*time.Second, "failed sends counted during the outage", func() bool {
		return value("outbox_send_failures_total", "reason", "unavailable") >= 2
	})
	e.sqs.Start()
	waitFor(t, 30*time.Second, "the event sent after the outage", func() bool { return value("outbox_events_sent_total") == 4 })
	if got := value("outbox_events_parked_total"); got != 1 {
		t.Errorf("outbox_events_parked_total = %v after the outage, want still 1 (an outage parks nothing)", got)
	}
}
