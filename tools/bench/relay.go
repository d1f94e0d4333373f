package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// RelayFigures are the relay workload's own results.
type RelayFigures struct {
	// Destination is where the relay's events were read from (the events queue, or the tap queue
	// subscribed to the SNS topic).
	Destination string `json:"destination"`

	PreloadedEvents int     `json:"preloaded_events"`
	PreloadSeconds  float64 `json:"preload_seconds"`
	// DrainSeconds runs from the relay's start to the first empty outbox; DrainRate is preloaded events
	// over it. DrainRate1090 is the rate between 10 % and 90 % drained (start-up and tail excluded).
	DrainSeconds  float64  `json:"drain_seconds"`
	DrainRate     float64  `json:"drain_events_per_s"`
	DrainRate1090 float64  `json:"drain_events_per_s_10_90"`
	DrainSamples  []Sample `json:"drain_samples"`
	ParkedEvents  int      `json:"parked_events"`

	// RawSQSRate is messages/s of SendMessageBatch (10 a call) from one sequential sender into the queue
	// the relay feeds; RawSNSRate the same through SNS PublishBatch (9 a call: goaws refuses 10 over
	// the query protocol) when the topology has a topic.
	RawSQSRate float64  `json:"raw_send_message_batch_per_s"`
	RawSNSRate *float64 `json:"raw_sns_publish_batch_per_s"`

	Steady SteadyFigures `json:"steady"`
}

// SteadyFigures describe the outbox under a producer load with the relay running.
type SteadyFigures struct {
	// Backlog is the outbox's undelivered row count sampled every 500 ms; T is seconds since the
	// measured window began (negative during warm-up, beyond the window during catch-up).
	Backlog      []Sample `json:"backlog"`
	BacklogMax   int      `json:"backlog_max"`
	BacklogMean  float64  `json:"backlog_mean"`
	BacklogEnd   int      `json:"backlog_end"`
	BacklogSlope float64  `json:"backlog_slope_rows_per_s"`
	// CatchUpSeconds is from the end of the load until the outbox was first empty.
	CatchUpSeconds float64 `json:"catch_up_seconds"`
	// Lag is commit→arrival per event committed in the window: the harness's receive time (long polls
	// of 1 s, 4 receivers) minus the event's occurred_at (taken just before the order's transaction).
	Lag *Latency `json:"lag_commit_to_receive"`
	// LagSent is the same up to SQS's SentTimestamp; goaws reports the receive time there (see
	// sent_timestamp_reliable in the report), so with goaws it is not the time of the send.
	LagSent  *Latency `json:"lag_commit_to_sent_timestamp"`
	Received int      `json:"events_received"`
	Note     string   `json:"note,omitempty"`
}

// Sample is one observation of a row count.
type Sample struct {
	T    float64 `json:"t"`
	Rows int     `json:"rows"`
}

// relay runs the relay workload: raw sends, the drain of a pre-loaded outbox, then backlog and lag
// under the order-create load.
func (b *bench) relay(ctx context.Context, w *Workload) error {
	f := &RelayFigures{Destination: b.sqs.dest}
	w.Relay = f
	if b.o.attach {
		f.Steady.Note = "attach mode: the drain needs a relay the harness starts, and was skipped"
	} else if err := b.relayDrain(ctx, w, f); err != nil {
		return err
	}
	return b.relaySteady(ctx, w, f)
}

