package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// orchestratorPath is the local orchestrator's route (the deployed one has a stage prefix).
const orchestratorPath = "/orchestrator/create-and-confirm-order"

// Log lines the breakdown reads (their msg values) and the fields it takes from them.
const (
	orchestratorLine = "request"                        // duration_ms, polls, send_ms, wait_ms, status
	workerLine       = "place order: command processed" // duration_ms, queue_ms
)

// ConfirmFigures are the create-and-confirm workload's own results.
type ConfirmFigures struct {
	// QueueProbe is goaws's own delivery time: send → receive of probe messages by long-polling
	// receivers set up like the worker's (WaitTimeSeconds 20, one message a receive).
	QueueProbe     *Dist  `json:"queue_probe_ms"`
	QueueProbeNote string `json:"queue_probe_note"`
	// SentTimestampReliable says whether SQS's SentTimestamp is the time of the send (goaws sets it at
	// receive, which makes any SentTimestamp-based queue time read ≈ 0); nil when the probe failed.
	SentTimestampReliable *bool `json:"sent_timestamp_reliable"`
	// Breakdowns decompose the requests of each phase.
	Breakdowns []Breakdown `json:"breakdowns"`
}

// Breakdown is where the time of one phase's successful requests went.
type Breakdown struct {
	Phase      string      `json:"phase"`
	Requests   int         `json:"requests"`
	Matched    *int        `json:"matched_log_lines,omitempty"`
	Components []Component `json:"components"`
}

// Component is one part of a request's time, or n/a with the reason.
type Component struct {
	Name    string `json:"name"`
	Unit    string `json:"unit"`
	Source  string `json:"source"`
	Dist    *Dist  `json:"dist"`
	Missing string `json:"missing,omitempty"`
}

// Dist summarises values (milliseconds, or counts).
type Dist struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func distOf(v []float64) *Dist {
	if len(v) == 0 {
		return nil
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return round(s[max(0, min(len(s)-1, i))], 2)
	}
	var sum float64
	for _, x := range s {
		sum += x
	}
	return &Dist{N: len(s), P50: at(0.5), P95: at(0.95), P99: at(0.99), Max: round(s[len(s)-1], 2), Mean: round(sum/float64(len(s)), 2)}
}

// ccRequest is one create-and-confirm (or REST create + confirm) as the client saw it.
type ccRequest struct {
	corr        string
	start       time.Time
	created     time.Time // REST: when the create answered
	end         time.Time
	ok          bool
	confirmedAt time.Time
}

