package queue

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DepthReader reads the approximate number of messages of queues by name with GetQueueAttributes. It
// looks a queue's URL up on its first read and again after a failed one (the queue may have been
// deleted and created again under a new URL). Its Read is what metrics.NewQueueDepth polls.
type DepthReader struct {
	client *sqs.Client

	mu   sync.Mutex
	urls map[string]string
}

// NewDepthReader returns a DepthReader using client (NewClient).
func NewDepthReader(client *sqs.Client) *DepthReader {
	return &DepthReader{client: client, urls: map[string]string{}}
}

// Read returns the messages of the queue called name waiting to be received (visible) and received but
// not yet deleted (in flight).
func (d *DepthReader) Read(ctx context.Context, name string) (visible, inFlight int64, err error) {
	d.mu.Lock()
	url, ok := d.urls[name]
	d.mu.Unlock()
	if !ok {
		if url, err = URL(ctx, d.client, name); err != nil {
			return 0, 0, err
		}
		d.mu.Lock()
		d.urls[name] = url
		d.mu.Unlock()
	}
	defer func() {
		if err != nil {
			d.mu.Lock()
			delete(d.urls, name)
			d.mu.Unlock()
		}
	}()
	out, err := d.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("queue %q attributes: %w", name, err)
	}
	if visible, err = attrInt(out.Attributes, types.QueueAttributeNameApproximateNumberOfMessages); err != nil {
		return 0, 0, fmt.Errorf("queue %q: %w", name, err)
	}
	if inFlight, err = attrInt(out.Attributes, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible); err != nil {
		return 0, 0, fmt.Errorf("queue %q: %w", name, err)
	}
	return visible, inFlight, nil
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
