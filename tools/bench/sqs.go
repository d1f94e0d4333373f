package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.yaml.in/yaml/v3"
)

// tapQueue is the queue the harness adds to the goaws configuration and subscribes to every SNS topic
// (raw delivery), so it can watch what the relay publishes without taking messages from a real consumer.
const tapQueue = "bench-tap"

// probeQueue is created by the harness to time goaws's own delivery (send → receive).
const probeQueue = "bench-probe"

// Topology is the queue and topic layout of the goaws configuration.
type Topology struct {
	Region    string   `json:"region"`
	AccountID string   `json:"account_id"`
	Queues    []string `json:"queues"`
	Topics    []Topic  `json:"topics"`
}

// Topic is an SNS topic and the queues subscribed to it.
type Topic struct {
	Name   string   `json:"name"`
	Queues []string `json:"queues"`
}

func (t Topology) hasQueue(name string) bool {
	for _, q := range t.Queues {
		if q == name {
			return true
		}
	}
	return false
}

func (t Topology) topicARN(name string) string {
	return "arn:aws:sns:" + t.Region + ":" + t.AccountID + ":" + name
}

// goawsFile is the part of goaws's YAML the harness reads.
type goawsFile struct {
	Local struct {
		Region    string `yaml:"Region"`
		AccountID string `yaml:"AccountId"`
		Queues    []struct {
			Name string `yaml:"Name"`
		} `yaml:"Queues"`
		Topics []struct {
			Name          string `yaml:"Name"`
			Subscriptions []struct {
				QueueName string `yaml:"QueueName"`
			} `yaml:"Subscriptions"`
		} `yaml:"Topics"`
	} `yaml:"Local"`
}

// readTopology reads the layout of a goaws configuration.
func readTopology(src []byte) (Topology, error) {
	var f goawsFile
	if err := yaml.Unmarshal(src, &f); err != nil {
		return Topology{}, fmt.Errorf("parse goaws config: %w", err)
	}
	t := Topology{Region: f.Local.Region, AccountID: f.Local.AccountID}
	if t.Region == "" {
		t.Region = "us-east-1"
	}
	for _, q := range f.Local.Queues {
		t.Queues = append(t.Queues, q.Name)
	}
	for _, tp := range f.Local.Topics {
		topic := Topic{Name: tp.Name}
		for _, s := range tp.Subscriptions {
			topic.Queues = append(topic.Queues, s.QueueName)
		}
		t.Topics = append(t.Topics, topic)
	}
	return t, nil
}

// deriveGoawsConfig rewrites a goaws configuration for the harness: its own port, and, when there are
// SNS topics, the tap queue subscribed to each of them. Everything else (queues, redrive policies,
// visibility timeouts, topics and their subscriptions) is kept, so the harness runs whatever topology the
// repository defines.
func deriveGoawsConfig(src []byte, port int) ([]byte, Topology, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, Topology{}, fmt.Errorf("parse goaws config: %w", err)
	}
	local, ok := doc["Local"].(map[string]any)
	if !ok {
		return nil, Topology{}, errors.New("goaws config: no Local section")
	}
	local["Port"] = strconv.Itoa(port)
	local["LogToFile"] = false
	if topics, _ := local["Topics"].([]any); len(topics) > 0 {
		queues, _ := local["Queues"].([]any)
		local["Queues"] = append(queues, map[string]any{"Name": tapQueue})
		for _, t := range topics {
			tm, ok := t.(map[string]any)
			if !ok {
				return nil, Topology{}, errors.New("goaws config: a topic is not a mapping")
			}
			subs, _ := tm["Subscriptions"].([]any)
			tm["Subscriptions"] = append(subs, map[string]any{"QueueName": tapQueue, "Raw": true})
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, Topology{}, fmt.Errorf("write goaws config: %w", err)
	}
	topo, err := readTopology(out)
	return out, topo, err
}

// sqsInfo is how the harness reaches SQS (and SNS) and what it found there.
type sqsInfo struct {
	endpoint string
	topo     Topology
	client   *sqs.Client
	http     *http.Client
	// commands and events are the queue names the processes use (ORDER_COMMANDS_QUEUE, ORDER_EVENTS_QUEUE).
	// ORDER_EVENTS_QUEUE is the older topology's: before the order-events topic, the relay sent to that one
	// queue. It is read so that the harness can still measure a tree of that time (the "before" runs).
	commands string
	events   string
	// dest is the queue the harness reads relayed events from: the tap when topics exist, else events.
	dest string
}