// createAndConfirm runs the orchestrator at a fixed rate and with 1 and 8 clients, then REST create +
// confirm with 1 and 8 clients, and breaks the orchestrator's time down.
func (b *bench) createAndConfirm(ctx context.Context, w *Workload) error {
	f := &ConfirmFigures{}
	w.Confirm = f
	b.logf("create-and-confirm: probing goaws's delivery time")
	f.SentTimestampReliable = b.sentTimestampOK
	probe, note, err := b.queueProbe(ctx)
	if err != nil {
		f.QueueProbeNote = "probe failed: " + err.Error()
	} else {
		f.QueueProbe, f.QueueProbeNote = probe, note
	}

	var seq atomic.Int64
	for _, c := range []struct {
		name    string
		clients int
		rate    float64
	}{
		{fmt.Sprintf("orchestrator %g/s", b.o.rate), 0, b.o.rate},
		{"orchestrator 1 client", 1, 0},
		{"orchestrator 8 clients", 8, 0},
	} {
		if err := b.checkStack(); err != nil {
			return err
		}
		var mu sync.Mutex
		var reqs []ccRequest
		orchLog, workerLog := b.logPath("orchestrator", b.o.orchestratorLog), b.logPath("orders-worker", b.o.workerLog)
		orchOff, workerOff := fileSize(orchLog), fileSize(workerLog)
		ph, win := runLoad(ctx, loadSpec{
			name: c.name, unit: "orders/s", clients: c.clients, rate: c.rate, warmup: b.o.warmup, duration: b.o.duration, targets: b.targets(),
			op: func(ctx context.Context, _ int, _ int64) string {
				r, class := b.orchestrate(ctx, seq.Add(1))
				mu.Lock()
				reqs = append(reqs, r)
				mu.Unlock()
				return class
			},
		})
		ph.Note = "POST " + orchestratorPath + " until its final answer (201 counted; 202 PENDING is an error class)"
		w.Phases = append(w.Phases, ph)
		// The orchestrator writes its line after the answer, the worker before its ack: give both a moment.
		sleep(ctx, 300*time.Millisecond)
		mu.Lock()
		bd := b.breakdown(c.name, inWindow(reqs, win), orchLog, orchOff, workerLog, workerOff, f)
		mu.Unlock()
		f.Breakdowns = append(f.Breakdowns, bd)
	}

	for _, clients := range []int{1, 8} {
		if err := b.checkStack(); err != nil {
			return err
		}
		var mu sync.Mutex
		var reqs []ccRequest
		name := fmt.Sprintf("REST create+confirm %d client", clients)
		if clients > 1 {
			name += "s"
		}
		ph, win := runLoad(ctx, loadSpec{
			name: name, unit: "orders/s", clients: clients, warmup: b.o.warmup, duration: b.o.duration, targets: b.targets(),
			op: func(ctx context.Context, _ int, _ int64) string {
				r, class := b.restCreateConfirm(ctx, seq.Add(1))
				mu.Lock()
				reqs = append(reqs, r)
				mu.Unlock()
				return class
			},
		})
		ph.Note = "POST /orders, then POST /orders/{id}/confirm with X-Idempotency-Key"
		w.Phases = append(w.Phases, ph)
		var create, confirm []float64
		for _, r := range inWindow(reqs, win) {
			create = append(create, msBetween(r.start, r.created))
			confirm = append(confirm, msBetween(r.created, r.end))
		}
		f.Breakdowns = append(f.Breakdowns, Breakdown{Phase: name, Requests: len(create), Components: []Component{
			{Name: "create", Unit: "ms", Source: "client: POST /orders", Dist: distOf(create)},
			{Name: "confirm", Unit: "ms", Source: "client: POST /orders/{id}/confirm", Dist: distOf(confirm)},
		}})
	}
	return nil
}

// orchestrate sends one create-and-confirm with its own idempotency key and correlation id.
func (b *bench) orchestrate(ctx context.Context, n int64) (ccRequest, string) {
	o := b.randomOrder()
	key := "bench-" + b.runID + "-" + strconv.FormatInt(n, 10)
	r := ccRequest{corr: key, start: time.Now()}
	body := map[string]any{"customer_id": o.CustomerID, "items": o.Items, "idempotency_key": key}
	status, rb, err := b.api.post(ctx, b.urls["orchestrator"], orchestratorPath, body, map[string]string{"X-Correlation-Id": key})
	r.end = time.Now()
	if err != nil || status != http.StatusCreated {
		return r, httpClass(status, rb, err)
	}
	var ans struct {
		Data struct {
			Order struct {
				ConfirmedAt *time.Time `json:"confirmed_at"`
			} `json:"order"`
		} `json:"data"`
	}
	_ = json.Unmarshal(rb, &ans)
	if ans.Data.Order.ConfirmedAt != nil {
		r.confirmedAt = *ans.Data.Order.ConfirmedAt
	}
	r.ok = true
	return r, ""
}

// restCreateConfirm creates an order and confirms it over orders-api's REST routes.
func (b *bench) restCreateConfirm(ctx context.Context, n int64) (ccRequest, string) {
	key := "bench-" + b.runID + "-" + strconv.FormatInt(n, 10)
	r := ccRequest{corr: key, start: time.Now()}
	hdr := map[string]string{"X-Correlation-Id": key}
	id, class := b.restCreate(ctx, b.randomOrder(), hdr)
	r.created = time.Now()
	if class != "" {
		return r, "create: " + class
	}
	hdr["X-Idempotency-Key"] = key
	status, rb, err := b.api.post(ctx, b.urls["orders-api"], "/orders/"+strconv.FormatInt(id, 10)+"/confirm", nil, hdr)
	r.end = time.Now()
	if err != nil || status != http.StatusOK {
		return r, "confirm: " + httpClass(status, rb, err)
	}
	_, r.confirmedAt = orderFields(rb)
	r.ok = true
	return r, ""
}

// inWindow keeps the successful requests that started inside w (the ones the phase counted).
func inWindow(reqs []ccRequest, w window) []ccRequest {
	var out []ccRequest
	for _, r := range reqs {
		if r.ok && w.contains(r.start) {
			out = append(out, r)
		}
	}
	return out
}

