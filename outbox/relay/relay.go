package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/smithy-go"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
)

// Options configure a Relay. Zero values take the defaults noted on each field.
type Options struct {
	// BatchSize is the number of rows one relay locks and sends per transaction (default 300). After
	// a crash, at most this many events of the interrupted batch are sent again.
	BatchSize int
	// Lanes is how many batch calls are in flight at once (default 8). The events of one aggregate
	// always go through the same lane, in offset order.
	Lanes int
	// PollInterval is the wait between polls of an empty outbox (default 250 ms).
	PollInterval time.Duration
	// MaxAttempts is the number of refused sends after which an event is parked (default 5).
	MaxAttempts int
	// RetryBackoff is the first wait after a failed send; it doubles up to MaxBackoff
	// (defaults 200 ms and 10 s).
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// AckDeadline bounds how long one send is retried before the batch transaction is committed with
	// what was delivered and the rest released (default 30 s). During an outage the relay keeps
	// retrying, but in a fresh transaction every AckDeadline rather than one open for the whole outage.
	AckDeadline time.Duration
	// LagInterval is how often the lag is checked, and logged when it changed (default 10 s).
	// It is logged at least every LagLogEvery (default 1 min) even when unchanged.
	LagInterval time.Duration
	LagLogEvery time.Duration
	// Log receives the relay's log lines (default slog.Default()).
	Log *slog.Logger
	// Metrics counts what the relay sends (nil: nothing is counted).
	Metrics *Metrics
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 300
	}
	if o.Lanes <= 0 {
		o.Lanes = 8
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.RetryBackoff)
	if o.AckDeadline <= 0 {
		o.AckDeadline = 30 * time.Second
	}
	if o.LagInterval <= 0 {
		o.LagInterval = 10 * time.Second
	}
	if o.LagLogEvery <= 0 {
		o.LagLogEvery = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Relay moves committed outbox rows to a destination (an SNS topic or an SQS queue, queue.Batcher):
// it locks a batch of rows, sends them in batch calls in offset order, deletes each delivered chunk of
// rows and commits.
type Relay struct {
	db   *sql.DB
	dest queue.Batcher
	o    Options
	log  *slog.Logger
	down outage

	delivered atomic.Int64
	running   chan struct{}

	// from is where the next select starts looking. Delivered rows leave delete-marked records behind
	// until InnoDB purges them, and a select walking from the start of the table through tens of
	// thousands of them while the relay drains a backlog made each batch several times slower; so the
	// select starts past the rows the last batch looked at, once nothing among them can still be sent
	// (see advance). It goes back to 0 at least every rescanEvery, for a row that comes back into line
	// below it (a parked event released).
	from       int64
	lastRescan time.Time
}

// rescanEvery bounds how long a row below the select's starting point can wait while a backlog lasts.
const rescanEvery = time.Second

// New returns a relay reading db's outbox and sending to dest. db's connections must allow several
// statements in one Exec (sqldb.Config.MultiStatements).
func New(db *sql.DB, dest queue.Batcher, o Options) (*Relay, error) {
	if dest == nil {
		return nil, errors.New("outbox relay: a destination is required")
	}
	o.defaults()
	log := o.Log.With("destination", dest.Destination())
	return &Relay{db: db, dest: dest, o: o, log: log, down: outage{log: log}, running: make(chan struct{})}, nil
}

// Delivered returns how many events this relay has sent since it started.
func (r *Relay) Delivered() int64 { return r.delivered.Load() }

// Running is closed once the relay polls the outbox.
func (r *Relay) Running() <-chan struct{} { return r.running }

// Run relays until ctx is canceled, then shuts down gracefully: the chunk being sent is finished (or
// given up, when a send hangs), the rows delivered so far in the current batch are deleted and
// committed, and the rest of the batch is unlocked for the next relay. It returns nil after a graceful
// shutdown. A Relay runs once.
func (r *Relay) Run(ctx context.Context) error {
	if _, err := r.db.ExecContext(ctx, "DO 1; DO 1"); err != nil && ctx.Err() == nil && !sqldb.Unavailable(err) {
		return fmt.Errorf("outbox relay: the database connections must allow several statements in one Exec (sqldb.Config.MultiStatements): %w", err)
	}
	close(r.running)
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); r.watchLag(lagCtx) }()
	defer func() { stopLag(); <-lagDone }()

	var dbDown bool
	for {
		if ctx.Err() != nil {
			r.log.Info("outbox relay stopped", "delivered", r.Delivered())
			return nil
		}
		res, err := r.batch(ctx)
		var wait time.Duration
		switch {
		case err != nil && !sqldb.IsRetryable(err):
			if !dbDown {
				dbDown = true
				r.log.Warn("outbox unreadable: retrying", "error", err.Error())
			}
			wait = time.Second
		case err != nil:
			// Deadlocks and lock waits kept coming back: the batch rolled back and its sends will be
			// repeated; try again now.
			r.log.Warn("outbox batch rolled back", "error", err.Error())
		case res.selected == 0:
			wait = r.o.PollInterval
		case res.refused > 0:
			// Refused events are still in line; their next attempt comes after a pause.
			wait = r.o.RetryBackoff
		}
		if err == nil && dbDown {
			dbDown = false
			r.log.Info("outbox readable again")
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// row is one outbox row as the relay reads it.
type row struct {
	offset  int64
	msg     *message.Message
	invalid string // why the row can never be sent as it is ("" when it can)
}

type batchResult struct {
	selected, delivered, refused int
	// start and last are the offsets the select looked at: from where it started to the last row it
	// took (last is meaningful when selected > 0).
	start, last int64
}

// batch locks the next rows (READ COMMITTED, FOR UPDATE SKIP LOCKED: rows other relays hold and rows
// of still-open producer transactions are skipped, not waited for), sends them and deletes what was
// delivered, in one transaction.
func (r *Relay) batch(ctx context.Context) (batchResult, error) {
	var res batchResult
	err := sqldb.InTxOpts(context.WithoutCancel(ctx), r.db, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, func(tx *sql.Tx) error {
		res = batchResult{}
		rows, start, err := r.lock(ctx, tx)
		if err != nil {
			return err
		}
		res.selected, res.start = len(rows), start
		if len(rows) > 0 {
			res.last = rows[len(rows)-1].offset
		}
		// The lanes send at once; the transaction is written after they are done, from here only.
		lanes := r.lanes(rows)
		results := make([]sent, len(lanes))
		var wg sync.WaitGroup
		for i, lane := range lanes {
			if len(lane) > 0 {
				wg.Go(func() { results[i] = r.sendLane(ctx, i, lane) })
			}
		}
		wg.Wait()
		var all sent
		for _, s := range results {
			all.add(s)
		}
		if len(rows) > 0 && !all.failed {
			r.down.clear()
		}
		for _, f := range all.refused {
			if err := r.refuse(ctx, tx, f.row, f.err); err != nil {
				return err
			}
		}
		// Database trouble from here on fails the commit too, and the batch is sent again: a duplicate,
		// not a loss.
		if err := r.remove(ctx, tx, all.delivered); err != nil {
			return err
		}
		res.delivered, res.refused = len(all.delivered), len(all.refused)
		return nil
	})
	if err != nil {
		return res, err
	}
	r.delivered.Add(int64(res.delivered))
	if res.selected > 0 {
		r.o.Metrics.batch()
		r.advance(ctx, res.start, res.last)
	}
	return res, nil
}

// advance sets where the next select starts, after a batch that looked at the offsets start…last has
// committed: past last only when nothing in that range can still be sent. The select skipped the rows
// it found locked: a producer's transaction still open (it may commit later, and the next version of
// its order after it, at a higher offset) or another relay's batch; and the batch may have refused or
// released rows. Starting the next select past such a row would send a later version of its order
// first. One locking read of the range with NOWAIT tells: a locked row fails it at once (the range is
// looked at again), the first pending row is the new start, nothing means past last. The range is the
// batch's own, so the read walks a few hundred records at most.
func (r *Relay) advance(ctx context.Context, start, last int64) {
	r.from = start
	tx, err := r.db.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return
	}
	defer tx.Rollback()
	var next int64
	err = tx.QueryRowContext(context.WithoutCancel(ctx), "SELECT `offset` FROM "+table+
		" FORCE INDEX (PRIMARY) WHERE `offset` BETWEEN ? AND ? AND `acked` = FALSE AND `parked_at` IS NULL ORDER BY `offset` LIMIT 1 FOR UPDATE NOWAIT",
		start, last).Scan(&next)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		r.from = last + 1
	case err == nil:
		r.from = next
	default:
		// A locked row (NOWAIT), or database trouble: start at the same place next time.
		r.log.Debug("outbox range not settled; the next select starts there again", "from", start, "to", last, "error", err.Error())
	}
}

