package relay_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/outbox/relay"
)

// TestRelayDeliversEventsWithAttributes: the relay publishes to the topic, and each queue subscribed to
// it receives every event, body unchanged, with the event id and routing fields as attributes.
func TestRelayDeliversEventsWithAttributes(t *testing.T) {
	e := newEnv(t)
	evs := []events.Envelope{newEvent(t, 7, 1, "corr-7"), newEvent(t, 7, 2, "corr-7b"), newEvent(t, 8, 1, "")}
	publish(t, e.db.DB, evs[:2]...)
	publish(t, e.db.DB, evs[2])

	r, _ := e.startRelay(relay.Options{}, nil)
	for _, q := range []string{eventsQueue, secondQueue} {
		msgs := e.sqs.Collect(t, q, 3, 30*time.Second)
		if len(msgs) != 3 {
			t.Fatalf("%s: got %d messages, want 3", q, len(msgs))
		}
		checkMessages(t, q, msgs, evs)
	}
	// Delivered rows do not accumulate.
	waitFor(t, 10*time.Second, "outbox emptied", func() bool { return outboxRows(t, e.db.DB) == 0 })
	if got := r.Delivered(); got != 3 {
		t.Errorf("Delivered() = %d, want 3", got)
	}
	lag, err := r.Lag(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lag != (outbox.Lag{}) {
		t.Errorf("lag after delivery: %+v, want zero", lag)
	}
}

// checkMessages compares the messages a queue received with the events: each event once, body and
// attributes; one order's events in version order (events of different orders may interleave).
func checkMessages(t *testing.T, q string, msgs []sqstest.Message, evs []events.Envelope) {
	t.Helper()
	byID := map[string]events.Envelope{}
	for _, ev := range evs {
		byID[ev.EventID] = ev
	}
	lastVersion := map[string]int{}
	for i, m := range msgs {
		var got events.Envelope
		if err := json.Unmarshal([]byte(m.Body), &got); err != nil {
			t.Fatal(err)
		}
		want, ok := byID[got.EventID]
		if !ok {
			t.Errorf("%s message %d: event %s not expected, or received twice", q, i, got.EventID)
			continue
		}
		delete(byID, got.EventID)
		if got.AggregateVersion <= lastVersion[got.AggregateID] {
			t.Errorf("%s message %d: order %s version %d after version %d", q, i, got.AggregateID, got.AggregateVersion, lastVersion[got.AggregateID])
		}
		lastVersion[got.AggregateID] = got.AggregateVersion
		if got.EventID != want.EventID || got.Type != want.Type || got.AggregateVersion != want.AggregateVersion {
			t.Errorf("%s message %d: got %s %s v%d, want %s %s v%d", q, i, got.EventID, got.Type, got.AggregateVersion, want.EventID, want.Type, want.AggregateVersion)
		}
		wantAttrs := map[string]string{
			"_watermill_message_uuid":   want.EventID,
			events.MetaEventType:        want.Type,
			events.MetaAggregateType:    "order",
			events.MetaAggregateID:      want.AggregateID,
			events.MetaAggregateVersion: itoa(want.AggregateVersion),
		}
		if want.CorrelationID != "" {
			wantAttrs[events.MetaCorrelationID] = want.CorrelationID
		}
		if len(m.Attributes) != len(wantAttrs) {
			t.Errorf("%s message %d: attributes %v, want %v", q, i, m.Attributes, wantAttrs)
		}
		for k, v := range wantAttrs {
			if m.Attributes[k] != v {
				t.Errorf("%s message %d: attribute %s = %q, want %q", q, i, k, m.Attributes[k], v)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// insertRaw writes an outbox row directly, the way no producer would: for events that can never be sent.
func insertRaw(t *testing.T, db *sql.DB, uuid, payload, metadata string) int64 {
	t.Helper()
	res, err := db.Exec("INSERT INTO outbox (uuid, payload, metadata) VALUES (?, ?, ?)", uuid, payload, metadata)
	if err != nil {
		t.Fatal(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPoisonEventsAreParkedAndTheRestFlow(t *testing.T) {
	e := newEnv(t)
	before := []events.Envelope{newEvent(t, 1, 1, ""), newEvent(t, 2, 1, "")}
	publish(t, e.db.DB, before...)
	huge := insertRaw(t, e.db.DB, "11111111-1111-4111-8111-111111111111",
		`{"pad":"`+strings.Repeat("x", outbox.MaxPayloadBytes)+`"}`, `{"event_type":"order.created"}`)
	badMeta := insertRaw(t, e.db.DB, "22222222-2222-4222-8222-222222222222", `{}`, `[1,2]`)
	after := []events.Envelope{newEvent(t, 3, 1, ""), newEvent(t, 4, 1, "")}
	publish(t, e.db.DB, after...)

	r, _ := e.startRelay(relay.Options{MaxAttempts: 3, RetryBackoff: 10 * time.Millisecond, LagInterval: 50 * time.Millisecond}, nil)
	want := map[string]bool{}
	for _, ev := range append(before, after...) {
		want[ev.EventID] = true
	}
	got := e.collectIDs(want, 30*time.Second)
	checkDelivery(t, want, got)

	waitFor(t, 10*time.Second, "two parked events", func() bool {
		lag, err := r.Lag(context.Background())
		return err == nil && lag.Parked == 2 && lag.Pending == 0
	})
	for _, tc := range []struct {
		offset int64
		error  string
	}{{huge, "over the 262144-byte SQS limit"}, {badMeta, "metadata is not a JSON object"}} {
		var parkedAt sql.NullTime
		var lastErr sql.NullString
		if err := e.db.QueryRow("SELECT parked_at, last_error FROM outbox WHERE `offset` = ?", tc.offset).Scan(&parkedAt, &lastErr); err != nil {
			t.Fatalf("parked row %d: %v", tc.offset, err)
		}
		if !parkedAt.Valid || !strings.Contains(lastErr.String, tc.error) {
			t.Errorf("row %d: parked_at %v, last_error %q; want parked with an error containing %q", tc.offset, parkedAt, lastErr.String, tc.error)
		}
		var attempts int
		if err := e.db.QueryRow("SELECT attempts FROM outbox_failures WHERE `offset` = ?", tc.offset).Scan(&attempts); err != nil || attempts != 3 {
			t.Errorf("row %d: %d failed attempts recorded (%v), want 3", tc.offset, attempts, err)
		}
	}
	if n := len(e.log.lines("outbox event parked: it will not be sent until released")); n != 2 {
		t.Errorf("%d parked log lines, want 2", n)
	}
	if outboxRows(t, e.db.DB) != 2 {
		t.Errorf("outbox holds %d rows, want only the 2 parked ones", outboxRows(t, e.db.DB))
	}
	if left := e.sqs.Receive(t, eventsQueue, 10); len(left) != 0 {
		t.Errorf("%d unexpected messages on the queue", len(left))
	}

	parked, err := relay.Parked(context.Background(), e.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 || parked[0].Offset != huge || parked[0].EventType != "order.created" || parked[0].Attempts != 3 ||
		parked[1].Offset != badMeta || !strings.Contains(parked[1].LastError, "metadata") {
		t.Fatalf("Parked() = %+v, want the two poison rows with 3 attempts each", parked)
	}
	// Once its cause is fixed, a released event is sent.
	if _, err := e.db.Exec("UPDATE outbox SET metadata = '{\"event_type\":\"order.created\"}' WHERE `offset` = ?", badMeta); err != nil {
		t.Fatal(err)
	}
	if ok, err := relay.Release(context.Background(), e.db.DB, badMeta); err != nil || !ok {
		t.Fatalf("Release: %v, %v", ok, err)
	}
	if ok, _ := relay.Release(context.Background(), e.db.DB, 999999); ok {
		t.Error("Release of a row that is not parked reported true")
	}
	msgs := e.sqs.Collect(t, eventsQueue, 1, 20*time.Second)
	if len(msgs) != 1 || msgs[0].Attributes["_watermill_message_uuid"] != "22222222-2222-4222-8222-222222222222" {
		t.Fatalf("after release got %+v, want the released event", msgs)
	}
	waitFor(t, 10*time.Second, "released row delivered", func() bool { return outboxRows(t, e.db.DB) == 1 })
}

// TestFailureCountSurvivesRestart: attempts are committed one by one, so a relay that restarts (or
// crashes) partway through an event's attempts parks it after MaxAttempts in total, not per run.
func TestFailureCountSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	poison := insertRaw(t, e.db.DB, "33333333-3333-4333-8333-333333333333", `{}`, `"not an object"`)
	attempts := func() int {
		var n int
		_ = e.db.QueryRow("SELECT attempts FROM outbox_failures WHERE `offset` = ?", poison).Scan(&n)
		return n
	}
	opts := relay.Options{MaxAttempts: 4, RetryBackoff: 300 * time.Millisecond}
	_, stop := e.startRelay(opts, nil)
	waitFor(t, 10*time.Second, "two failed attempts", func() bool { return attempts() >= 2 })
	stop()
	done := attempts()
	if done >= 4 {
		t.Fatalf("%d attempts before the restart, want fewer than 4", done)
	}
	r, _ := e.startRelay(opts, nil)
	waitFor(t, 10*time.Second, "event parked", func() bool {
		lag, err := r.Lag(context.Background())
		return err == nil && lag.Parked == 1
	})
	if got := attempts(); got != 4 {
		t.Errorf("parked after %d attempts in total, want 4 (%d before the restart)", got, done)
	}
}

// TestSQSOutage: goaws is stopped while producers write. Producers finish while it is down (they do
// not wait on the relay), every event written meanwhile arrives once it is back, and the outage is
// logged once. The short AckDeadline makes the relay give up on its batch several times during the
// outage, which must neither lose nor skip the rows it had not sent.
func TestSQSOutage(t *testing.T) {
	e := newEnv(t)
	r, _ := e.startRelay(relay.Options{BatchSize: 20, AckDeadline: 400 * time.Millisecond,
		RetryBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}, nil)

	warmup := []events.Envelope{newEvent(t, 1, 1, ""), newEvent(t, 2, 1, "")}
	publish(t, e.db.DB, warmup...)
	checkDelivery(t, map[string]bool{warmup[0].EventID: true, warmup[1].EventID: true},
		e.collectIDs(map[string]bool{warmup[0].EventID: true, warmup[1].EventID: true}, 20*time.Second))

	// goaws keeps messages in memory: everything already on the queue was read above.
	e.sqs.Stop()
	// Writers whose lock waits time out after 1 s, and a sampler of LOCK WAIT: a relay that held them up
	// while SQS is down (as the SERIALIZABLE default schema does) would show in either.
	writers, lockWaits := watchLockWaits(t, e)
	retriesBefore := sqldb.Retries()
	l := produce(t, writers, 4, 100, publishOutbox)
	waitFor(t, 10*time.Second, "the relay to notice the outage", func() bool {
		return len(e.log.lines("destination unavailable: retrying with backoff until it answers")) > 0
	})
	// Let the outage outlast the ack deadline a few times.
	time.Sleep(1500 * time.Millisecond)
	lag, err := r.Lag(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lag.Pending != len(l.committed) {
		t.Errorf("during the outage %d events pending, want all %d committed ones", lag.Pending, len(l.committed))
	}
	if lag.Oldest <= 0 {
		t.Errorf("oldest pending age %s, want > 0", lag.Oldest)
	}
	// More writers while the relay is still retrying against the dead endpoint.
	more := produce(t, writers, 4, 25, publishOutbox)
	for id := range more.committed {
		l.committed[id] = true
	}
	waits := lockWaits()
	e.sqs.Start()

	got := e.collectIDs(l.committed, time.Minute)
	dups := checkDelivery(t, l.committed, got)
	t.Logf("%d events written during the outage (producers %.0f tx/s, max %s); %d duplicates after it",
		len(l.committed), l.txPerSecond(), l.percentile(1), dups)
	if retries := sqldb.Retries() - retriesBefore; retries != 0 {
		t.Errorf("producer transactions retried %d times during the outage, want 0", retries)
	}
	if waits != 0 {
		t.Errorf("saw %d producer transactions in LOCK WAIT during the outage, want 0", waits)
	}
	waitFor(t, 10*time.Second, "outbox emptied", func() bool { return outboxRows(t, e.db.DB) == 0 })
	if n := len(e.log.lines("destination unavailable: retrying with backoff until it answers")); n != 1 {
		t.Errorf("%d outage-start log lines, want 1", n)
	}
	ends := e.log.lines("destination available again")
	if len(ends) != 1 {
		t.Fatalf("%d outage-end log lines, want 1", len(ends))
	}
	if n, _ := ends[0]["failed_sends"].(float64); n < 2 {
		t.Errorf("outage end reports %v failed sends, want several", ends[0]["failed_sends"])
	}
}

// TestOrderFollowsAggregateVersion: concurrent transactions change random orders (locking the order
// row, publishing last); with one relay each order's events are sent in aggregate_version order.
func TestOrderFollowsAggregateVersion(t *testing.T) {
	e := newEnv(t)
	const orders = 10
	for i := 1; i <= orders; i++ {
		if _, err := e.db.Exec("INSERT INTO orders (id, customer_id, status, total_cents, version, created_at) VALUES (?, 1, 'CREATED', 100, 0, UTC_TIMESTAMP(6))", i); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recordingBatcher{}
	e.startRelay(relay.Options{BatchSize: 10}, func(p queue.Batcher) queue.Batcher {
		rec.Batcher = p
		return rec
	})
	committed := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				id := int64(1 + (w*7+i*3)%orders)
				var last string // InTx may run the function again: only the last attempt commits
				err := sqldb.InTx(context.Background(), e.db.DB, func(tx *sql.Tx) error {
					var v int
					if err := tx.QueryRow("SELECT version FROM orders WHERE id = ? FOR UPDATE", id).Scan(&v); err != nil {
						return err
					}
					if _, err := tx.Exec("UPDATE orders SET version = ? WHERE id = ?", v+1, id); err != nil {
						return err
					}
					ev := newEvent(t, id, v+1, "")
					last = ev.EventID
					return outbox.Publish(context.Background(), tx, ev)
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed[last] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got := e.collectIDs(committed, time.Minute)
	checkDelivery(t, committed, got)
	var total int
	if err := e.db.QueryRow("SELECT SUM(version) FROM orders").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if len(committed) != total {
		t.Fatalf("%d events committed, want %d (one per version)", len(committed), total)
	}

	last := map[string]int{}
	for _, m := range rec.messages() {
		var ev events.Envelope
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.AggregateVersion != last[ev.AggregateID]+1 {
			t.Fatalf("order %s: version %d sent after version %d", ev.AggregateID, ev.AggregateVersion, last[ev.AggregateID])
		}
		last[ev.AggregateID] = ev.AggregateVersion
	}
}

// TestLateCommitGoesBeforeTheNextVersion: a producer transaction holds an order's event uncommitted
// while a full batch of later events is selected without it; it commits during that batch's send, and
// the order's next version is written right after. The held event must still be sent first: the next
// select starts at it, not past the batch.
func TestLateCommitGoesBeforeTheNextVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	producer, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Rollback()
	v1 := newEvent(t, 1, 1, "")
	if err := outbox.Publish(ctx, producer, v1); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{v1.EventID: true}
	var others []events.Envelope
	for i := int64(2); i <= 11; i++ {
		ev := newEvent(t, i, 1, "")
		others = append(others, ev)
		want[ev.EventID] = true
	}
	publish(t, e.db.DB, others...)

	gate := &gateBatcher{entered: make(chan struct{}), release: make(chan struct{})}
	e.startRelay(relay.Options{BatchSize: 10}, func(p queue.Batcher) queue.Batcher {
		gate.Batcher = p
		return gate
	})
	select {
	case <-gate.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay sent nothing")
	}
	// The first batch, the ten committed events without the held one, is being sent.
	if err := producer.Commit(); err != nil {
		t.Fatal(err)
	}
	v2 := newEvent(t, 1, 2, "")
	publish(t, e.db.DB, v2)
	want[v2.EventID] = true
	close(gate.release)

	checkDelivery(t, want, e.collectIDs(want, time.Minute))
	var order []string
	for _, m := range gate.messages() {
		if m.UUID == v1.EventID || m.UUID == v2.EventID {
			order = append(order, m.UUID)
		}
	}
	if len(order) != 2 || order[0] != v1.EventID {
		t.Fatalf("order 1's events sent as %v, want version 1 (%s) before version 2 (%s)", order, v1.EventID, v2.EventID)
	}
}

// gateBatcher holds every send until release is closed, and records what was accepted, in order.
type gateBatcher struct {
	recordingBatcher
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *gateBatcher) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.recordingBatcher.SendBatch(ctx, msgs)
}

// TestGracefulShutdown: stopping mid-batch deletes what was delivered and releases the rest, so a
// restarted relay sends each event once more at most once (the one in flight at the stop).
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t)
	var evs []events.Envelope
	want := map[string]bool{}
	for i := 0; i < 60; i++ {
		ev := newEvent(t, int64(i), 1, "")
		evs = append(evs, ev)
		want[ev.EventID] = true
	}
	publish(t, e.db.DB, evs...)
	slow := func(p queue.Batcher) queue.Batcher {
		return slowBatcher{Batcher: p, delay: func() time.Duration { return 20 * time.Millisecond }}
	}
	r, stop := e.startRelay(relay.Options{BatchSize: 100}, slow)
	waitFor(t, 10*time.Second, "10 events sent", func() bool { return r.Delivered() >= 10 })
	stop()
	sent := r.Delivered()
	if left := outboxRows(t, e.db.DB); int64(left) != 60-sent {
		t.Errorf("after stopping with %d sent, %d rows left, want %d: delivered rows of the batch must be deleted", sent, left, 60-sent)
	}
	if lines := e.log.lines("outbox relay stopped"); len(lines) != 1 {
		t.Errorf("%d 'outbox relay stopped' lines, want 1", len(lines))
	}

	e.startRelay(relay.Options{}, nil)
	got := e.collectIDs(want, 30*time.Second)
	if dups := checkDelivery(t, want, got); dups > 1 {
		t.Errorf("%d duplicates after a graceful stop, want at most 1", dups)
	}
}

func TestLagIsReportedAndLogged(t *testing.T) {
	e := newEnv(t)
	publish(t, e.db.DB, newEvent(t, 1, 1, ""), newEvent(t, 2, 1, ""), newEvent(t, 3, 1, ""))
	waitFor(t, 5*time.Second, "events aged", func() bool {
		lag, err := outbox.ReadLag(context.Background(), e.db.DB)
		return err == nil && lag.Oldest >= 20*time.Millisecond
	})
	lag, err := outbox.ReadLag(context.Background(), e.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Pending != 3 || lag.Parked != 0 || lag.Oldest < 20*time.Millisecond || lag.Oldest > time.Minute {
		t.Fatalf("lag %+v, want 3 pending aged 20 ms .. 1 min, none parked", lag)
	}

	// Slow sends, so that the first lag check surely comes before the first delivery.
	e.startRelay(relay.Options{LagInterval: 20 * time.Millisecond}, func(p queue.Batcher) queue.Batcher {
		return slowBatcher{Batcher: p, delay: func() time.Duration { return 100 * time.Millisecond }}
	})
	waitFor(t, 10*time.Second, "caught-up lag logged", func() bool {
		for _, l := range e.log.lines("outbox lag") {
			if l["pending"] == float64(0) {
				return true
			}
		}
		return false
	})
	lines := e.log.lines("outbox lag")
	if lines[0]["pending"] != float64(3) || lines[0]["oldest_age_ms"].(float64) < 20 {
		t.Errorf("first lag line %v, want 3 pending, oldest >= 20 ms", lines[0])
	}
	// Logged on change: with nothing happening, no new lines for a while.
	n := len(lines)
	time.Sleep(200 * time.Millisecond)
	if now := len(e.log.lines("outbox lag")); now != n {
		t.Errorf("%d lag lines logged while nothing changed, want none", now-n)
	}
}

// flakyBatcher fails one event (as the service failing on it would: a retryable entry error) until
// released, and passes the others on.
type flakyBatcher struct {
	queue.Batcher
	failID  string
	release chan struct{}
}

func (b flakyBatcher) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	select {
	case <-b.release:
		return b.Batcher.SendBatch(ctx, msgs)
	default:
	}
	var pass []*message.Message
	for _, m := range msgs {
		if m.UUID != b.failID {
			pass = append(pass, m)
		}
	}
	var refused []error
	if len(pass) > 0 {
		var err error
		if refused, err = b.Batcher.SendBatch(ctx, pass); err != nil {
			return nil, err
		}
	}
	out := make([]error, 0, len(msgs))
	for _, m := range msgs {
		if m.UUID == b.failID {
			out = append(out, &queue.EntryError{Code: "InternalError", Message: "injected: service failure"})
			continue
		}
		out = append(out, refused[0])
		refused = refused[1:]
	}
	return out, nil
}

// TestEventNotSentWithinAckDeadlineIsKept: when one event of a batch cannot be sent before
// AckDeadline, the batch is committed with what was sent; the event and the rows never sent stay and go
// out once the destination takes them again. The failure is an outage (one log line), not a refusal.
func TestEventNotSentWithinAckDeadlineIsKept(t *testing.T) {
	e := newEnv(t)
	var evs []events.Envelope
	want := map[string]bool{}
	for i := 0; i < 20; i++ {
		ev := newEvent(t, int64(i), 1, "")
		evs = append(evs, ev)
		want[ev.EventID] = true
	}
	publish(t, e.db.DB, evs...)
	opts := relay.Options{BatchSize: 20, AckDeadline: 300 * time.Millisecond, RetryBackoff: 20 * time.Millisecond}
	release := make(chan struct{})
	r, _ := e.startRelay(opts, func(p queue.Batcher) queue.Batcher {
		return flakyBatcher{Batcher: p, failID: evs[5].EventID, release: release}
	})
	// Past the deadline at least twice, then the outage ends.
	waitFor(t, 10*time.Second, "5 events sent", func() bool { return r.Delivered() >= 5 })
	time.Sleep(800 * time.Millisecond)
	if n := outboxRows(t, e.db.DB); n < 1 {
		t.Fatalf("%d outbox rows while one event cannot be sent, want it kept", n)
	}
	close(release)
	got := e.collectIDs(want, 30*time.Second)
	checkDelivery(t, want, got)
	if n := len(e.log.lines("destination unavailable: retrying with backoff until it answers")); n != 1 {
		t.Errorf("%d outage lines, want 1", n)
	}
	var failures int
	_ = e.db.QueryRow("SELECT COUNT(*) FROM outbox_failures").Scan(&failures)
	if n := failures; n != 0 {
		t.Errorf("%d failure records: a failure on the service's side must not count against the event", n)
	}
}

// hungBatcher stands for an endpoint that accepts the connection and never answers: the call ends
// only when its context does, as an SDK call does.
type hungBatcher struct {
	queue.Batcher
	entered chan struct{}
}

func (b hungBatcher) SendBatch(ctx context.Context, msgs []*message.Message) ([]error, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestStopDoesNotWaitForAHungSend(t *testing.T) {
	e := newEnv(t)
	ev := newEvent(t, 1, 1, "")
	publish(t, e.db.DB, ev)
	hung := hungBatcher{entered: make(chan struct{}, 1)}
	_, stop := e.startRelay(relay.Options{AckDeadline: time.Hour}, func(b queue.Batcher) queue.Batcher { hung.Batcher = b; return hung })
	select {
	case <-hung.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay never tried to send")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("the relay did not stop while a send hung")
	}
	if n := outboxRows(t, e.db.DB); n != 1 {
		t.Errorf("%d outbox rows after stopping during a hung send, want 1: the event must stay to be sent again", n)
	}
}

// TestRelayRefusesSingleStatementConnections: the relay deletes a chunk of rows in one multi-statement
// Exec; on connections that do not allow it, it stops at once with a clear reason instead of failing
// every batch.
func TestRelayRefusesSingleStatementConnections(t *testing.T) {
	e := newEnv(t)
	r, err := relay.New(e.db.DB, e.topic(), relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "several statements") {
		t.Fatalf("Run: got %v, want a refusal naming the multi-statement setting", err)
	}
}
