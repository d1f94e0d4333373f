package queue_test

import (
	"bytes"
	"context"
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
		if i == 0 {
			got.Nack()
		} else {
			got.Ack()
		}
	}
	if got.UUID != msg.UUID || string(got.Payload) != `{"hello":"world"}` {
		t.Fatalf("got uuid %q payload %s, want %q %s", got.UUID, got.Payload, msg.UUID, msg.Payload)
	}
	if got.Metadata.Get("event_type") != "order.created" || got.Metadata.Get("correlation_id") != "corr-1" {
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
