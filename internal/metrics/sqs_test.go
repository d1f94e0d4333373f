package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqstest"
)

func TestQueueDepth(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t, "order-commands")
	ctx := context.Background()

	// One message dead-lettered; on the main queue one waiting and one received but not yet deleted.
	srv.Send(t, "order-commands-dlq", `{"poison":true}`, nil)
	srv.Send(t, "order-commands", `{"n":1}`, nil)
	srv.Send(t, "order-commands", `{"n":2}`, nil)
	out, err := srv.Client().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(srv.URL(t, "order-commands")), MaxNumberOfMessages: 1, VisibilityTimeout: 60,
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}

	var logs logBuffer
	reg := prometheus.NewRegistry()
	depth := metrics.NewQueueDepth(queue.NewDepthReader(srv.Client()).Read, []string{"order-commands", "order-commands-dlq", "no-such-queue", "order-commands"},
		metrics.PollOptions{Interval: time.Minute, Log: logs.logger()})
	reg.MustRegister(depth)
	if err := depth.Poll(ctx); err == nil {
		t.Error("Poll of an unknown queue returned no error")
	}
	s := metricstest.Gather(t, reg)
	for _, tc := range []struct {
		queue, state string
		want         float64
	}{
		{"order-commands-dlq", "visible", 1},
		{"order-commands-dlq", "in_flight", 0},
		// goaws v0.5.4 counts received messages in ApproximateNumberOfMessages as well, where AWS
		// and LocalStack count only visible ones (1 here); the exporter passes on what the queue says.
		{"order-commands", "visible", 2},
		{"order-commands", "in_flight", 1},
	} {
		if got := s.Value(t, "sqs_queue_messages", "queue", tc.queue, "state", tc.state); got != tc.want {
			t.Errorf("sqs_queue_messages{queue=%q,state=%q} = %v, want %v", tc.queue, tc.state, got, tc.want)
		}
	}
	// The unknown queue has no series (not a 0 that would read as "empty"), and a warning.
	if n := s.Series("sqs_queue_messages", "queue", "no-such-queue"); n != 0 {
		t.Errorf("unknown queue: %d series, want none", n)
	}
	if n := s.Series("sqs_queue_messages"); n != 4 {
		t.Errorf("got %d series, want 4 (a queue named twice is read once): %v", n, s.Labels("sqs_queue_messages"))
	}
	if n := len(logs.lines("queue depth unavailable for metrics")); n != 1 {
		t.Errorf("got %d warnings, want 1 (for no-such-queue)", n)
	}
	if err := depth.Poll(ctx); err == nil {
		t.Error("second Poll of an unknown queue returned no error")
	}
	if n := len(logs.lines("queue depth unavailable for metrics")); n != 1 {
		t.Errorf("got %d warnings after a second failed read of the same queue, want still 1", n)
	}
}

// SQS down: one warning per queue for the whole outage, stale series dropped; back up: one line per
// queue, and the depths of the restarted (empty) queues.
func TestQueueDepthOutage(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t, "order-events")
	srv.Send(t, "order-events-dlq", `{}`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logBuffer
	interval := 100 * time.Millisecond
	reg := prometheus.NewRegistry()
	depth := metrics.NewQueueDepth(queue.NewDepthReader(srv.Client()).Read, srv.Queues, metrics.PollOptions{Interval: interval, Log: logs.logger()})
	reg.MustRegister(depth)
	go depth.Run(ctx)

	dlq := func() (float64, int) {
		s := metricstest.Gather(t, reg)
		return s.Sum("sqs_queue_messages", "queue", "order-events-dlq", "state", "visible"), s.Series("sqs_queue_messages")
	}
	eventually(t, 10*time.Second, "the dead-letter queue's message never showed", func() bool { v, n := dlq(); return v == 1 && n == 4 })

	srv.Stop()
	eventually(t, 10*time.Second, "stale series still exported with SQS down", func() bool { _, n := dlq(); return n == 0 })
	time.Sleep(5 * interval)
	if n := len(logs.lines("queue depth unavailable for metrics")); n != 2 {
		t.Fatalf("got %d warnings for 2 queues during one outage, want 2", n)
	}

	srv.Start()
	eventually(t, 10*time.Second, "series not back after SQS restarted", func() bool { v, n := dlq(); return v == 0 && n == 4 })
	if n := len(logs.lines("queue depth readable again")); n != 2 {
		t.Fatalf("got %d recovery lines, want 2", n)
	}
}
