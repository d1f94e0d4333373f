// Package queue is the SQS plumbing shared by every process that talks to a queue: configuration from
// the environment, the AWS SDK client, queue URL lookup, and watermill-aws publishers and subscribers
// set up the same way everywhere (queues are infrastructure and are never created on the fly, message
// metadata travels as message attributes).
package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/b2b/backoffice/internal/config"
)

// Config says how to reach SQS.
type Config struct {
	// Region defaults to us-east-1.
	Region string
	// Endpoint is a local SQS (goaws, LocalStack); empty means the normal AWS endpoint resolution.
	Endpoint string
	// AccessKeyID and SecretAccessKey are used only together with Endpoint (static credentials,
	// default "test"/"test"); against real AWS the default credential chain applies.
	AccessKeyID     string
	SecretAccessKey string
}

// LoadConfig reads AWS_REGION (default us-east-1), AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
func LoadConfig(l *config.Loader) Config {
	return Config{
		Region:          l.String("AWS_REGION", "us-east-1"),
		Endpoint:        l.String("AWS_ENDPOINT_URL", ""),
		AccessKeyID:     l.String("AWS_ACCESS_KEY_ID", ""),
		SecretAccessKey: l.Raw("AWS_SECRET_ACCESS_KEY"),
	}
}

// LogValue keeps the secret key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("region", c.Region),
		slog.String("endpoint", c.Endpoint),
		slog.String("access_key_id", c.AccessKeyID),
		slog.String("secret_access_key", config.Secret(c.SecretAccessKey)),
	)
}

// String keeps the secret key out of fmt output too.
func (c Config) String() string {
	return fmt.Sprintf("region=%s endpoint=%s access_key_id=%s secret_access_key=%s",
		c.Region, c.Endpoint, c.AccessKeyID, config.Secret(c.SecretAccessKey))
}

// httpTimeout bounds one SQS call. It must stay above the 20 s long-poll maximum of ReceiveMessage; it
// exists because watermill-aws sends with context.Background(), so a hung endpoint would otherwise hang
// the caller forever.
const httpTimeout = 45 * time.Second

// AWS returns the SDK configuration. With an Endpoint it is built from Config alone (no shared config
// files, static credentials), so a developer's ~/.aws cannot redirect local runs.
func (c Config) AWS(ctx context.Context) (aws.Config, error) {
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	httpClient := awshttp.NewBuildableClient().WithTimeout(httpTimeout)
	if c.Endpoint != "" {
		id, secret := c.AccessKeyID, c.SecretAccessKey
		if id == "" {
			id = "test"
		}
		if secret == "" {
			secret = "test"
		}
		return aws.Config{
			Region:      region,
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, "")),
			HTTPClient:  bodyOnlyClient{httpClient},
			Retryer:     newRetryer,
		}, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion(region),
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(newRetryer),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	// Wrapped after loading: the loader configures the buildable client itself (a custom CA bundle).
	cfg.HTTPClient = bodyOnlyClient{cfg.HTTPClient}
	return cfg, nil
}

// bodyOnlyClient hides io.WriterTo on request bodies. smithy-go's request body implements WriterTo and
// answers (0, io.EOF) once closed, which the SDK does as soon as Do returns; net/http, which may still
// drain the body after writing it (transfer.go), takes that EOF for a write error and closes the
// connection while the response is being read. A ReceiveMessage answer too large to be buffered by then
// fails with "use of closed network connection", the SDK retries it silently, and the messages the
// first attempt received come back only a visibility timeout later (measured: 0.02–0.13 % of 35 000
// messages through goaws, 0 with this wrapper). With only Read and Close, net/http reads the body
// itself and a closed body reads as empty, not as an error.
type bodyOnlyClient struct{ aws.HTTPClient }

func (c bodyOnlyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.HTTPClient.Do(r)
}

// newRetryer is the SDK's standard retryer without its client-side retry quota: callers here retry
// outages themselves, and an exhausted quota would turn a short outage into "retry quota exceeded"
// failures that last until the next success.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
}

// Options returns the SQS client options: the endpoint override, when set.
func (c Config) Options() []func(*sqs.Options) {
	if c.Endpoint == "" {
		return nil
	}
	endpoint := c.Endpoint
	return []func(*sqs.Options){func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) }}
}

// NewClient returns an SQS client for c.
func NewClient(ctx context.Context, c Config) (*sqs.Client, error) {
	cfg, err := c.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, c.Options()...), nil
}

// URL returns the URL of the queue called name (GetQueueUrl).
func URL(ctx context.Context, client *sqs.Client, name string) (string, error) {
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue %q: %w", name, err)
	}
	if out.QueueUrl == nil {
		return "", fmt.Errorf("queue %q: no URL returned", name)
	}
	return *out.QueueUrl, nil
}

// NewPublisher returns a watermill-aws SQS publisher. The topic passed to Publish is the queue name,
// resolved once by GetQueueUrl and cached. Queues are never created by it: a missing queue is an error.
// Metadata becomes String message attributes, plus the message UUID as _watermill_message_uuid; SQS
// allows 10 attributes per message, so at most 9 metadata keys.
func NewPublisher(c Config, log *slog.Logger) (message.Publisher, error) {
	cfg, err := c.AWS(context.Background())
	if err != nil {
		return nil, err
	}
	pub, err := wsqs.NewPublisher(wsqs.PublisherConfig{
		AWSConfig:                   cfg,
		OptFns:                      c.Options(),
		DoNotCreateQueueIfNotExists: true,
	}, WatermillLogger(log))
	if err != nil {
		return nil, fmt.Errorf("sqs publisher: %w", err)
	}
	return pub, nil
}

