package relay

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
)

// Metrics count what a Relay does (Options.Metrics):
//
//	outbox_events_sent_total                events the destination accepted
//	outbox_send_failures_total{reason}      events a send failed for: "unavailable" (the call failed, or
//	                                        the service failed on the entry: retried without end) or
//	                                        "refused" (the event's own fault: counts towards parking)
//	outbox_send_duration_seconds            time of one batch call to the destination, success or not
//	outbox_events_parked_total              events parked after Options.MaxAttempts refusals
//	outbox_batches_total                    batches of outbox rows locked, sent and committed
//
// The backlog itself (outbox_backlog_events and its age) comes from metrics.NewOutboxLag over
// outbox.ReadLag, which any process with the orders database can export.
type Metrics struct {
	sent     prometheus.Counter
	failures *prometheus.CounterVec
	duration prometheus.Histogram
	parks    prometheus.Counter
	batches  prometheus.Counter
}

// Reasons of outbox_send_failures_total.
const (
	reasonUnavailable = "unavailable"
	reasonRefused     = "refused"
)

// NewMetrics registers a relay's metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_events_sent_total",
			Help: "Outbox events the destination (the SNS topic) accepted.",
		})),
		failures: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_send_failures_total",
			Help: "Outbox events a send failed for, by reason: unavailable (retried until the destination answers) or refused (the event's own fault, counted towards parking).",
		}, []string{"reason"})),
		duration: metrics.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "outbox_send_duration_seconds",
			Help:    "Time of one batch call to the destination, success or not.",
			Buckets: prometheus.DefBuckets,
		})),
		parks: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_events_parked_total",
			Help: "Outbox events parked after too many refused sends; they wait for an operator (outbox-relay parked, release).",
		})),
		batches: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_batches_total",
			Help: "Batches of outbox rows the relay locked, sent and committed.",
		})),
	}
	metrics.Init(m.failures, reasonUnavailable, reasonRefused)
	return m
}

// sendResult counts one batch call: delivered events accepted, unavailable ones to be retried, took long.
func (m *Metrics) sendResult(delivered, unavailable int, took time.Duration) {
	if m == nil {
		return
	}
	m.sent.Add(float64(delivered))
	m.failures.WithLabelValues(reasonUnavailable).Add(float64(unavailable))
	m.duration.Observe(took.Seconds())
}

func (m *Metrics) refused(parked bool) {
	if m == nil {
		return
	}
	m.failures.WithLabelValues(reasonRefused).Inc()
	if parked {
		m.parks.Inc()
	}
}

func (m *Metrics) batch() {
	if m != nil {
		m.batches.Inc()
	}
}
