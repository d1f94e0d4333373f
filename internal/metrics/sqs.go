package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DepthFunc reads the approximate number of messages of the queue called name: waiting to be received
// (visible) and received but not yet deleted (in flight). queue.NewDepthReader(client).Read reads SQS
// with GetQueueAttributes; this package links no AWS SDK, so that processes that talk to no queue
// (orders-api, customers-api) do not either.
type DepthFunc func(ctx context.Context, name string) (visible, inFlight int64, err error)

// QueueDepth exports the approximate number of messages of SQS queues, read by a DepthFunc every
// interval (never per message):
//
//	sqs_queue_messages{queue,state="visible"}      waiting to be received
//	sqs_queue_messages{queue,state="in_flight"}    received and not yet deleted (being handled)
//
// Name every queue the process uses, dead-letter queues included: a dead-letter queue that is not
// empty is what the alerts look for. It is a prometheus.Collector: register it, then Run it.
type QueueDepth struct {
	read   DepthFunc
	queues []string
	o      PollOptions
	desc   *prometheus.Desc

	mu       sync.Mutex
	readings map[string]depthReading

	pollMu   sync.Mutex
	failures map[string]*outage
}

type depthReading struct {
	visible, inFlight int64
	at                time.Time
}

// NewQueueDepth returns a QueueDepth for queues, read through read (queue.NewDepthReader(client).Read).
func NewQueueDepth(read DepthFunc, queues []string, o PollOptions) *QueueDepth {
	q := &QueueDepth{
		read: read,
		o:    o.withDefaults(),
		desc: prometheus.NewDesc("sqs_queue_messages",
			"Approximate number of messages in an SQS queue, by state: visible (waiting) or in_flight (received, not yet deleted).",
			[]string{"queue", "state"}, nil),
		readings: map[string]depthReading{},
		failures: map[string]*outage{},
	}
	for _, name := range queues {
		if _, dup := q.failures[name]; !dup {
			q.queues = append(q.queues, name)
			q.failures[name] = &outage{}
		}
	}
	return q
}

// Run reads every queue at once and then every interval until ctx is done.
func (q *QueueDepth) Run(ctx context.Context) {
	poll(ctx, q.o.Interval, func(ctx context.Context) { _ = q.Poll(ctx) })
}

// Poll reads every queue once. It returns the errors of the queues that could not be read, which it
// has also logged (once per outage of each queue); the other queues are updated all the same.
func (q *QueueDepth) Poll(ctx context.Context) error {
	q.pollMu.Lock()
	defer q.pollMu.Unlock()
	var errs []error
	for _, name := range q.queues {
		visible, inFlight, err := q.read(ctx, name)
		if err != nil {
			q.failures[name].failed(q.o.Log, "queue depth unavailable for metrics", err, "queue", name)
			errs = append(errs, err)
			continue
		}
		q.failures[name].recovered(q.o.Log, "queue depth readable again", "queue", name)
		q.mu.Lock()
		q.readings[name] = depthReading{visible: visible, inFlight: inFlight, at: time.Now()}
		q.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Describe implements prometheus.Collector.
func (q *QueueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

// Collect implements prometheus.Collector: the last reading of each queue, unless it is stale.
func (q *QueueDepth) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, name := range q.queues {
		r, ok := q.readings[name]
		if !ok || time.Since(r.at) > staleAfter*q.o.Interval {
			continue
		}
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(r.visible), name, "visible")
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(r.inFlight), name, "in_flight")
	}
}