func newSQS(endpoint string, topo Topology) *sqsInfo {
	hc := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
	}
	c := sqs.New(sqs.Options{
		Region:       topo.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:   hc,
	})
	return &sqsInfo{endpoint: endpoint, topo: topo, client: c, http: hc}
}

func (s *sqsInfo) url(ctx context.Context, name string) (string, error) {
	out, err := s.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// purge empties queue name (goaws keeps everything in memory, and a long queue makes every receive
// slower, so each phase starts from empty queues).
func (s *sqsInfo) purge(ctx context.Context, name string) error {
	u, err := s.url(ctx, name)
	if err != nil {
		return err
	}
	if _, err := s.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
		return fmt.Errorf("purge %s: %w", name, err)
	}
	return nil
}

// purgeAll empties every queue of the topology.
func (s *sqsInfo) purgeAll(ctx context.Context) error {
	var errs []error
	for _, q := range s.topo.Queues {
		errs = append(errs, s.purge(ctx, q))
	}
	return errors.Join(errs...)
}

// snsPublishBatch publishes up to 10 messages to a topic with SNS's query protocol (what goaws speaks
// for SNS), without an SNS SDK client.
func (s *sqsInfo) snsPublishBatch(ctx context.Context, topicARN string, bodies []string) error {
	form := url.Values{"Action": {"PublishBatch"}, "Version": {"2010-03-31"}, "TopicArn": {topicARN}}
	for i, b := range bodies {
		p := "PublishBatchRequestEntries.member." + strconv.Itoa(i+1) + "."
		form.Set(p+"Id", "m"+strconv.Itoa(i))
		form.Set(p+"Message", b)
		// The attributes an event carries (as in the raw SendMessageBatch): goaws parses and copies each
		// one to every subscribed queue, so a baseline without them would do a fraction of the work.
		for j, k := range rawAttributes {
			a := p + "MessageAttributes.entry." + strconv.Itoa(j+1) + "."
			form.Set(a+"Name", k)
			form.Set(a+"Value.DataType", "String")
			form.Set(a+"Value.StringValue", k+"-value")
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("sns publish batch: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("sns publish batch: %w", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("sns publish batch: status %d: %.200s", res.StatusCode, body)
	}
	if strings.Contains(string(body), "<Failed><member>") {
		return fmt.Errorf("sns publish batch: entries failed: %.300s", body)
	}
	return nil
}

// startGoaws writes the derived configuration and starts goaws on a free port.
func (b *bench) startGoaws(ctx context.Context) error {
	src, err := os.ReadFile(b.o.goawsConfig)
	if err != nil {
		return fmt.Errorf("read goaws config: %w", err)
	}
	bin := filepath.Join(b.binDir, "goaws")
	if _, err := os.Stat(bin); err != nil {
		b.logf("%s has no goaws: building the pinned one", b.binDir)
		if bin, err = buildGoaws(ctx, b.root, b.tmp); err != nil {
			return err
		}
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		cfg, topo, err := deriveGoawsConfig(src, port)
		if err != nil {
			return err
		}
		path := filepath.Join(b.tmp, "goaws.yaml")
		if err := os.WriteFile(path, cfg, 0o644); err != nil {
			return fmt.Errorf("write goaws config: %w", err)
		}
		// goaws logs every message body at info.
		p, err := startProcess("goaws", bin, []string{"-config", path, "-loglevel", "warn"}, processEnv(b.env), filepath.Join(b.o.logsDir, "goaws.log"))
		if err != nil {
			return err
		}
		endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
		if err = waitHealthy(ctx, p, endpoint+"/health", 15*time.Second); err != nil {
			p.stop(time.Second)
			if attempt < 3 && ctx.Err() == nil {
				continue // most likely the port was taken in between
			}
			return err
		}
		b.goaws = p
		b.sqs = newSQS(endpoint, topo)
		b.logf("goaws is up on %s (pid %d): queues %v, topics %d", endpoint, p.pid(), topo.Queues, len(topo.Topics))
		return nil
	}
}

// resolveQueues names the command and event queues (from the processes' environment, defaults as the
// services have them) and where relayed events are read from.
func (b *bench) resolveQueues() error {
	s := b.sqs
	s.commands = b.env["ORDER_COMMANDS_QUEUE"]
	if s.commands == "" {
		s.commands = "order-commands"
	}
	s.events = b.env["ORDER_EVENTS_QUEUE"]
	if s.events == "" {
		s.events = "order-events"
	}
	switch {
	case len(s.topo.Topics) > 0 && s.topo.hasQueue(tapQueue):
		s.dest = tapQueue
	case s.topo.hasQueue(s.events):
		s.dest = s.events
	}
	if !s.topo.hasQueue(s.commands) {
		return fmt.Errorf("the goaws config has no queue %q (ORDER_COMMANDS_QUEUE)", s.commands)
	}
	return nil
}

// message is an event as read back from the destination queue.
type message struct {
	received   time.Time
	occurredAt time.Time
	eventID    string
	sent       time.Time // SQS SentTimestamp, zero if absent
}

// parseEventBody reads the envelope fields the lag needs from a relayed body: the event itself with raw
// delivery, or inside an SNS notification's Message without it.
func parseEventBody(body string) (eventID string, occurredAt time.Time, ok bool) {
	var env struct {
		EventID    string    `json:"event_id"`
		OccurredAt time.Time `json:"occurred_at"`
		Type       string    `json:"Type"`
		Message    string    `json:"Message"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return "", time.Time{}, false
	}
	if env.Type == "Notification" && env.Message != "" {
		return parseEventBody(env.Message)
	}
	return env.EventID, env.OccurredAt, !env.OccurredAt.IsZero()
}

// consumer reads and deletes messages from a queue with several long-polling receivers.
type consumer struct {
	cancel context.CancelFunc
	done   chan struct{}
	msgs   chan message
	errs   chan error
}

// consume starts receivers on queue; every message goes to the returned consumer's msgs channel.
func (s *sqsInfo) consume(ctx context.Context, queue string, receivers int) (*consumer, error) {
	u, err := s.url(ctx, queue)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &consumer{cancel: cancel, done: make(chan struct{}), msgs: make(chan message, 100_000), errs: make(chan error, 16)}
	finished := make(chan struct{}, receivers)
	for i := 0; i < receivers; i++ {
		go func() {
			defer func() { finished <- struct{}{} }()
			for ctx.Err() == nil {
				out, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
					QueueUrl:                    aws.String(u),
					MaxNumberOfMessages:         10,
					WaitTimeSeconds:             1,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp},
				})
				now := time.Now()
				if err != nil {
					if ctx.Err() == nil {
						select {
						case c.errs <- err:
						default:
						}
						sleep(ctx, 100*time.Millisecond)
					}
					continue
				}
				var del []types.DeleteMessageBatchRequestEntry
				for i, m := range out.Messages {
					msg := message{received: now}
					msg.eventID, msg.occurredAt, _ = parseEventBody(aws.ToString(m.Body))
					if ts, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
						msg.sent = time.UnixMilli(ts)
					}
					select {
					case c.msgs <- msg:
					default: // a reader that fell 100 000 behind loses figures, not the run
					}
					del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				if len(del) > 0 {
					if _, err := s.client.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(u), Entries: del}); err != nil {
						select {
						case c.errs <- err:
						default:
						}
					}
				}
			}
		}()
	}
	go func() {
		for i := 0; i < receivers; i++ {
			<-finished
		}
		close(c.done)
	}()
	return c, nil
}

func (c *consumer) stop() {
	c.cancel()
	<-c.done
}

func (s *sqsInfo) createProbeQueue(ctx context.Context) (string, error) {
	out, err := s.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(probeQueue)})
	if err != nil {
		return "", fmt.Errorf("create probe queue: %w", err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// checkSentTimestamp reports whether SQS's SentTimestamp is the time of the send: a message that waited
// 500 ms in the queue must carry a timestamp about 500 ms before its receive. (goaws sets it at receive.)
func (s *sqsInfo) checkSentTimestamp(ctx context.Context) (bool, error) {
	u, err := s.createProbeQueue(ctx)
	if err != nil {
		return false, err
	}
	defer s.client.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
	sentAt := time.Now()
	if _, err := s.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String("sent-timestamp")}); err != nil {
		return false, fmt.Errorf("check SentTimestamp: send: %w", err)
	}
	sleep(ctx, 500*time.Millisecond)
	rm, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp}})
	if err != nil {
		return false, fmt.Errorf("check SentTimestamp: receive: %w", err)
	}
	if len(rm.Messages) == 0 {
		return false, errors.New("check SentTimestamp: the message did not come back")
	}
	ts, err := strconv.ParseInt(rm.Messages[0].Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
	if err != nil {
		return false, fmt.Errorf("check SentTimestamp: no timestamp: %w", err)
	}
	return time.UnixMilli(ts).Sub(sentAt) < 250*time.Millisecond, nil
}