func (b *bench) relayDrain(ctx context.Context, w *Workload, f *RelayFigures) error {
	relayBin := filepath.Join(b.binDir, "outbox-relay")
	name := "bench_" + b.runID + "_relay"
	if err := b.createDatabase(ctx, name, "orders"); err != nil {
		return err
	}
	defer b.dropDatabase(context.WithoutCancel(ctx), name)
	d, err := b.server.open(ctx, name, true, 4)
	if err != nil {
		return err
	}
	defer d.Close()

	b.logf("relay: pre-loading %d events", b.o.relayEvents)
	start := time.Now()
	if err := b.preload(ctx, d, b.o.relayEvents); err != nil {
		return err
	}
	f.PreloadedEvents, f.PreloadSeconds = b.o.relayEvents, round(time.Since(start).Seconds(), 2)

	// The event consumers (reporting) are paused for the raw sends and the drain: they would compete for
	// the same two cores with work that is neither the sender's nor the relay's, and unequally (they
	// drop the raw messages as poison but apply the relay's events). Their messages wait on their
	// queues and are purged.
	resume := b.pauseConsumers()
	defer resume()

	// The raw rates first, into the same (purged) goaws the relay will send to.
	rawQueue := b.sqs.events
	if !b.sqs.topo.hasQueue(rawQueue) {
		rawQueue = b.sqs.dest
	}
	if rawQueue != "" {
		u, err := b.sqs.url(ctx, rawQueue)
		if err != nil {
			return err
		}
		ph := b.rawSend(ctx, "raw SendMessageBatch", b.o.relayEvents, 10, func(ctx context.Context, bodies []string) error {
			return b.sendBatch(ctx, u, bodies)
		})
		ph.Note = "one sequential sender, 10 messages a call, into " + rawQueue
		f.RawSQSRate = ph.Throughput
		w.Phases = append(w.Phases, ph)
	}
	if len(b.sqs.topo.Topics) > 0 {
		topic := b.sqs.topo.Topics[0]
		for _, t := range b.sqs.topo.Topics {
			if t.Name == "order-events" {
				topic = t
			}
		}
		if err := b.sqs.purgeAll(ctx); err != nil {
			return err
		}
		arn := b.sqs.topo.topicARN(topic.Name)
		// goaws v0.5.4 counts a query-protocol batch of 10 as 11 (its 1-based member list has an empty
		// first slot) and refuses it with TooManyEntriesInBatchRequest: 9 is the most it takes.
		ph := b.rawSend(ctx, "raw SNS PublishBatch", b.o.relayEvents, 9, func(ctx context.Context, bodies []string) error {
			return b.sqs.snsPublishBatch(ctx, arn, bodies)
		})
		ph.Note = fmt.Sprintf("one sequential sender, 9 messages a call (goaws refuses 10 over SNS's query protocol), to topic %s, fanned out to %v",
			topic.Name, topic.Queues)
		rate := ph.Throughput
		f.RawSNSRate = &rate
		w.Phases = append(w.Phases, ph)
	}
	if err := b.sqs.purgeAll(ctx); err != nil {
		return err
	}

	b.logf("relay: draining %d events", b.o.relayEvents)
	env := processEnv(b.env, map[string]string{"AWS_ENDPOINT_URL": b.sqs.endpoint, "AWS_REGION": b.sqs.topo.Region}, dbEnv(b.server, name))
	p, err := startProcess("outbox-relay (drain)", relayBin, nil, env, filepath.Join(b.o.logsDir, "outbox-relay-drain.log"))
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	start = time.Now()
	m := startMeter(b.targets(p))
	ph := Phase{Name: "relay drain", Mode: "drain", Unit: "events/s", Errors: map[string]int64{}}
	timeout := max(2*time.Minute, time.Duration(b.o.relayEvents/200)*time.Second)
	var at10, at90 time.Duration
	left := b.o.relayEvents
	for left > 0 {
		if ctx.Err() != nil {
			ph.Error = "interrupted"
			break
		}
		if err := p.check(); err != nil {
			ph.Error = err.Error()
			break
		}
		if time.Since(start) > timeout {
			ph.Error = fmt.Sprintf("%d of %d events still in the outbox after %s", left, b.o.relayEvents, timeout)
			break
		}
		sleep(ctx, 250*time.Millisecond)
		n, err := outboxPending(ctx, d)
		if err != nil {
			ph.Error = err.Error()
			break
		}
		left = n
		el := time.Since(start)
		f.DrainSamples = append(f.DrainSamples, Sample{T: round(el.Seconds(), 2), Rows: n})
		done := b.o.relayEvents - n
		if at10 == 0 && done >= b.o.relayEvents/10 {
			at10 = el
		}
		if at90 == 0 && done >= b.o.relayEvents*9/10 {
			at90 = el
		}
	}
	elapsed := time.Since(start)
	drained := b.o.relayEvents - left
	ph.Processes, ph.Machine = m.finish(int64(drained))
	ph.Seconds, ph.Ops = round(elapsed.Seconds(), 3), int64(drained)
	ph.Throughput = round(float64(drained)/elapsed.Seconds(), 2)
	ph.Note = "the relay binary from start to an empty outbox of pre-loaded events; destination " + b.sqs.dest +
		"; consumers paused"
	f.DrainSeconds, f.DrainRate = ph.Seconds, ph.Throughput
	if at90 > at10 {
		f.DrainRate1090 = round(float64(b.o.relayEvents*9/10-b.o.relayEvents/10)/(at90-at10).Seconds(), 2)
	}
	_ = d.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE parked_at IS NOT NULL").Scan(&f.ParkedEvents)
	w.Phases = append(w.Phases, ph)
	p.stop(10 * time.Second)
	if ph.Error != "" {
		return errors.New("relay drain: " + ph.Error)
	}
	err = b.sqs.purgeAll(ctx)
	resume()
	return err
}

