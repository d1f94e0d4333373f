package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/outbox"
)

// Deliveries through goaws can arrive one visibility timeout late (rarely, a ReceiveMessage whose
// response is lost); every wait below is a poll with a deadline well above the 2 s visibility timeout
// the tests configure.
const deliveryDeadline = 45 * time.Second

// lifecycle returns the events of one order's life on day: created, confirmed, and (when canceled)
// canceled after the confirmation, each with the correlation id corr.
func lifecycle(t *testing.T, id int64, day time.Time, canceled bool, corr string) []events.Envelope {
	t.Helper()
	at := day.Add(9*time.Hour + time.Duration(id)*time.Minute)
	o := events.Order{ID: id, CustomerID: 1 + id%3, Status: "CREATED", TotalCents: 1000 * id, CreatedAt: at,
		Items: []events.Item{{ProductID: id, Qty: int(id), UnitPriceCents: 1000, SubtotalCents: 1000 * id}}}
	var out []events.Envelope
	add := func(typ string, v int, when time.Time) {
		ev, err := events.NewOrderEvent(typ, o, v, corr, when)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	add(events.OrderCreated, 1, at)
	c := at.Add(time.Second)
	o.Status, o.ConfirmedAt = "CONFIRMED", &c
	add(events.OrderConfirmed, 2, c)
	if canceled {
		x := at.Add(2 * time.Second)
		o.Status, o.CanceledAt = "CANCELED", &x
		add(events.OrderCanceled, 3, x)
	}
	return out
}

// eventsTopic is the topic the reporting queue is subscribed to, as in the stack.
const eventsTopic = "order-events"

// startSQS is goaws with the topic and the reporting queue subscribed to it (raw delivery).
func startSQS(t *testing.T, o sqstest.Options) *sqstest.Server {
	o.Topics = map[string][]string{eventsTopic: {eventsQueue}}
	return sqstest.StartWith(t, o)
}

// publisher publishes events to the topic the way the relay does: outbox.Message in batch calls, so
// what reaches the queue is what SNS raw delivery leaves there.
func publisher(t *testing.T, sqs *sqstest.Server) func(evs ...events.Envelope) {
	t.Helper()
	topic, err := queue.NewTopic(t.Context(), sqs.Config(), eventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	return func(evs ...events.Envelope) {
		t.Helper()
		for len(evs) > 0 {
			n := min(len(evs), topic.MaxBatch())
			msgs := make([]*message.Message, n)
			for i, ev := range evs[:n] {
				m, err := outbox.Message(ev)
				if err != nil {
					t.Fatal(err)
				}
				msgs[i] = m
			}
			refused, err := topic.SendBatch(context.Background(), msgs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range refused {
				if r != nil {
					t.Fatalf("event %s refused: %v", msgs[i].UUID, r)
				}
			}
			evs = evs[n:]
		}
	}
}

// pollReport polls GET path until its body contains want, or fails after deliveryDeadline.
func pollReport(t *testing.T, s *inProcess, path, want string) {
	t.Helper()
	deadline := time.Now().Add(deliveryDeadline)
	var body string
	for time.Now().Before(deadline) {
		var status int
		status, body = getAs(t, s.url+path, authtest.Operator(t))
		if status == 200 && strings.Contains(body, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: no %s within %s; last answer %s", path, want, deliveryDeadline, body)
}

var march2 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// TestEventsShowUpInReports: events put on the queue out of order and more than once end up in the
// reports exactly as if each had arrived once, in order; every log line of an event's handling carries
// its correlation id.
func TestEventsShowUpInReports(t *testing.T) {
	t.Parallel()
	sqs := startSQS(t, sqstest.Options{})
	db := dbtest.New(t, "reporting")
	s := startInProcess(t, sqs, db, map[string]string{"REPORTING_CONCURRENCY": "4"})
	publish := publisher(t, sqs)

	one := lifecycle(t, 1, march2, false, "corr-order-1") // 1 unit, 1000
	two := lifecycle(t, 2, march2, true, "corr-order-2")  // confirmed then canceled
	three := lifecycle(t, 3, march2, false, "corr-order-3")
	// The cancellation first (applied before anything else is sent, so what follows of its order is
	// stale), then everything, then duplicates of a creation and a confirmation.
	publish(two[2])
	pollReport(t, s, "/reports/customers/3", `"orders":1,"orders_confirmed":1,"orders_canceled":1,`)
	publish(three[1], one[0], two[0], three[0], one[1], two[1])
	publish(one[0], two[1])

	want := `"data":[{"date":"2026-03-02","orders_confirmed":3,"orders_canceled":1,"units":4,"revenue_cents":4000}]`
	pollReport(t, s, "/reports/daily-sales?from=2026-03-02&to=2026-03-02", want)
	// Wait for all nine deliveries, the duplicates included, to be handled.
	deadline := time.Now().Add(deliveryDeadline)
	for len(logLines(s.logs.String(), "event handled")) < 9 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// A redelivery (a visibility timeout passing on a slow machine) may add duplicates, never a second
	// application: each event is applied (or found stale) exactly once, every other delivery is a duplicate.
	perEvent := map[string]map[string]int{}
	byEvent := map[string]map[string]any{}
	var duplicates int
	for _, l := range logLines(s.logs.String(), "event handled") {
		id, out := fmt.Sprint(l["event_id"]), fmt.Sprint(l["outcome"])
		if perEvent[id] == nil {
			perEvent[id] = map[string]int{}
		}
		perEvent[id][out]++
		if out == "duplicate" {
			duplicates++
		} else {
			byEvent[id] = l
		}
	}
	if duplicates < 2 || perEvent[two[0].EventID]["stale"] != 1 || perEvent[two[1].EventID]["stale"] != 1 {
		t.Errorf("outcomes %v: want at least the 2 duplicates sent, and two[0] and two[1] (after two[2]) stale", perEvent)
	}
	for _, evs := range [][]events.Envelope{one, two, three} {
		for _, ev := range evs {
			if n := perEvent[ev.EventID]["applied"] + perEvent[ev.EventID]["stale"]; n != 1 {
				t.Errorf("event %s (%s): applied or stale %d times, want once (%v)", ev.EventID, ev.Type, n, perEvent[ev.EventID])
			}
			l := byEvent[ev.EventID]
			if l == nil || l["correlation_id"] != ev.CorrelationID || l["event_type"] != ev.Type || l["aggregate_id"] != ev.AggregateID ||
				l["aggregate_version"] != float64(ev.AggregateVersion) {
				t.Errorf("event %s (%s): log line %v, want its correlation id %s, type and aggregate", ev.EventID, ev.Type, l, ev.CorrelationID)
			}
		}
	}
	// Customer 3 (order 2, canceled) and 2 (order 1) and 1 (order 3).
	pollReport(t, s, "/reports/customers/3", `"orders":1,"orders_confirmed":1,"orders_canceled":1,"units":0,"revenue_cents":0`)
	pollReport(t, s, "/reports/top-products?from=2026-03-02&to=2026-03-02", `"data":[{"product_id":3,"units":3,"revenue_cents":3000,"orders":1},{"product_id":1,"units":1,"revenue_cents":1000,"orders":1}]`)

	// Every message was deleted: nothing is left on the queue or in the dead-letter queue.
	for _, q := range []string{eventsQueue, eventsQueue + "-dlq"} {
		if left := sqs.Receive(t, q, 10); len(left) != 0 {
			t.Errorf("%s: %d messages left, want none", q, len(left))
		}
	}
}

// TestPoisonGoesToDeadLetterQueueWhileOthersFlow: messages that can never be applied are nacked on
// every receive until the redrive policy moves them to the dead-letter queue, while the valid events
// queued behind them are applied; an unknown event type is acknowledged and logged once.
func TestPoisonGoesToDeadLetterQueueWhileOthersFlow(t *testing.T) {
	t.Parallel()
	const maxReceives = 3
	sqs := startSQS(t, sqstest.Options{VisibilityTimeout: 2 * time.Second, MaxReceiveCount: maxReceives})
	db := dbtest.New(t, "reporting")
	s := startInProcess(t, sqs, db, map[string]string{"REPORTING_CONCURRENCY": "2"})
	publish := publisher(t, sqs)

	// Poison first: a body that is not JSON, and an envelope of a schema version this code does not read.
	notJSON := "{this is not an event"
	sqs.Send(t, eventsQueue, notJSON, map[string]string{events.MetaCorrelationID: "corr-poison-1", events.MetaEventType: events.OrderCreated})
	var v2 map[string]any
	created := lifecycle(t, 99, march2, false, "corr-poison-2")[0]
	b, _ := json.Marshal(created)
	_ = json.Unmarshal(b, &v2)
	v2["schema_version"] = 2
	v2Body, _ := json.Marshal(v2)
	sqs.Send(t, eventsQueue, string(v2Body), map[string]string{events.MetaCorrelationID: "corr-poison-2", events.MetaEventType: events.OrderCreated})

	// An event type from a newer producer, twice.
	shipped := lifecycle(t, 50, march2, false, "corr-shipped")[1]
	shipped.Type = "order.shipped"
	shippedAgain := shipped
	shippedAgain.EventID = uuid.NewString()

	// Then the valid events behind them: ten orders created and confirmed.
	var valid []events.Envelope
	for id := int64(1); id <= 10; id++ {
		valid = append(valid, lifecycle(t, id, march2, false, fmt.Sprintf("corr-valid-%d", id))...)
	}
	publish(shipped, shippedAgain)
	publish(valid...)

	// 1+2+…+10 units at 1000 each.
	pollReport(t, s, "/reports/daily-sales?from=2026-03-02&to=2026-03-02", `"orders_confirmed":10,"orders_canceled":0,"units":55,"revenue_cents":55000`)

	dead := sqs.Collect(t, eventsQueue+"-dlq", 2, deliveryDeadline+maxReceives*2*time.Second)
	bodies := map[string]bool{}
	for _, m := range dead {
		bodies[m.Body] = true
	}
	if len(dead) != 2 || !bodies[notJSON] || !bodies[string(v2Body)] {
		t.Fatalf("dead-letter queue: got %d messages %v, want exactly the two poison ones", len(dead), bodies)
	}
	// Nothing else is left behind: the valid and the unknown-type messages were all acknowledged.
	if left := sqs.Receive(t, eventsQueue, 10); len(left) != 0 {
		t.Fatalf("%s: %d messages left, want none: %v", eventsQueue, len(left), left)
	}
	if left := sqs.Receive(t, eventsQueue+"-dlq", 10); len(left) != 0 {
		t.Fatalf("dead-letter queue: %d more messages, want none: %v", len(left), left)
	}

	logs := s.logs.String()
	// Each poison message was refused on each receive (at most maxReceives), always with its correlation id.
	for _, corr := range []string{"corr-poison-1", "corr-poison-2"} {
		var n int
		for _, l := range logLines(logs, "event cannot be applied; it stays on the queue until the redrive policy moves it to the dead-letter queue") {
			if l["correlation_id"] == corr {
				n++
				if l["level"] != "ERROR" {
					t.Errorf("poison line at %v, want ERROR", l["level"])
				}
			}
		}
		if n < 1 || n > maxReceives {
			t.Errorf("%s: refused %d times, want 1..%d (one per receive)", corr, n, maxReceives)
		}
	}
	unknown := logLines(logs, "unknown event type acknowledged without effect; further events of this type are skipped silently")
	if len(unknown) != 1 || unknown[0]["type"] != "order.shipped" || unknown[0]["correlation_id"] != "corr-shipped" {
		t.Errorf("unknown type: got %v, want one line for order.shipped with its correlation id", unknown)
	}
	applied := map[string]bool{}
	for _, l := range logLines(logs, "event handled") {
		if strings.HasPrefix(fmt.Sprint(l["correlation_id"]), "corr-valid-") && l["outcome"] != "duplicate" {
			applied[fmt.Sprint(l["event_id"])] = true
		}
	}
	if len(applied) != len(valid) {
		t.Errorf("valid events applied or found stale: %d, want %d", len(applied), len(valid))
	}
}

func count(t *testing.T, db *dbtest.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or fails after deliveryDeadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(deliveryDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, deliveryDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFailedWriteIsRedelivered: when the database refuses the effect half-way, nothing of it stays,
// the message is not acknowledged, and its redelivery applies it once the database is back.
func TestFailedWriteIsRedelivered(t *testing.T) {
	t.Parallel()
	sqs := startSQS(t, sqstest.Options{})
	db := dbtest.New(t, "reporting")
	s := startInProcess(t, sqs, db, map[string]string{"REPORTING_CONCURRENCY": "1"})
	publish := publisher(t, sqs)

	// The order row can be written, its items cannot: the write fails in the middle of the effect.
	if _, err := db.Exec("RENAME TABLE order_items TO order_items_away"); err != nil {
		t.Fatal(err)
	}
	ev := lifecycle(t, 7, march2, false, "corr-transient")[0]
	publish(ev)
	const notApplied = "event not applied; it will be delivered again"
	failures := func() int {
		n := 0
		for _, l := range logLines(s.logs.String(), notApplied) {
			if l["correlation_id"] == "corr-transient" && l["event_id"] == ev.EventID && strings.Contains(fmt.Sprint(l["error"]), "order_items") {
				n++
			}
		}
		return n
	}
	// Two failed deliveries: the message came back after the first one was not acknowledged.
	waitFor(t, "two failed deliveries", func() bool { return failures() >= 2 })
	if n := count(t, db, "SELECT COUNT(*) FROM orders") + count(t, db, "SELECT COUNT(*) FROM processed_events"); n != 0 {
		t.Fatalf("%d rows of a failed apply were committed, want none", n)
	}
	if _, err := db.Exec("RENAME TABLE order_items_away TO order_items"); err != nil {
		t.Fatal(err)
	}
	pollReport(t, s, "/reports/customers/2", `"orders":1,`)
	if n := count(t, db, "SELECT COUNT(*) FROM processed_events WHERE event_id = ?", ev.EventID); n != 1 {
		t.Fatalf("inbox: %d rows for the event, want 1", n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM order_items WHERE order_id = 7"); n != 1 {
		t.Fatalf("items: %d rows, want 1", n)
	}
	if left := sqs.Receive(t, eventsQueue, 10); len(left) != 0 {
		t.Fatalf("%d messages left on the queue after the apply, want none", len(left))
	}
}

// proc is the real reporting binary started by a test.
type proc struct {
	cmd  *exec.Cmd
	logs *proctest.Buffer
	done chan struct{}
}

func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), logs: &proctest.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %v output:\n%s", bin, args, p.logs.String())
		}
	})
	return p
}

// TestCrashBetweenEffectAndInbox kills the real process inside the transaction of an event, after its
// effect and before its inbox row: nothing of it commits, and after the restart the redelivered event
// is applied, once; a further delivery of it is a duplicate.
func TestCrashBetweenEffectAndInbox(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t, "github.com/b2b/backoffice/services/reporting/cmd/reporting")
	sqs := startSQS(t, sqstest.Options{})
	db := dbtest.New(t, "reporting")
	c := sqs.Config()
	env := append(authtest.Env(), "PATH="+os.Getenv("PATH"), "PORT=0", "DB_DSN="+db.DSN, "LOG_LEVEL=info",
		"AWS_REGION="+c.Region, "AWS_ENDPOINT_URL="+c.Endpoint, "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"REPORTING_EVENTS_QUEUE="+eventsQueue, "REPORTING_EVENTS_VISIBILITY_TIMEOUT=2s", "REPORTING_CONCURRENCY=1")
	publish := publisher(t, sqs)
	evs := lifecycle(t, 5, march2, false, "corr-crash")

	crashing := startBinary(t, bin, env, "-exit-after-effect")
	publish(evs[0])
	select {
	case <-crashing.done:
	case <-time.After(deliveryDeadline):
		t.Fatalf("the process did not exit inside the transaction:\n%s", crashing.logs.String())
	}
	if code := crashing.cmd.ProcessState.ExitCode(); code != exitCodeAfterEffect {
		t.Fatalf("exit code %d, want %d:\n%s", code, exitCodeAfterEffect, crashing.logs.String())
	}
	for _, table := range []string{"orders", "order_items", "processed_events"} {
		if n := count(t, db, "SELECT COUNT(*) FROM "+table); n != 0 {
			t.Fatalf("%s: %d rows after the crash, want 0 (effect and inbox row commit together)", table, n)
		}
	}

	restarted := startBinary(t, bin, env)
	waitFor(t, "the redelivered event applied", func() bool {
		return count(t, db, "SELECT COUNT(*) FROM processed_events WHERE event_id = ?", evs[0].EventID) == 1
	})
	publish(evs[0], evs[1])
	waitFor(t, "the duplicate and the confirmation handled", func() bool {
		return len(logLines(restarted.logs.String(), "event handled")) >= 3
	})
	outcomes := map[string]int{}
	for _, l := range logLines(restarted.logs.String(), "event handled") {
		outcomes[fmt.Sprint(l["event_id"])+" "+fmt.Sprint(l["outcome"])]++
	}
	if outcomes[evs[0].EventID+" applied"] != 1 || outcomes[evs[0].EventID+" duplicate"] < 1 || outcomes[evs[1].EventID+" applied"] != 1 {
		t.Fatalf("outcomes %v, want the creation applied once then a duplicate, and the confirmation applied", outcomes)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE order_id = 5 AND version = 2 AND status = 'CONFIRMED'"); n != 1 {
		t.Fatal("order 5 is not confirmed at version 2")
	}
	if n := count(t, db, "SELECT COUNT(*) FROM processed_events"); n != 2 {
		t.Fatalf("inbox: %d rows, want 2", n)
	}
	_ = restarted.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-restarted.done:
		if code := restarted.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit code after SIGTERM: %d, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
}