// Publish is pub.Publish bounded by ctx. watermill-aws sends with context.Background(), so a hung or
// unreachable endpoint holds Publish for the SDK's retries of httpTimeout each; a caller with a deadline
// of its own (a request being answered) gets ctx's error when ctx ends first. The send itself goes on in
// the background until the SDK gives up, so the message may still arrive: callers must treat that error
// as "unknown", never as "not sent".
func Publish(ctx context.Context, pub message.Publisher, topic string, msgs ...*message.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- pub.Publish(topic, msgs...) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("publish to %s: %w", topic, context.Cause(ctx))
	}
}

// SubscriberOptions tune a subscriber. Zero values take the defaults noted on each field.
type SubscriberOptions struct {
	// VisibilityTimeout of received messages; 0 keeps the queue's own setting. A nacked message
	// comes back only after it.
	VisibilityTimeout time.Duration
	// MaxMessages per ReceiveMessage call, 1..10 (default 1). Above 1, a nack costs the messages
	// received after it in the same call a receive (see NewSubscriber): only raise it for handlers
	// that never nack a message for a reason of its own.
	MaxMessages int32
	// Wait is the long-poll time of one ReceiveMessage call, at most 20 s (default 20 s).
	Wait time.Duration
	// Workers is the number of goroutines receiving and handling concurrently (default 1).
	Workers int
}

// NewSubscriber returns a watermill-aws SQS subscriber; the topic passed to Subscribe is the queue
// name. Message attributes come back as metadata and _watermill_message_uuid as the UUID.
//
// watermill-aws does not change visibility on nack and abandons the rest of that receive batch, so
// nacked messages (and the ones after them in the batch) return after VisibilityTimeout; redrive to
// the dead-letter queue is the queue's RedrivePolicy. Each of those abandoned messages was received
// without being handled, and every receive counts towards the redrive: with batches, one poison
// message nacked 5 times would take the messages queued behind it to the dead-letter queue unhandled.
// That is why a receive takes one message unless MaxMessages says otherwise.
func NewSubscriber(c Config, log *slog.Logger, o SubscriberOptions) (message.Subscriber, error) {
	if o.MaxMessages < 0 || o.MaxMessages > 10 {
		return nil, errors.New("sqs subscriber: MaxMessages must be from 1 to 10")
	}
	if o.Wait > 20*time.Second {
		return nil, errors.New("sqs subscriber: Wait must be at most 20s")
	}
	maxMessages := o.MaxMessages
	if maxMessages == 0 {
		maxMessages = 1
	}
	wait := int32(20)
	if o.Wait > 0 {
		wait = int32(o.Wait / time.Second)
	}
	visibility := int32(o.VisibilityTimeout / time.Second)
	if o.VisibilityTimeout > 0 && visibility == 0 {
		visibility = 1
	}

	cfg, err := c.AWS(context.Background())
	if err != nil {
		return nil, err
	}
	sub, err := wsqs.NewSubscriber(wsqs.SubscriberConfig{
		AWSConfig:                   cfg,
		OptFns:                      c.Options(),
		DoNotCreateQueueIfNotExists: true,
		ConsumeWorkers:              o.Workers,
		GenerateReceiveMessageInput: func(ctx context.Context, url wsqs.QueueURL) (*sqs.ReceiveMessageInput, error) {
			return &sqs.ReceiveMessageInput{
				QueueUrl:              aws.String(string(url)),
				MessageAttributeNames: []string{"All"},
				MaxNumberOfMessages:   maxMessages,
				WaitTimeSeconds:       wait,
				VisibilityTimeout:     visibility,

				// For ReceiveCount: SQS sends it only when asked.
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			}, nil
		},
		Unmarshaler: receiveCountUnmarshaler{},
	}, WatermillLogger(log))
	if err != nil {
		return nil, fmt.Errorf("sqs subscriber: %w", err)
	}
	return sub, nil
}

// MetaReceiveCount is the metadata key under which a subscriber of NewSubscriber puts SQS's
// ApproximateReceiveCount of a received message. watermill-aws does not pass the message's system
// attributes on, so the subscriber asks for this one and its unmarshaler copies it into the metadata.
const MetaReceiveCount = "_sqs_approximate_receive_count"

// ReceiveCount is how many times msg has been received, as SQS counts it: 1 on its first delivery,
// more after a nack, a crash or an expired visibility timeout; 0 when unknown (not received through
// NewSubscriber). It is approximate, like SQS's own count, and never a reason to treat a message
// differently: idempotency does that. goaws v0.5.4 says 1 on every delivery (it never counts receives
// up, though its redrive counts them), so locally it tells nothing.
func ReceiveCount(msg *message.Message) int {
	n, _ := strconv.Atoi(msg.Metadata.Get(MetaReceiveCount))
	return n
}

// receiveCountUnmarshaler is watermill-aws's unmarshaler plus MetaReceiveCount.
type receiveCountUnmarshaler struct {
	wsqs.DefaultMarshalerUnmarshaler
}

func (u receiveCountUnmarshaler) Unmarshal(m *types.Message) (*message.Message, error) {
	msg, err := u.DefaultMarshalerUnmarshaler.Unmarshal(m)
	if err != nil {
		return nil, err
	}
	if n, ok := m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; ok {
		msg.Metadata.Set(MetaReceiveCount, n)
	}
	return msg, nil
}

// WatermillLogger adapts log for watermill. Watermill's Info messages (handler started, subscribed…)
// are routine and go to Debug; its Trace messages are dropped below Debug.
func WatermillLogger(log *slog.Logger) watermill.LoggerAdapter {
	if log == nil {
		log = slog.Default()
	}
	return watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
}
