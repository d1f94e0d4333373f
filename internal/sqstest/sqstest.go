// Package sqstest runs a real local SQS (goaws, pinned as a go.mod tool) for tests: each Start gets its
// own goaws process on a free loopback port with the queues the test names (each with a dead-letter
// queue), stopped when the test ends.
//
// goaws is built once per machine and go.sum (a cold build takes ~40 s) into
// os.TempDir()/backoffice-goaws-<hash>, guarded by a lock file so parallel test binaries share it.
// goaws keeps messages in memory only: Stop loses whatever is still queued.
package sqstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/b2b/backoffice/internal/queue"
)

// Region and AccountID are the ones goaws is configured with (they appear in queue ARNs).
const (
	Region    = "us-east-1"
	AccountID = "100010001000"
)

// Options tune the goaws instance.
type Options struct {
	// VisibilityTimeout of every queue, whole seconds, at least 1 s (default DefaultVisibilityTimeout).
	// Tests that wait for a redelivery poll with a deadline longer than this.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is the RedrivePolicy of each queue towards its "-dlq" (default 5).
	MaxReceiveCount int
	// Topics are SNS topics, each with the queues subscribed to it (raw message delivery: the body and
	// the attributes arrive as published). Subscribed queues not named in Start's queues are added.
	Topics map[string][]string
}

// DefaultVisibilityTimeout is short so that nacked messages come back quickly in tests.
const DefaultVisibilityTimeout = 3 * time.Second

// Server is a running goaws.
type Server struct {
	// Endpoint is the base URL to use as AWS_ENDPOINT_URL.
	Endpoint string
	// Queues are the queue names configured, dead-letter queues included.
	Queues []string

	t      testing.TB
	bin    string
	dir    string
	port   int
	client *sqs.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *tail
	urls map[string]string
}

// Start starts goaws with queues (and "<queue>-dlq" for each) and stops it when t ends.
func Start(t testing.TB, queues ...string) *Server {
	t.Helper()
	return StartWith(t, Options{}, queues...)
}

// StartWith is Start with options.
func StartWith(t testing.TB, o Options, queues ...string) *Server {
	t.Helper()
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if o.MaxReceiveCount <= 0 {
		o.MaxReceiveCount = 5
	}
	bin, err := binary()
	if err != nil {
		t.Fatalf("sqstest: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), urls: map[string]string{}}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("sqstest: free port: %v", err)
		}
		if err := s.writeConfig(o, queues); err != nil {
			t.Fatalf("sqstest: %v", err)
		}
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.port)
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("sqstest: start goaws: %v", lastErr)
	}
	s.client, err = queue.NewClient(context.Background(), s.Config())
	if err != nil {
		t.Fatalf("sqstest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out := s.out.String(); out != "" {
				t.Logf("goaws output (tail):\n%s", out)
			}
		}
		s.Stop()
	})
	return s
}

// Config returns the queue configuration that reaches this server.
func (s *Server) Config() queue.Config {
	return queue.Config{Region: Region, Endpoint: s.Endpoint, AccessKeyID: "test", SecretAccessKey: "test"}
}

// Client returns an SQS client for this server.
func (s *Server) Client() *sqs.Client { return s.client }

// TopicARN returns the ARN of the SNS topic name, as goaws names it.
func TopicARN(name string) string { return "arn:aws:sns:" + Region + ":" + AccountID + ":" + name }