// lanes splits rows, kept in offset order, into Lanes groups (some empty) by aggregate: all events of one
// order go through one lane, one batch call after the other, so they leave in aggregate_version order,
// while the lanes send at the same time. A lane's index is stable for an aggregate.
func (r *Relay) lanes(rows []row) [][]row {
	out := make([][]row, r.o.Lanes)
	for _, rw := range rows {
		h := fnv.New32a()
		h.Write([]byte(rw.msg.Metadata.Get(events.MetaAggregateType)))
		h.Write([]byte{0})
		h.Write([]byte(rw.msg.Metadata.Get(events.MetaAggregateID)))
		i := h.Sum32() % uint32(r.o.Lanes)
		out[i] = append(out[i], rw)
	}
	return out
}

// sent is what sending some rows came to.
type sent struct {
	delivered []row
	refused   []refusal
	gaveUp    bool // a send did not succeed within AckDeadline, or the relay is stopping
	failed    bool // a send failed (an outage), whether or not a retry then went through
}

// refusal is a row refused for a reason of its own.
type refusal struct {
	row row
	err error
}

func (s *sent) add(o sent) {
	s.delivered = append(s.delivered, o.delivered...)
	s.refused = append(s.refused, o.refused...)
	s.gaveUp = s.gaveUp || o.gaveUp
	s.failed = s.failed || o.failed
}