// logLine is the part of a JSON log line the breakdown reads; absent numbers stay nil.
type logLine struct {
	Time          time.Time `json:"time"`
	Msg           string    `json:"msg"`
	CorrelationID string    `json:"correlation_id"`
	DurationMS    *float64  `json:"duration_ms"`
	Polls         *float64  `json:"polls"`
	SendMS        *float64  `json:"send_ms"`
	WaitMS        *float64  `json:"wait_ms"`
	QueueMS       *float64  `json:"queue_ms"`
}

// readLogLines returns the lines with message msg written to path after offset, by correlation id.
func readLogLines(path string, offset int64, msg string) (map[string]logLine, error) {
	out := map[string]logLine{}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return out, fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return out, fmt.Errorf("read log %s: %w", path, err)
	}
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		var l logLine
		if json.Unmarshal(s.Bytes(), &l) != nil || l.Msg != msg || l.CorrelationID == "" {
			continue
		}
		out[l.CorrelationID] = l
	}
	return out, s.Err()
}

// breakdown decomposes the successful requests of an orchestrator phase with the orchestrator's and the
// worker's log lines (matched by correlation id) and the confirmed_at of each answer.
func (b *bench) breakdown(phase string, reqs []ccRequest, orchLog string, orchOff int64, workerLog string, workerOff int64, f *ConfirmFigures) Breakdown {
	bd := Breakdown{Phase: phase, Requests: len(reqs), Matched: new(int)}
	orch, errO := readLogLines(orchLog, orchOff, orchestratorLine)
	work, errW := readLogLines(workerLog, workerOff, workerLine)

	var total, server, beforeSend, send, queue, worker, seen, toWorker, wait, added, polls []float64
	for _, r := range reqs {
		total = append(total, msBetween(r.start, r.end))
		o, okO := orch[r.corr]
		wk, okW := work[r.corr]
		if okO && okW {
			*bd.Matched++
		}
		if okO && o.DurationMS != nil {
			server = append(server, *o.DurationMS)
			if o.SendMS != nil && o.WaitMS != nil {
				beforeSend = append(beforeSend, *o.DurationMS-*o.SendMS-*o.WaitMS)
			}
		}
		if okO && o.SendMS != nil {
			send = append(send, *o.SendMS)
		}
		if okO && o.WaitMS != nil {
			wait = append(wait, *o.WaitMS)
		}
		if okO && o.Polls != nil {
			polls = append(polls, *o.Polls)
		}
		if okW && wk.QueueMS != nil {
			// The worker measures queue_ms from the command's requested_at (the orchestrator's clock as
			// it builds the command, just before sending it), not from SQS's SentTimestamp.
			queue = append(queue, *wk.QueueMS)
			added = append(added, msBetween(r.start, r.end)-*wk.QueueMS)
		}
		if okW && wk.DurationMS != nil {
			worker = append(worker, *wk.DurationMS)
		}
		if okO && !r.confirmedAt.IsZero() {
			seen = append(seen, msBetween(r.confirmedAt, o.Time))
		}
		if okO && okW && o.DurationMS != nil && wk.DurationMS != nil {
			orchStart := o.Time.Add(-msDuration(*o.DurationMS))
			workerStart := wk.Time.Add(-msDuration(*wk.DurationMS))
			toWorker = append(toWorker, msBetween(orchStart, workerStart))
		}
	}

	missing := func(what string) string { return what + " absent from the log lines" }
	comp := func(name, unit, source string, v []float64, ifMissing string) Component {
		c := Component{Name: name, Unit: unit, Source: source, Dist: distOf(v)}
		if c.Dist == nil {
			c.Missing = ifMissing
		}
		return c
	}
	noLogs := ""
	switch {
	case errO != nil:
		noLogs = errO.Error()
	case errW != nil:
		noLogs = errW.Error()
	case orchLog == "" || workerLog == "":
		noLogs = "no log files (attach mode: give -orchestrator-log and -worker-log)"
	}
	orZero := func(s string) string {
		if noLogs != "" {
			return noLogs
		}
		return s
	}
	addedSource := "client total − worker queue_ms, per request"
	addedMissing := missing("queue_ms")
	if len(added) == 0 && f.QueueProbe != nil {
		// Without queue_ms the queue's share is taken from the probe of goaws's delivery time.
		for _, t := range total {
			added = append(added, t-f.QueueProbe.P50)
		}
		addedSource = fmt.Sprintf("client total − queue probe p50 (%.1f ms): worker queue_ms absent", f.QueueProbe.P50)
	}
	bd.Components = []Component{
		comp("client total", "ms", "harness clock: request sent → 201 read", total, "no successful request"),
		comp("orchestrator total", "ms", "orchestrator line duration_ms", server, orZero(missing("duration_ms"))),
		comp("orchestrator before send", "ms", "orchestrator duration_ms − send_ms − wait_ms (validate, customer, request lookup)", beforeSend, orZero(missing("send_ms or wait_ms"))),
		comp("send PlaceOrder", "ms", "orchestrator send_ms", send, orZero(missing("send_ms"))),
		comp("order-commands: sent → received", "ms", "worker queue_ms (the command's requested_at → its delivery: the send and the queue)", queue, orZero(missing("queue_ms"))),
		comp("worker processing", "ms", "worker duration_ms (create + confirm transactions)", worker, orZero(missing("duration_ms"))),
		comp("confirm commit → orchestrator answer", "ms", "orchestrator line time − order confirmed_at (taken just before the commit; log times have ms resolution)", seen, orZero("confirmed_at or the orchestrator line missing")),
		comp("wait: sent → final answer seen", "ms", "orchestrator wait_ms", wait, orZero(missing("wait_ms"))),
		comp("orchestrator start → worker start", "ms", "(worker line time − duration_ms) − (orchestrator line time − duration_ms): before send + send + queue", toWorker, orZero("a log line missing")),
		comp("polls", "count", "orchestrator polls", polls, orZero(missing("polls"))),
		comp("added by orchestrator + worker", "ms", addedSource, added, orZero(addedMissing)),
	}
	return bd
}

