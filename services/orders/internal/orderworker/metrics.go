package orderworker

import (
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/queue"
)

// Metrics count the deliveries a Worker handles:
//
//	worker_commands_total{outcome}              deliveries by outcome: confirmed, rejected, foreign,
//	                                            dropped, retried (nacked), undecodable (nacked)
//	worker_command_duration_seconds{outcome}    time to handle one delivery
//	worker_commands_redelivered_total           deliveries of a message delivered before
//
// A redelivery is a message SQS says it has delivered before (ApproximateReceiveCount above 1,
// queue.ReceiveCount), or one this process has already received (its message id among the last
// rememberDeliveries): SQS's count also sees redeliveries to another worker or after a restart, and
// the process's memory covers queues that do not count (goaws always says 1). A client's retry of a
// create-and-confirm is a new message with the same idempotency key, not a redelivery.
type Metrics struct {
	commands    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	redelivered prometheus.Counter
	seen        seen
}

// rememberDeliveries bounds the message ids kept to recognise a redelivery: far more than are
// redelivered within a few visibility timeouts, at a few hundred kilobytes.
const rememberDeliveries = 10_000

// NewMetrics registers the worker's metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		commands: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_commands_total",
			Help: "PlaceOrder deliveries handled by orders-worker, by outcome (confirmed, rejected, foreign, dropped, retried, undecodable).",
		}, []string{"outcome"})),
		duration: metrics.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "worker_command_duration_seconds",
			Help:    "Time orders-worker took to handle one PlaceOrder delivery, by outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"outcome"})),
		redelivered: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_commands_redelivered_total",
			Help: "PlaceOrder deliveries of a message delivered before (after a nack, a crash or an expired visibility timeout).",
		})),
		seen: seen{ids: map[string]struct{}{}, ring: make([]string, rememberDeliveries)},
	}
	metrics.Init(m.commands, OutcomeConfirmed, OutcomeRejected, OutcomeForeign, OutcomeDropped, OutcomeRetried, OutcomeUndecodable)
	return m
}

// WithMetrics makes the Worker count its deliveries in m.
func WithMetrics(m *Metrics) Option { return func(w *Worker) { w.metrics = m } }

// received notes a delivery of msg.
func (m *Metrics) received(msg *message.Message) {
	if m == nil {
		return
	}
	if before := m.seen.add(msg.UUID); before || queue.ReceiveCount(msg) > 1 {
		m.redelivered.Inc()
	}
}

// handled counts a delivery that ended with outcome after took.
func (m *Metrics) handled(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(took.Seconds())
}

// seen remembers the last len(ring) message ids.
type seen struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

// add remembers id and reports whether it was remembered already.
func (s *seen) add(id string) bool {
	if id == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return true
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return false
}
