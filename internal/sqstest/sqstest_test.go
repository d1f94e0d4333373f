package sqstest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/b2b/backoffice/internal/sqstest"
)

func TestReceiveDrainAndRestart(t *testing.T) {
	srv := sqstest.Start(t, "jobs")
	if want := []string{"jobs", "jobs-dlq"}; fmt.Sprint(srv.Queues) != fmt.Sprint(want) {
		t.Fatalf("queues %v, want %v", srv.Queues, want)
	}
	for i := 0; i < 15; i++ {
		srv.Send(t, "jobs", fmt.Sprintf("m%d", i), map[string]string{"n": fmt.Sprint(i)})
	}
	got := srv.Receive(t, "jobs", 4)
	if len(got) != 4 || got[0].Body != "m0" || got[0].Attributes["n"] != "0" || got[0].ReceiveCount != 1 {
		t.Fatalf("Receive: got %+v, want m0..m3 with attribute n", got)
	}
	rest, err := srv.Drain(context.Background(), "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 11 {
		t.Fatalf("Drain: got %d messages, want 11", len(rest))
	}
	if left := srv.Receive(t, "jobs", 1); len(left) != 0 {
		t.Fatalf("after Drain: got %d messages, want 0", len(left))
	}

	srv.Send(t, "jobs", "lost on stop", nil)
	srv.Stop()
	if _, err := srv.Drain(context.Background(), "jobs"); err == nil {
		t.Fatal("Drain while stopped: got no error")
	}
	srv.Start()
	srv.Send(t, "jobs", "after restart", nil)
	got = srv.Collect(t, "jobs", 1, 10*time.Second)
	if len(got) != 1 || got[0].Body != "after restart" {
		t.Fatalf("after restart got %+v, want only the message sent after it", got)
	}
}

func TestRedriveToDeadLetterQueue(t *testing.T) {
	srv := sqstest.StartWith(t, sqstest.Options{VisibilityTimeout: time.Second, MaxReceiveCount: 2}, "work")
	srv.Send(t, "work", "poison", nil)
	ctx := context.Background()
	client, url := srv.Client(), srv.URL(t, "work")
	// Receive without deleting until goaws moves it to the dead-letter queue.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if dlq := srv.Receive(t, "work-dlq", 1); len(dlq) == 1 {
			if dlq[0].Body != "poison" {
				t.Fatalf("dead-letter body %q, want poison", dlq[0].Body)
			}
			return
		}
		if _, err := client.ReceiveMessage(ctx, receiveInput(url)); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("message never reached work-dlq")
}

func receiveInput(url string) *sqs.ReceiveMessageInput {
	return &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1}
}
