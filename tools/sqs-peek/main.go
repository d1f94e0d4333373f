// Command sqs-peek prints messages waiting on an SQS queue (goaws, LocalStack or AWS, from the usual
// AWS_* variables), one JSON object per line with body and attributes, for looking at what the relay
// sent without the aws CLI:
//
//	AWS_ENDPOINT_URL=http://127.0.0.1:4100 go run ./tools/sqs-peek -queue order-events-tap
//
// By default messages are left on the queue (they become visible again after -visibility); -delete
// removes what was printed, as a consumer would. Every look is a receive: the queues move a message to
// their dead-letter queue after 5, so peek at a queue a real consumer reads with care, and look in
// "<queue>-dlq" for what went there.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/queue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sqs-peek:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sqs-peek", flag.ContinueOnError)
	name := fs.String("queue", getenvDefault(getenv, "ORDER_EVENTS_TAP_QUEUE", "order-events-tap"), "queue name")
	limit := fs.Int("n", 10, "print at most this many messages")
	wait := fs.Duration("wait", 2*time.Second, "wait this long for messages to arrive (at most 20s)")
	visibility := fs.Duration("visibility", 5*time.Second, "hide printed messages from other consumers this long")
	del := fs.Bool("delete", false, "delete the printed messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l := config.New(getenv)
	cfg := queue.LoadConfig(l)
	if err := l.Err(); err != nil {
		return err
	}
	client, err := queue.NewClient(ctx, cfg)
	if err != nil {
		return err
	}
	url, err := queue.URL(ctx, client, *name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	// A message left on the queue comes back once its visibility ends: stop at the first repeat.
	seen := map[string]bool{}
	for printed := 0; printed < *limit; {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(url),
			MaxNumberOfMessages:   int32(min(10, *limit-printed)),
			WaitTimeSeconds:       int32(min(20*time.Second, *wait) / time.Second),
			VisibilityTimeout:     int32(max(time.Second, *visibility) / time.Second),
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", *name, err)
		}
		if len(out.Messages) == 0 {
			return nil
		}
		fresh := 0
		for _, m := range out.Messages {
			if seen[aws.ToString(m.MessageId)] {
				continue
			}
			seen[aws.ToString(m.MessageId)] = true
			fresh++
			attrs := map[string]string{}
			for k, v := range m.MessageAttributes {
				attrs[k] = aws.ToString(v.StringValue)
			}
			var body any = aws.ToString(m.Body)
			if json.Valid([]byte(aws.ToString(m.Body))) {
				body = json.RawMessage(aws.ToString(m.Body))
			}
			if err := enc.Encode(map[string]any{"message_id": aws.ToString(m.MessageId), "attributes": attrs, "body": body}); err != nil {
				return err
			}
			printed++
			if *del {
				if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
					return fmt.Errorf("delete message %s: %w", aws.ToString(m.MessageId), err)
				}
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return nil
}

func getenvDefault(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}