// sendLane sends one lane's rows chunk after chunk; once a chunk is given up, the rest of the lane stays
// in the outbox for the next batch, so the lane's order holds.
func (r *Relay) sendLane(ctx context.Context, lane int, rows []row) sent {
	var out sent
	for _, chunk := range r.chunks(rows) {
		if ctx.Err() != nil {
			out.gaveUp = true
			break
		}
		out.add(r.sendChunk(ctx, lane, chunk))
		if out.gaveUp {
			break
		}
	}
	return out
}

// lock selects and locks the next batch of undelivered, unparked rows, and says from which offset it
// looked.
func (r *Relay) lock(ctx context.Context, tx *sql.Tx) ([]row, int64, error) {
	// FORCE INDEX (PRIMARY): through the (acked, offset) index, a skipped row's index entry stays locked by
	// the skipping relay, and the relay that holds the row then waits on it to delete the row: two relays
	// deadlocked that way several times per thousand events, each time sending a batch again. Delivered
	// rows are deleted, so the primary key walks little more than what is pending.
	from := r.from
	if time.Since(r.lastRescan) >= rescanEvery {
		from, r.lastRescan = 0, time.Now()
	}
	rs, err := tx.QueryContext(context.WithoutCancel(ctx), "SELECT `offset`, `uuid`, `payload`, `metadata` FROM "+table+
		" FORCE INDEX (PRIMARY) WHERE `offset` >= ? AND `acked` = FALSE AND `parked_at` IS NULL ORDER BY `offset` LIMIT ? FOR UPDATE SKIP LOCKED",
		from, r.o.BatchSize)
	if err != nil {
		return nil, 0, fmt.Errorf("lock outbox batch: %w", err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var (
			rw             row
			uuid           string
			payload, metas []byte
		)
		if err := rs.Scan(&rw.offset, &uuid, &payload, &metas); err != nil {
			return nil, 0, fmt.Errorf("read outbox row: %w", err)
		}
		rw.msg = message.NewMessage(uuid, payload)
		if len(metas) > 0 {
			if err := json.Unmarshal(metas, &rw.msg.Metadata); err != nil {
				rw.invalid = "metadata is not a JSON object of strings: " + err.Error()
				rw.msg.Metadata = message.Metadata{}
			}
		}
		if rw.invalid == "" {
			rw.invalid = invalid(rw.msg)
		}
		out = append(out, rw)
	}
	if err := rs.Err(); err != nil {
		return nil, 0, fmt.Errorf("read outbox batch: %w", err)
	}
	return out, from, nil
}

// maxMetadataKeys: SQS allows 10 message attributes and the message UUID takes one.
const maxMetadataKeys = 9

// invalid says why msg can never be accepted as it is, or "".
func invalid(msg *message.Message) string {
	switch {
	case len(msg.Payload) > outbox.MaxPayloadBytes:
		return fmt.Sprintf("payload is %d bytes, over the %d-byte SQS limit", len(msg.Payload), outbox.MaxPayloadBytes)
	case !utf8.Valid(msg.Payload):
		return "payload is not valid UTF-8, which SQS refuses"
	case len(msg.Metadata) > maxMetadataKeys:
		return fmt.Sprintf("%d metadata keys, over the %d SQS message attributes left after the message UUID", len(msg.Metadata), maxMetadataKeys)
	}
	return ""
}

// chunks cuts rows, in offset order, into the destination's batches: at most MaxBatch messages and
// MaxBatchBytes each.
func (r *Relay) chunks(rows []row) [][]row {
	var (
		out   [][]row
		cur   []row
		bytes int
	)
	for _, rw := range rows {
		n := queue.BatchBytes(rw.msg)
		if len(cur) > 0 && (len(cur) == r.dest.MaxBatch() || bytes+n > queue.MaxBatchBytes) {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, rw)
		bytes += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// sendChunk sends one chunk until every row is delivered or refused, or it gives up. An outage (the
// call failed, or entries failed on the service's side) is retried with capped backoff and never counts
// against an event; a row the service refuses, or that can never be valid, is a refusal (a failed
// attempt for the caller to record).
func (r *Relay) sendChunk(ctx context.Context, lane int, chunk []row) sent {
	var out sent
	deadline := time.Now().Add(r.o.AckDeadline)
	pending := chunk[:0:0]
	for _, rw := range chunk {
		if rw.invalid != "" {
			out.refused = append(out.refused, refusal{rw, errors.New(rw.invalid)})
			continue
		}
		pending = append(pending, rw)
	}
	wait := r.o.RetryBackoff
	for len(pending) > 0 {
		sendCtx, cancel := context.WithDeadline(ctx, deadline)
		msgs := make([]*message.Message, len(pending))
		for i, rw := range pending {
			msgs[i] = rw.msg
		}
		sendStart := time.Now()
		results, sendErr := r.dest.SendBatch(sendCtx, msgs)
		took := time.Since(sendStart)
		cancel()
		deliveredBefore := len(out.delivered)
		if sendErr != nil && isEventError(sendErr) {
			// The call was refused for something one of its messages holds: find which, one by one.
			if len(pending) == 1 {
				out.refused = append(out.refused, refusal{pending[0], sendErr})
				return out
			}
			for _, rw := range pending {
				out.add(r.sendChunk(ctx, lane, []row{rw}))
				if out.gaveUp {
					break
				}
			}
			return out
		}
		var again []row
		if sendErr != nil {
			r.down.begin(lane, sendErr)
			out.failed = true
			again = pending
		} else {
			var failed error // the service failed on an entry: an outage of its own, not the event's fault
			for i, rw := range pending {
				var ee *queue.EntryError
				switch e := results[i]; {
				case e == nil:
					out.delivered = append(out.delivered, rw)
				case errors.As(e, &ee) && (ee.SenderFault || eventErrorCodes[ee.Code]):
					out.refused = append(out.refused, refusal{rw, e})
				default:
					failed = e
					again = append(again, rw)
				}
			}
			if failed != nil {
				r.down.begin(lane, failed)
				out.failed = true
			} else {
				r.down.end(lane)
			}
		}
		r.o.Metrics.sendResult(len(out.delivered)-deliveredBefore, len(again), took)
		pending = again
		if len(pending) == 0 {
			break
		}
		if ctx.Err() != nil || !time.Now().Add(wait).Before(deadline) {
			// The rows stay in the outbox and come first in the next batch.
			out.gaveUp = true
			return out
		}
		select {
		case <-ctx.Done():
			out.gaveUp = true
			return out
		case <-time.After(wait):
		}
		wait = min(wait*2, r.o.MaxBackoff)
	}
	return out
}

// eventErrorCodes are error codes that refuse one message rather than the whole destination.
var eventErrorCodes = map[string]bool{
	"InvalidMessageContents": true,
	"InvalidParameterValue":  true,
	"InvalidParameter":       true,
	"InvalidAttributeName":   true,
	"InvalidAttributeValue":  true,
	"MessageTooLong":         true,
}

// isEventError tells a call failure that is the event's own from an outage; anything unrecognized counts
// as an outage: retried without end and never parked, so an unexpected error can delay events but not
// drop them.
func isEventError(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && eventErrorCodes[api.ErrorCode()]
}

// refuse records a failed attempt of rw and parks it once it has failed MaxAttempts times.
func (r *Relay) refuse(ctx context.Context, tx *sql.Tx, rw row, cause error) error {
	log := r.log.With("event_id", rw.msg.UUID, "offset", rw.offset, "event_type", rw.msg.Metadata.Get(events.MetaEventType),
		"correlation_id", rw.msg.Metadata.Get(events.MetaCorrelationID))
	attempts, err := r.recordFailure(ctx, rw.offset, rw.msg.UUID, cause)
	if err != nil {
		return err
	}
	r.o.Metrics.refused(attempts >= r.o.MaxAttempts)
	if attempts < r.o.MaxAttempts {
		log.Warn("outbox event not accepted, will retry", "attempt", attempts, "max_attempts", r.o.MaxAttempts, "error", cause.Error())
		return nil
	}
	if err := r.park(ctx, tx, rw.offset, cause); err != nil {
		return err
	}
	log.Error("outbox event parked: it will not be sent until released", "attempts", attempts, "error", cause.Error())
	return nil
}

// recordFailure counts a failed attempt in its own statement (autocommit, outside the batch
// transaction, so it survives a crash or rollback) and returns the attempts so far.
func (r *Relay) recordFailure(ctx context.Context, offset int64, uuid string, cause error) (int, error) {
	ctx = context.WithoutCancel(ctx)
	msg := truncate(cause.Error(), 2000)
	if _, err := r.db.ExecContext(ctx,
		"INSERT INTO "+failuresTable+" (`offset`, `uuid`, attempts, last_error, first_failed_at, last_failed_at)"+
			" VALUES (?, ?, 1, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"+
			" ON DUPLICATE KEY UPDATE attempts = attempts + 1, last_error = VALUES(last_error), last_failed_at = VALUES(last_failed_at)",
		offset, uuid, msg); err != nil {
		return 0, fmt.Errorf("record failed attempt of outbox row %d: %w", offset, err)
	}
	var n int
	if err := r.db.QueryRowContext(ctx, "SELECT attempts FROM "+failuresTable+" WHERE `offset` = ?", offset).Scan(&n); err != nil {
		return 0, fmt.Errorf("read failed attempts of outbox row %d: %w", offset, err)
	}
	return n, nil
}

// remove deletes delivered rows inside the batch transaction, one primary-key statement each, all in one
// round trip (the relay's connections allow several statements in one Exec); should the batch roll
// back, they are sent again. Not one DELETE ... IN (...): on a table the optimizer takes for small (the
// outbox, whose rows leave as they are delivered) that runs as a full scan, which locks — and waits on —
// every row another relay holds, and two relays deadlock.
func (r *Relay) remove(ctx context.Context, tx *sql.Tx, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	args := make([]any, len(rows))
	for i, rw := range rows {
		args[i] = rw.offset
	}
	q := strings.Repeat("DELETE FROM "+table+" WHERE `offset` = ?;", len(rows))
	if _, err := tx.ExecContext(context.WithoutCancel(ctx), q, args...); err != nil {
		return fmt.Errorf("delete delivered outbox rows: %w", err)
	}
	return nil
}

// park marks the row parked inside the batch transaction (which holds the row's lock): the select skips
// parked rows, and the commit makes the parking durable.
func (r *Relay) park(ctx context.Context, tx *sql.Tx, offset int64, cause error) error {
	if _, err := tx.ExecContext(context.WithoutCancel(ctx),
		"UPDATE "+table+" SET parked_at = UTC_TIMESTAMP(6), last_error = ? WHERE `offset` = ?",
		truncate(cause.Error(), 2000), offset); err != nil {
		return fmt.Errorf("park outbox row %d: %w", offset, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// table is the outbox table, quoted.
var table = outbox.TableName("")

// failuresTable is the table of failed attempts, quoted.
const failuresTable = "`" + outbox.FailuresTable + "`"

// outage turns a run of failed sends into two log lines: one when the first lane fails, one when no lane
// is failing any more. Lanes fail and recover one by one (the service may fail on one entry and take the
// others), so the lines are about the destination, not about each call.
type outage struct {
	log *slog.Logger

	mu       sync.Mutex
	since    time.Time
	failures int
	failing  map[int]bool
}

func (o *outage) begin(lane int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.failing == nil {
		o.failing = map[int]bool{}
	}
	o.failing[lane] = true
	if o.since.IsZero() {
		o.since = time.Now()
		o.log.Warn("destination unavailable: retrying with backoff until it answers", "error", err.Error())
	}
}

// end records that lane's sends go through again.
func (o *outage) end(lane int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.failing, lane)
	o.endIfClear()
}

// clear records that a whole batch went through without a failure.
func (o *outage) clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.failing)
	o.endIfClear()
}

func (o *outage) endIfClear() {
	if o.since.IsZero() || len(o.failing) > 0 {
		return
	}
	o.log.Info("destination available again", "down_for", time.Since(o.since).Round(time.Millisecond).String(), "failed_sends", o.failures)
	o.since, o.failures = time.Time{}, 0
}