// queueProbe times goaws's delivery: one sender, receivers like the worker's (WORKER_CONCURRENCY of
// them, long polls of 20 s, one message a receive).
func (b *bench) queueProbe(ctx context.Context) (*Dist, string, error) {
	s := b.sqs
	u, err := s.createProbeQueue(ctx)
	if err != nil {
		return nil, "", err
	}
	defer s.client.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})

	receivers := 4
	if n, err := strconv.Atoi(b.env["WORKER_CONCURRENCY"]); err == nil && n > 0 {
		receivers = n
	}
	count := int(min(100, max(20, b.o.duration/(40*time.Millisecond))))
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []float64
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < receivers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rctx.Err() == nil {
				out, err := s.client.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 1, WaitTimeSeconds: 20})
				now := time.Now()
				if err != nil {
					continue
				}
				for _, m := range out.Messages {
					mu.Lock()
					if t, ok := sent[aws.ToString(m.Body)]; ok {
						lat = append(lat, msBetween(t, now))
					}
					mu.Unlock()
					_, _ = s.client.DeleteMessage(context.WithoutCancel(rctx), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle})
				}
			}
		}()
	}
	// Let the receivers settle into their long polls, then send at uneven intervals so arrivals fall
	// anywhere in goaws's polling cycle, as commands do.
	sleep(ctx, 300*time.Millisecond)
	for i := 0; i < count && ctx.Err() == nil; i++ {
		body := "probe-" + strconv.Itoa(i)
		mu.Lock()
		sent[body] = time.Now()
		mu.Unlock()
		if _, err := s.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body)}); err != nil {
			cancel()
			wg.Wait()
			return nil, "", fmt.Errorf("probe send: %w", err)
		}
		sleep(ctx, time.Duration(20+i*37%41)*time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= count {
			break
		}
		sleep(ctx, 50*time.Millisecond)
	}
	cancel()
	wg.Wait()
	note := fmt.Sprintf("%d messages, %d receivers (long poll 20 s, 1 message a receive)", count, receivers)
	return distOf(lat), note, nil
}

// logPath is the log file of a started process, or the given file in attach mode.
func (b *bench) logPath(name, attached string) string {
	if p := b.proc(name); p != nil {
		return p.logPath
	}
	return attached
}

func fileSize(path string) int64 {
	if path == "" {
		return 0
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func msBetween(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
