package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqstest"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"AWS_ENDPOINT_URL":      "http://127.0.0.1:4100",
		"AWS_ACCESS_KEY_ID":     "key",
		"AWS_SECRET_ACCESS_KEY": "s3cret value",
	}
	l := config.New(func(k string) string { return env[k] })
	c := queue.LoadConfig(l)
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	want := queue.Config{Region: "us-east-1", Endpoint: "http://127.0.0.1:4100", AccessKeyID: "key", SecretAccessKey: "s3cret value"}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "sqs", c)
	if strings.Contains(buf.String(), "s3cret") {
		t.Fatalf("secret logged: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"endpoint":"http://127.0.0.1:4100"`) {
		t.Fatalf("endpoint not logged: %s", buf.String())
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "s3cret") || !strings.Contains(s, "endpoint=http://127.0.0.1:4100") {
		t.Fatalf("formatted config %q: want the endpoint and no secret", s)
	}
}

func TestPublishSubscribeRoundTrip(t *testing.T) {
	srv := sqstest.Start(t, "things")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	client, err := queue.NewClient(ctx, srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	url, err := queue.URL(ctx, client, "things")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(url, "/things") {
		t.Fatalf("queue url %q, want it to end in /things", url)
	}
	if _, err := queue.URL(ctx, client, "no-such-queue"); err == nil {
		t.Fatal("URL of a missing queue: got no error")
	}

	pub, err := queue.NewPublisher(srv.Config(), log)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage("0b7a4c1e-2f7d-4b8e-9a51-3c0c2f1d9e01", []byte(`{"hello":"world"}`))
	msg.Metadata.Set("event_type", "order.created")
	msg.Metadata.Set("correlation_id", "corr-1")
	if err := pub.Publish("things", msg); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("no-such-queue", message.NewMessage("x", []byte("{}"))); err == nil {
		t.Fatal("publish to a missing queue: got no error, want one (queues are never created)")
	}

	sub, err := queue.NewSubscriber(srv.Config(), log, queue.SubscriberOptions{VisibilityTimeout: time.Second, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, "things")
	if err != nil {
		t.Fatal(err)
	}

	// A nacked message comes back after the visibility timeout; the ack deletes it.
	var got *message.Message
	for i := 0; i < 2; i++ {
		select {
		case got = <-msgs:
		case <-ctx.Done():
			t.Fatalf("receive %d: %v", i, ctx.Err())
		}
		// SQS says 1, then 2; goaws v0.5.4 says 1 every time (it never counts receives up), so only
		// the attribute's presence is checked here (TestReceiveCountUnmarshaler checks the value).
		if n := queue.ReceiveCount(got); n < 1 {
			t.Errorf("delivery %d: ReceiveCount %d, want at least 1", i+1, n)
		}
		if i == 0 {
			got.Nack()
		} else {
			got.Ack()
		}
	}
	if got.UUID != msg.UUID || string(got.Payload) != `{"hello":"world"}` {
		t.Fatalf("got uuid %q payload %s, want %q %s", got.UUID, got.Payload, msg.UUID, msg.Payload)
	}
	if got.Metadata.Get("event_type") != "order.created" || got.Metadata.Get("correlation_id") != "corr-1" || len(got.Metadata) != 3 {
		t.Fatalf("got metadata %v", got.Metadata)
	}
	if left := srv.Receive(t, "things", 10); len(left) != 0 {
		t.Fatalf("after ack: %d messages left on the queue, want 0", len(left))
	}
}

func TestNewSubscriberRejectsBadOptions(t *testing.T) {
	c := queue.Config{Endpoint: "http://127.0.0.1:1"}
	for _, o := range []queue.SubscriberOptions{{MaxMessages: 11}, {Wait: 21 * time.Second}} {
		if _, err := queue.NewSubscriber(c, nil, o); err == nil {
			t.Errorf("options %+v: got no error", o)
		}
	}
}

// TestBatchersFanOut: a batch published to an SNS topic reaches every queue subscribed to it (raw
// delivery: body and attributes unchanged), and a batch sent to a queue reaches that queue; a watermill
// subscriber reads both as the messages that were sent.
func TestBatchersFanOut(t *testing.T) {
	srv := sqstest.StartWith(t, sqstest.Options{Topics: map[string][]string{"events": {"consumer-a", "consumer-b"}}}, "direct")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := queue.NewTopic(ctx, srv.Config(), "no-such-topic"); !errors.Is(err, queue.ErrNoTopic) {
		t.Fatalf("a missing topic: got %v, want ErrNoTopic (topics are never created)", err)
	}
	topic, err := queue.NewTopic(ctx, srv.Config(), "events")
	if err != nil {
		t.Fatal(err)
	}
	if topic.Destination() != sqstest.TopicARN("events") {
		t.Errorf("topic ARN: got %q, want %q", topic.Destination(), sqstest.TopicARN("events"))
	}
	direct, err := queue.NewQueue(ctx, srv.Config(), "direct")
	if err != nil {
		t.Fatal(err)
	}
	var batch []*message.Message
	for i := range queue.MaxBatch {
		m := message.NewMessage(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), []byte(fmt.Sprintf(`{"n":%d,"text":"é \"q\"\n"}`, i)))
		m.Metadata.Set("event_type", "order.created")
		m.Metadata.Set("aggregate_id", fmt.Sprint(i))
		batch = append(batch, m)
	}
	for _, b := range []queue.Batcher{topic, direct} {
		refused, err := b.SendBatch(ctx, batch[:b.MaxBatch()])
		if err == nil && b.MaxBatch() < len(batch) {
			var more []error
			more, err = b.SendBatch(ctx, batch[b.MaxBatch():])
			refused = append(refused, more...)
		}
		if err != nil {
			t.Fatalf("%s: %v", b.Destination(), err)
		}
		for i, r := range refused {
			if r != nil {
				t.Errorf("%s: message %d refused: %v", b.Destination(), i, r)
			}
		}
	}
	for _, q := range []string{"consumer-a", "consumer-b", "direct"} {
		got := srv.Collect(t, q, queue.MaxBatch, 20*time.Second)
		if len(got) != queue.MaxBatch {
			t.Fatalf("%s: got %d messages, want %d", q, len(got), queue.MaxBatch)
		}
		byID := map[string]sqstest.Message{}
		for _, m := range got {
			byID[m.Attributes["_watermill_message_uuid"]] = m
		}
		for i, m := range batch {
			g, ok := byID[m.UUID]
			if !ok || g.Body != string(m.Payload) || g.Attributes["event_type"] != "order.created" || g.Attributes["aggregate_id"] != fmt.Sprint(i) {
				t.Errorf("%s: message %s: got %+v, want body %s and its attributes", q, m.UUID, g, m.Payload)
			}
		}
	}
}
