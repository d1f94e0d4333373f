package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	wsns "github.com/ThreeDotsLabs/watermill-aws/sns"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Limits of one batch call, the same for SNS PublishBatch and SQS SendMessageBatch.
const (
	MaxBatch      = 10
	MaxBatchBytes = 256 * 1024
)

// Batcher sends messages up to MaxBatch (and MaxBatchBytes) per call, in watermill-aws's message
// format: the payload as body, each metadata key a String attribute, the UUID as
// _watermill_message_uuid. A consumer reads them with NewSubscriber like any watermill message.
type Batcher interface {
	// SendBatch sends msgs. err is a failure of the whole call: nothing may be assumed sent (or not
	// sent). Otherwise refused[i] is why msgs[i] was refused, nil when it was accepted.
	SendBatch(ctx context.Context, msgs []*message.Message) (refused []error, err error)
	// Destination is where the messages go (a topic ARN or a queue URL).
	Destination() string
	// MaxBatch is the most messages one SendBatch takes (at most MaxBatch).
	MaxBatch() int
}

// EntryError is the refusal of one message of a batch.
type EntryError struct {
	Code    string
	Message string
	// SenderFault is set when the message itself is at fault (retrying it unchanged cannot help);
	// otherwise the service failed on it and a retry may pass.
	SenderFault bool
}

func (e *EntryError) Error() string {
	if e.SenderFault {
		return fmt.Sprintf("refused (%s): %s", e.Code, e.Message)
	}
	return fmt.Sprintf("failed (%s): %s", e.Code, e.Message)
}

// BatchBytes is what a message counts towards MaxBatchBytes: its body and its attributes.
func BatchBytes(msg *message.Message) int {
	n := len(msg.Payload) + len(wsqs.UUIDAttribute) + len(msg.UUID)
	for k, v := range msg.Metadata {
		n += len(k) + len(v)
	}
	return n
}

// Topic is an SNS topic as a Batcher (PublishBatch).
type Topic struct {
	client *sns.Client
	arn    string
	max    int
}

// goawsSNSBatch is the largest PublishBatch goaws v0.5.4 accepts: it counts the entries before dropping
// the empty one its form decoder puts at index 0, so ten entries are "more than 10".
const goawsSNSBatch = 9

// NewTopic returns the SNS topic name (or a topic ARN) as a Batcher. A name is resolved to its ARN
// once, by listing the topics: topics are infrastructure, never created here.
func NewTopic(ctx context.Context, c Config, name string) (*Topic, error) {
	cfg, err := c.AWS(ctx)
	if err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(cfg, c.snsOptions()...)
	t := &Topic{client: client, arn: name, max: MaxBatch}
	if c.Endpoint != "" {
		t.max = goawsSNSBatch // a local emulator; LocalStack takes 10, goaws 9
	}
	if !strings.HasPrefix(name, "arn:") {
		if t.arn, err = TopicARN(ctx, client, name); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// NewSNSClient returns an SNS client for c.
func NewSNSClient(ctx context.Context, c Config) (*sns.Client, error) {
	cfg, err := c.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return sns.NewFromConfig(cfg, c.snsOptions()...), nil
}

func (c Config) snsOptions() []func(*sns.Options) {
	if c.Endpoint == "" {
		return nil
	}
	endpoint := c.Endpoint
	return []func(*sns.Options){func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) }}
}

// ErrNoTopic is returned by TopicARN for a topic that does not exist.
var ErrNoTopic = errors.New("topic does not exist")

// TopicARN finds the ARN of the topic called name.
func TopicARN(ctx context.Context, client *sns.Client, name string) (string, error) {
	p := sns.NewListTopicsPaginator(client, &sns.ListTopicsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("topic %q: %w", name, err)
		}
		for _, t := range page.Topics {
			if arn := aws.ToString(t.TopicArn); strings.HasSuffix(arn, ":"+name) {
				return arn, nil
			}
		}
	}
	return "", fmt.Errorf("topic %q: %w", name, ErrNoTopic)
}

// Destination is the topic's ARN.
func (t *Topic) Destination() string { return t.arn }

// MaxBatch is 10, or 9 against a local emulator (see goawsSNSBatch).
func (t *Topic) MaxBatch() int { return t.max }

// SendBatch publishes msgs with one PublishBatch call.
func (t *Topic) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	entries := make([]snstypes.PublishBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		in := wsns.DefaultMarshalerUnmarshaler{}.Marshal(wsns.TopicArn(t.arn), m)
		entries[i] = snstypes.PublishBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			Message:           in.Message,
			MessageAttributes: in.MessageAttributes,
		}
	}
	out, err := t.client.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(t.arn), PublishBatchRequestEntries: entries})
	if err != nil {
		return nil, err
	}
	refused := make([]error, len(msgs))
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(msgs) {
			refused[i] = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
		}
	}
	return refused, nil
}

// Queue is an SQS queue as a Batcher (SendMessageBatch).
type Queue struct {
	client *sqs.Client
	url    string
}

// NewQueue returns the SQS queue name as a Batcher; its URL is resolved once.
func NewQueue(ctx context.Context, c Config, name string) (*Queue, error) {
	client, err := NewClient(ctx, c)
	if err != nil {
		return nil, err
	}
	url, err := URL(ctx, client, name)
	if err != nil {
		return nil, err
	}
	return &Queue{client: client, url: url}, nil
}

// Destination is the queue's URL.
func (q *Queue) Destination() string { return q.url }

// MaxBatch is 10.
func (q *Queue) MaxBatch() int { return MaxBatch }

// SendBatch sends msgs with one SendMessageBatch call.
func (q *Queue) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		sm, err := wsqs.DefaultMarshalerUnmarshaler{}.Marshal(m)
		if err != nil {
			return nil, err
		}
		entries[i] = sqstypes.SendMessageBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			MessageBody:       sm.Body,
			MessageAttributes: sm.MessageAttributes,
		}
	}
	out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
	if err != nil {
		return nil, err
	}
	refused := make([]error, len(msgs))
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(msgs) {
			refused[i] = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
		}
	}
	return refused, nil
}
