package relay_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/go-sql-driver/mysql"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/outbox/relay"
)

// The relay publishes to the topic; two queues are subscribed to it, as consumers are. Tests read what
// arrived on eventsQueue.
const (
	eventsTopic = "order-events"
	eventsQueue = "consumer-a"
	secondQueue = "consumer-b"
)

// env is one test's outbox database, goaws and relay log.
type env struct {
	t   testing.TB
	db  *dbtest.DB
	sqs *sqstest.Server
	log *logBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := sqstest.StartWith(t, sqstest.Options{Topics: map[string][]string{eventsTopic: {eventsQueue, secondQueue}}})
	return &env{t: t, db: dbtest.New(t, "orders"), sqs: srv, log: &logBuffer{}}
}

// relayDB is a pool on the test database as the relay binary opens it: several statements in one Exec.
func (e *env) relayDB() *sql.DB {
	e.t.Helper()
	cfg, err := mysql.ParseDSN(e.db.DSN)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.MultiStatements = true
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	db := sql.OpenDB(c)
	e.t.Cleanup(func() { db.Close() })
	return db
}

// topic is the relay's destination on this test's goaws.
func (e *env) topic() queue.Batcher {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic, err := queue.NewTopic(ctx, e.sqs.Config(), eventsTopic)
	if err != nil {
		e.t.Fatal(err)
	}
	return topic
}

// startRelay runs a relay on the test database until the test ends (or stop is called) and returns it.
// wrap, when not nil, decorates the real destination (slow sends, recording the send order).
func (e *env) startRelay(o relay.Options, wrap func(queue.Batcher) queue.Batcher) (*relay.Relay, func()) {
	e.t.Helper()
	dest := e.topic()
	if wrap != nil {
		dest = wrap(dest)
	}
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := relay.New(e.relayDB(), dest, o)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		e.t.Fatalf("relay stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("relay not running after 30 s")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("relay Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return r, stop
}

// newEvent returns an order event of order id at version v.
func newEvent(t testing.TB, id int64, v int, corr string) events.Envelope {
	t.Helper()
	typ := events.OrderCreated
	if v > 1 {
		typ = events.OrderConfirmed
	}
	ev, err := events.New(typ, events.AggregateOrder, strconv.FormatInt(id, 10), v, corr,
		map[string]any{"id": id, "status": "CREATED"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// publish writes evs in one committed transaction.
func publish(t testing.TB, db *sql.DB, evs ...events.Envelope) {
	t.Helper()
	err := sqldb.InTx(context.Background(), db, func(tx *sql.Tx) error {
		return outbox.Publish(context.Background(), tx, evs...)
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// received decodes the event ids of messages, counting each id's deliveries.
func received(t testing.TB, msgs []sqstest.Message) map[string]int {
	t.Helper()
	got := make(map[string]int, len(msgs))
	for _, m := range msgs {
		var ev events.Envelope
		if err := json.Unmarshal([]byte(m.Body), &ev); err != nil {
			t.Fatalf("message body is not an event: %v: %.200s", err, m.Body)
		}
		if m.Attributes["_watermill_message_uuid"] != ev.EventID {
			t.Fatalf("message uuid attribute %q, want the event id %q", m.Attributes["_watermill_message_uuid"], ev.EventID)
		}
		got[ev.EventID]++
	}
	return got
}

// collectIDs reads the queue until every id in want arrived (or timeout), then keeps reading until the
// queue is empty so that duplicates are counted too.
func (e *env) collectIDs(want map[string]bool, timeout time.Duration) map[string]int {
	e.t.Helper()
	got := map[string]int{}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		missing := 0
		for id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		for id, n := range received(e.t, e.sqs.Collect(e.t, eventsQueue, missing, time.Until(deadline))) {
			got[id] += n
		}
	}
	rest, err := e.sqs.Drain(context.Background(), eventsQueue)
	if err != nil {
		e.t.Fatalf("drain: %v", err)
	}
	for id, n := range received(e.t, rest) {
		got[id] += n
	}
	return got
}

// checkDelivery fails unless every wanted id arrived and nothing else did; it returns the number of
// extra deliveries (duplicates).
func checkDelivery(t *testing.T, want map[string]bool, got map[string]int) (duplicates int) {
	t.Helper()
	var missing, unknown []string
	for id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range got {
		if !want[id] {
			unknown = append(unknown, id)
		}
		duplicates += n - 1
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d committed events never arrived (first: %v)", len(missing), len(want), first(missing))
	}
	if len(unknown) > 0 {
		t.Errorf("%d events arrived that were never committed (first: %v)", len(unknown), first(unknown))
	}
	return duplicates
}

func first(s []string) []string { return s[:min(3, len(s))] }

// outboxRows counts the rows left in the outbox (parked included).
func outboxRows(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scale reads an integer knob from the environment, so the load tests can be made heavier by hand.
func scale(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the decoded log lines whose msg is msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// slowBatcher delays each send: it keeps the relay's batch transaction open long, the situation in
// which producers could be held up by the relay or commits could be missed.
type slowBatcher struct {
	queue.Batcher
	delay func() time.Duration
}

func (b slowBatcher) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	time.Sleep(b.delay())
	return b.Batcher.SendBatch(ctx, msgs)
}

// recordingBatcher remembers the order in which events were accepted.
type recordingBatcher struct {
	queue.Batcher
	mu   sync.Mutex
	sent []*message.Message
}

func (b *recordingBatcher) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	refused, err := b.Batcher.SendBatch(ctx, msgs)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	for i, m := range msgs {
		if refused[i] == nil {
			b.sent = append(b.sent, m)
		}
	}
	b.mu.Unlock()
	return refused, nil
}

func (b *recordingBatcher) messages() []*message.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*message.Message(nil), b.sent...)
}