// URL returns the queue URL of name (as goaws reports it; requests always go to Endpoint).
func (s *Server) URL(t testing.TB, name string) string {
	t.Helper()
	s.mu.Lock()
	u, ok := s.urls[name]
	s.mu.Unlock()
	if ok {
		return u
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := queue.URL(ctx, s.client, name)
	if err != nil {
		t.Fatalf("sqstest: %v", err)
	}
	s.mu.Lock()
	s.urls[name] = u
	s.mu.Unlock()
	return u
}

// Stop kills goaws; queued messages are lost (goaws keeps them in memory). Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Start restarts a stopped goaws on the same port with the same (empty) queues.
func (s *Server) Start() {
	s.t.Helper()
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel has not released it yet.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err = s.start(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("sqstest: restart goaws: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	out := &tail{max: 16 << 10}
	cmd := exec.Command(s.bin, "-config", filepath.Join(s.dir, "goaws.yaml"), "-loglevel", "warn")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	// Ready when /health answers; an early exit means the port was taken or the config is bad.
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("goaws exited at start: %s", strings.TrimSpace(out.String()))
		default:
		}
		resp, err := client.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("goaws not answering on %s: %v", s.Endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd, s.done, s.out = cmd, done, out
	return nil
}

func (s *Server) writeConfig(o Options, queues []string) error {
	for _, subs := range o.Topics {
		for _, q := range subs {
			if !slices.Contains(queues, q) {
				queues = append(queues, q)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Local:\n  Host: localhost\n  Port: %q\n  Region: %s\n  AccountId: %q\n", strconv.Itoa(s.port), Region, AccountID)
	b.WriteString("  LogToFile: false\n  EnableDuplicates: false\n")
	fmt.Fprintf(&b, "  QueueAttributeDefaults:\n    VisibilityTimeout: %d\n    ReceiveMessageWaitTimeSeconds: 0\n    MaximumMessageSize: 262144\n",
		max(1, int(o.VisibilityTimeout/time.Second)))
	b.WriteString("  Queues:\n")
	s.Queues = s.Queues[:0]
	for _, q := range queues {
		dlq := q + "-dlq"
		fmt.Fprintf(&b, "    - Name: %s\n      RedrivePolicy: '{\"maxReceiveCount\": %d, \"deadLetterTargetArn\": \"arn:aws:sqs:%s:%s:%s\"}'\n",
			q, o.MaxReceiveCount, Region, AccountID, dlq)
		fmt.Fprintf(&b, "    - Name: %s\n", dlq)
		s.Queues = append(s.Queues, q, dlq)
	}
	if len(o.Topics) == 0 {
		b.WriteString("  Topics: []\n")
	} else {
		b.WriteString("  Topics:\n")
		for _, topic := range slices.Sorted(maps.Keys(o.Topics)) {
			fmt.Fprintf(&b, "    - Name: %s\n      Subscriptions:\n", topic)
			for _, q := range o.Topics[topic] {
				fmt.Fprintf(&b, "        - QueueName: %s\n          Raw: true\n", q)
			}
		}
	}
	b.WriteString("  RandomLatency:\n    Min: 0\n    Max: 0\n")
	return os.WriteFile(filepath.Join(s.dir, "goaws.yaml"), []byte(b.String()), 0o644)
}

// Message is a received SQS message.
type Message struct {
	ID   string
	Body string
	// Attributes are the String message attributes (watermill metadata, _watermill_message_uuid).
	Attributes map[string]string
	// ReceiveCount is SQS's ApproximateReceiveCount.
	ReceiveCount int
}

// Receive returns up to max messages from queue, waiting up to 2 s for the first ones, and deletes
// them. It may return fewer than max, or none.
func (s *Server) Receive(t testing.TB, queueName string, max int) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []Message
	wait := int32(2)
	for len(got) < max {
		msgs, err := s.receive(ctx, s.URL(t, queueName), int32(min(10, max-len(got))), wait)
		if err != nil {
			t.Fatalf("sqstest: receive from %s: %v", queueName, err)
		}
		if len(msgs) == 0 {
			break
		}
		got = append(got, msgs...)
		wait = 0
	}
	return got
}

// Collect receives and deletes messages from queue until n have arrived or timeout passes, and
// returns what arrived (fail on a short count yourself, with your own message).
func (s *Server) Collect(t testing.TB, queueName string, n int, timeout time.Duration) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	url := s.URL(t, queueName)
	var got []Message
	for len(got) < n && ctx.Err() == nil {
		msgs, err := s.receive(ctx, url, 10, 1)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			t.Fatalf("sqstest: receive from %s: %v", queueName, err)
		}
		got = append(got, msgs...)
	}
	return got
}

// Drain receives and deletes every message of queue until a 1-second long poll comes back empty.
func (s *Server) Drain(ctx context.Context, queueName string) ([]Message, error) {
	url, err := queue.URL(ctx, s.client, queueName)
	if err != nil {
		return nil, err
	}
	var got []Message
	for {
		msgs, err := s.receive(ctx, url, 10, 1)
		if err != nil {
			return got, err
		}
		if len(msgs) == 0 {
			return got, nil
		}
		got = append(got, msgs...)
	}
}

func (s *Server) receive(ctx context.Context, url string, max, wait int32) ([]Message, error) {
	out, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         max,
		WaitTimeSeconds:             wait,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, err
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: map[string]string{}}
		for k, v := range m.MessageAttributes {
			msg.Attributes[k] = aws.ToString(v.StringValue)
		}
		msg.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if _, err := s.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return nil, fmt.Errorf("delete message %s: %w", msg.ID, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Send puts a message with String attributes on queue.
func (s *Server) Send(t testing.TB, queueName, body string, attrs map[string]string) {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(s.URL(t, queueName)), MessageBody: aws.String(body)}
	if len(attrs) > 0 {
		in.MessageAttributes = map[string]types.MessageAttributeValue{}
		for k, v := range attrs {
			in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.client.SendMessage(ctx, in); err != nil {
		t.Fatalf("sqstest: send to %s: %v", queueName, err)
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary returns the path of the goaws binary, building it once per go.sum into a shared cache.
func binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = build() })
	return binPath, binErr
}

func build() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(sum)
	dir := filepath.Join(os.TempDir(), "backoffice-goaws-"+hex.EncodeToString(h[:8]))
	bin := filepath.Join(dir, "goaws")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	// Another test binary may be building it right now: wait for it, then use its result.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-o", tmp, "github.com/Admiral-Piett/goaws/app/cmd")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build goaws: %v: %s", err, out.String())
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

func (w *tail) String() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