// pauseConsumers stops the stack's event consumers (SIGSTOP) until the returned function is called
// (once is enough; more calls do nothing).
func (b *bench) pauseConsumers() func() {
	var paused []*process
	for _, p := range b.procs {
		if p.name == "reporting" && !p.exited() {
			if err := p.cmd.Process.Signal(syscall.SIGSTOP); err == nil {
				paused = append(paused, p)
			}
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, p := range paused {
				_ = p.cmd.Process.Signal(syscall.SIGCONT)
			}
		})
	}
}

// preload writes n outbox rows with 4 writers, 500 rows a statement.
func (b *bench) preload(ctx context.Context, d *sql.DB, n int) error {
	const chunk, writers = 500, 4
	next := make(chan int)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for size := range next {
				var q strings.Builder
				q.WriteString("INSERT INTO outbox (`uuid`, `payload`, `metadata`) VALUES ")
				args := make([]any, 0, 3*size)
				for j := 0; j < size; j++ {
					if j > 0 {
						q.WriteString(", ")
					}
					q.WriteString("(?, ?, ?)")
					ev := b.sampleEvent()
					args = append(args, ev.id, ev.payload, ev.metadata)
				}
				if _, err := d.ExecContext(ctx, q.String(), args...); err != nil {
					errs <- fmt.Errorf("pre-load outbox: %w", err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for sent := 0; sent < n; sent += chunk {
		select {
		case next <- min(chunk, n-sent):
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// sampleEvent is an order.created event of a random order over the seeded products.
func (b *bench) sampleEvent() event {
	o := b.randomOrder()
	var total int64
	items := make([]map[string]any, 0, len(o.Items))
	for _, l := range o.Items {
		price := 100 + rand.Int64N(100_000)
		total += price
		items = append(items, map[string]any{"product_id": l.ProductID, "qty": l.Qty, "unit_price_cents": price, "subtotal_cents": price})
	}
	return newEvent(rand.Int64N(1_000_000_000), o.CustomerID, total, items, time.Now().UTC(), "")
}

// rawSend sends up to n sample events in calls of batch from one sequential sender, for at most twice
// the phase duration, and measures it.
func (b *bench) rawSend(ctx context.Context, name string, n, batch int, send func(context.Context, []string) error) Phase {
	bodies := make([][]string, 0, 64)
	for i := 0; i < 64; i++ {
		batch := make([]string, batch)
		for j := range batch {
			batch[j] = string(b.sampleEvent().payload)
		}
		bodies = append(bodies, batch)
	}
	ph := Phase{Name: name, Mode: "sequential", Unit: "messages/s", Clients: 1, Errors: map[string]int64{}}
	m := startMeter(b.targets())
	start := time.Now()
	deadline := start.Add(2 * b.o.duration)
	var lats []time.Duration
	sent := 0
	for i := 0; sent < n && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		call := bodies[i%len(bodies)][:min(batch, n-sent)]
		t0 := time.Now()
		if err := send(ctx, call); err != nil {
			ph.Errors[firstLine(err.Error())]++
			ph.ErrorCount++
			if ph.ErrorCount > 100 {
				ph.Error = "over 100 failed calls: " + err.Error()
				break
			}
			continue
		}
		lats = append(lats, time.Since(t0))
		sent += len(call)
	}
	elapsed := time.Since(start)
	ph.Processes, ph.Machine = m.finish(int64(sent))
	ph.Seconds, ph.Ops = round(elapsed.Seconds(), 3), int64(sent)
	ph.Throughput = round(float64(sent)/elapsed.Seconds(), 2)
	ph.Latency = summarize(lats)
	return ph
}

// sendBatch is one SendMessageBatch to the queue at url, with the message attributes the relay sets on
// each event.
// rawAttributes are the message attributes of the raw sends: the ones every relayed event carries.
var rawAttributes = []string{"event_type", "aggregate_type", "aggregate_id", "aggregate_version", "correlation_id", "_watermill_message_uuid"}

func (b *bench) sendBatch(ctx context.Context, url string, bodies []string) error {
	entries := make([]types.SendMessageBatchRequestEntry, len(bodies))
	for i, body := range bodies {
		attrs := map[string]types.MessageAttributeValue{}
		for _, k := range rawAttributes {
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(k + "-value")}
		}
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body), MessageAttributes: attrs}
	}
	out, err := b.sqs.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("send message batch: %d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
	}
	return nil
}

// relaySteady runs order-create with the relay running and watches the outbox and the destination.
func (b *bench) relaySteady(ctx context.Context, w *Workload, f *RelayFigures) error {
	s := &f.Steady
	if b.sqs.dest == "" {
		addNote(&s.Note, "no queue to read relayed events from (a topic without the tap queue): lag not measured")
	}
	// Start from an empty outbox: earlier workloads may have left a backlog for the relay.
	if _, err := waitPending(ctx, b.orders, 0, 2*time.Minute); err != nil {
		return fmt.Errorf("outbox before the steady load: %w", err)
	}
	var c *consumer
	if b.sqs.dest != "" {
		if !b.o.attach {
			if err := b.sqs.purge(ctx, b.sqs.dest); err != nil {
				return err
			}
		}
		// Attached, the harness takes (and deletes) what arrives on the events queue while it watches:
		// only events committed in the window count.
		var err error
		if c, err = b.sqs.consume(ctx, b.sqs.dest, 4); err != nil {
			return err
		}
		defer c.stop()
	}

	// Backlog samples; T is made relative to the window once it is known.
	var mu sync.Mutex
	type at struct {
		t    time.Time
		rows int
	}
	var samples []at
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampleCtx.Err() == nil {
			if n, err := outboxPending(sampleCtx, b.orders); err == nil {
				mu.Lock()
				samples = append(samples, at{time.Now(), n})
				mu.Unlock()
			}
			sleep(sampleCtx, 500*time.Millisecond)
		}
	}()

	spec := loadSpec{
		name: "order-create with relay", unit: "orders/s", clients: b.o.clients, rate: b.o.relayRate,
		warmup: b.o.warmup, duration: b.o.duration, targets: b.targets(),
		op: func(ctx context.Context, _ int, _ int64) string {
			_, class := b.restCreate(ctx, b.randomOrder(), nil)
			return class
		},
	}
	ph, win := runLoad(ctx, spec)
	ph.Note = "producer load while the relay drains; backlog and lag below"
	loadEnd := time.Now()
	caughtUp, err := waitPending(ctx, b.orders, 0, time.Minute)
	if err == nil {
		s.CatchUpSeconds = round(caughtUp.Sub(loadEnd).Seconds(), 2)
	} else {
		addNote(&s.Note, err.Error())
		s.CatchUpSeconds = -1
	}
	stopSampling()
	<-sampled
	w.Phases = append(w.Phases, ph)

	var sum float64
	var inWin []Sample
	for _, x := range samples {
		smp := Sample{T: round(x.t.Sub(win.start).Seconds(), 2), Rows: x.rows}
		s.Backlog = append(s.Backlog, smp)
		if win.contains(x.t) {
			inWin = append(inWin, smp)
			sum += float64(x.rows)
			s.BacklogMax = max(s.BacklogMax, x.rows)
			s.BacklogEnd = x.rows
		}
	}
	if len(inWin) > 0 {
		s.BacklogMean = round(sum/float64(len(inWin)), 1)
		s.BacklogSlope = round(slope(inWin), 2)
	}

	if c != nil {
		// The outbox is empty: let what is already in the queue arrive, until nothing came for a second
		// (the receivers' long poll) or a bound.
		var lag, lagSent []time.Duration
		idleSince, deadline := time.Now(), time.Now().Add(30*time.Second)
		for time.Since(idleSince) < time.Second && time.Now().Before(deadline) && ctx.Err() == nil {
			select {
			case m := <-c.msgs:
				idleSince = time.Now()
				if m.occurredAt.IsZero() || !win.contains(m.occurredAt) {
					continue
				}
				lag = append(lag, m.received.Sub(m.occurredAt))
				if !m.sent.IsZero() {
					lagSent = append(lagSent, m.sent.Sub(m.occurredAt))
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
		s.Lag, s.LagSent, s.Received = summarize(lag), summarize(lagSent), len(lag)
		if len(lag) == 0 {
			addNote(&s.Note, "no event committed in the window reached "+b.sqs.dest+
				" (does the relay send where the harness reads? with a topic it reads the tap queue subscribed to it)")
		}
		select {
		case err := <-c.errs:
			addNote(&s.Note, "consumer error: "+firstLine(err.Error()))
		default:
		}
	}
	return nil
}

// pendingQueries count undelivered outbox rows, newest schema first: a row that is neither acked nor
// parked is waiting for the relay.
var pendingQueries = []string{
	"SELECT COUNT(*) FROM outbox WHERE acked = FALSE AND parked_at IS NULL",
	"SELECT COUNT(*) FROM outbox WHERE acked = FALSE",
	"SELECT COUNT(*) FROM outbox",
}

// outboxPending returns the number of undelivered outbox rows.
func outboxPending(ctx context.Context, d *sql.DB) (int, error) {
	var err error
	for _, q := range pendingQueries {
		var n int
		if err = d.QueryRowContext(ctx, q).Scan(&n); err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return 0, fmt.Errorf("count outbox rows: %w", err)
}

// waitPending polls until at most n rows are undelivered, and returns when that was first seen.
func waitPending(ctx context.Context, d *sql.DB, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		left, err := outboxPending(ctx, d)
		if err != nil {
			return time.Time{}, err
		}
		if left <= n {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d outbox rows still undelivered after %s", left, timeout)
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// slope is the least-squares rows per second of samples.
func slope(s []Sample) float64 {
	if len(s) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, p := range s {
		x, y := p.T, float64(p.Rows)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(s))
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

func round(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// addNote appends msg to a "; "-separated note.
func addNote(note *string, msg string) {
	if *note != "" {
		*note += "; "
	}
	*note += msg
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
