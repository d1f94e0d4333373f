package metrics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/queue"
)

// QueueDepth exports the approximate number of messages of SQS queues, read with GetQueueAttributes
// every interval (never per message):
//
//	sqs_queue_messages{queue,state="visible"}      waiting to be received
//	sqs_queue_messages{queue,state="in_flight"}    received and not yet deleted (being handled)
//
// Name every queue the process uses, dead-letter queues included: a dead-letter queue that is not
// empty is what the alerts look for. Queue URLs are looked up on the first successful read and again
// after a failure. It is a prometheus.Collector: register it, then Run it.
type QueueDepth struct {
	client *sqs.Client
	queues []string
	o      PollOptions
	desc   *prometheus.Desc

	mu       sync.Mutex
	readings map[string]depthReading

	pollMu   sync.Mutex
	urls     map[string]string
	failures map[string]*outage
}

type depthReading struct {
	visible, inFlight int64
	at                time.Time
}

// NewQueueDepth returns a QueueDepth for queues, reached through client (queue.NewClient).
func NewQueueDepth(client *sqs.Client, queues []string, o PollOptions) *QueueDepth {
	q := &QueueDepth{
		client: client,
		o:      o.withDefaults(),
		desc: prometheus.NewDesc("sqs_queue_messages",
			"Approximate number of messages in an SQS queue, by state: visible (waiting) or in_flight (received, not yet deleted).",
			[]string{"queue", "state"}, nil),
		readings: map[string]depthReading{},
		urls:     map[string]string{},
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
		r, err := q.read(ctx, name)
		if err != nil {
			// The queue may have been deleted and created again under a new URL.
			delete(q.urls, name)
			q.failures[name].failed(q.o.Log, "queue depth unavailable for metrics", err, "queue", name)
			errs = append(errs, err)
			continue
		}
		q.failures[name].recovered(q.o.Log, "queue depth readable again", "queue", name)
		q.mu.Lock()
		q.readings[name] = r
		q.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (q *QueueDepth) read(ctx context.Context, name string) (depthReading, error) {
	url, ok := q.urls[name]
	if !ok {
		var err error
		if url, err = queue.URL(ctx, q.client, name); err != nil {
			return depthReading{}, err
		}
		q.urls[name] = url
	}
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return depthReading{}, fmt.Errorf("queue %q attributes: %w", name, err)
	}
	visible, err := attrInt(out.Attributes, types.QueueAttributeNameApproximateNumberOfMessages)
	if err != nil {
		return depthReading{}, fmt.Errorf("queue %q: %w", name, err)
	}
	inFlight, err := attrInt(out.Attributes, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	if err != nil {
		return depthReading{}, fmt.Errorf("queue %q: %w", name, err)
	}
	return depthReading{visible: visible, inFlight: inFlight, at: time.Now()}, nil
}

func attrInt(attrs map[string]string, name types.QueueAttributeName) (int64, error) {
	s, ok := attrs[string(name)]
	if !ok {
		return 0, fmt.Errorf("attribute %s missing from the answer", name)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %q is not a number", name, s)
	}
	return n, nil
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
