package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	// BatchSize is the number of rows one relay locks and sends per transaction (default 100). After
	// a crash, at most this many events of the interrupted batch are sent again.
	BatchSize int
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
		o.BatchSize = 100
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
}

// New returns a relay reading db's outbox and sending to dest.
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
}

// batch locks the next rows (READ COMMITTED, FOR UPDATE SKIP LOCKED: rows other relays hold and rows
// of still-open producer transactions are skipped, not waited for), sends them and deletes what was
// delivered, in one transaction.
func (r *Relay) batch(ctx context.Context) (batchResult, error) {
	var res batchResult
	err := sqldb.InTxOpts(context.WithoutCancel(ctx), r.db, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, func(tx *sql.Tx) error {
		res = batchResult{}
		rows, err := r.lock(ctx, tx)
		if err != nil {
			return err
		}
		res.selected = len(rows)
		for _, chunk := range r.chunks(rows) {
			if ctx.Err() != nil {
				break // stopping: commit what was delivered
			}
			delivered, refused, err := r.sendChunk(ctx, tx, chunk)
			res.delivered += delivered
			res.refused += refused
			if err != nil {
				// Given up (deadline, stop) or database trouble: commit what was delivered; database
				// trouble fails the commit too and the batch is sent again, a duplicate and not a loss.
				if errors.Is(err, errGiveUp) {
					break
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	r.delivered.Add(int64(res.delivered))
	if res.selected > 0 {
		r.o.Metrics.batch()
	}
	return res, nil
}

// lock selects and locks the next batch of undelivered, unparked rows.
func (r *Relay) lock(ctx context.Context, tx *sql.Tx) ([]row, error) {
	// FORCE INDEX (PRIMARY): through the (acked, offset) index, a skipped row's index entry stays locked by
	// the skipping relay, and the relay that holds the row then waits on it to delete the row: two relays
	// deadlocked that way several times per thousand events, each time sending a batch again. Delivered
	// rows are deleted, so the primary key walks little more than what is pending.
	rs, err := tx.QueryContext(context.WithoutCancel(ctx), "SELECT `offset`, `uuid`, `payload`, `metadata` FROM "+table+
		" FORCE INDEX (PRIMARY) WHERE `acked` = FALSE AND `parked_at` IS NULL ORDER BY `offset` LIMIT ? FOR UPDATE SKIP LOCKED", r.o.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("lock outbox batch: %w", err)
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
			return nil, fmt.Errorf("read outbox row: %w", err)
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
		return nil, fmt.Errorf("read outbox batch: %w", err)
	}
	return out, nil
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

// errGiveUp ends a batch early: a send did not succeed within AckDeadline, or the relay is stopping.
var errGiveUp = errors.New("send given up")

// sendChunk sends one chunk until every row is delivered or refused, and deletes the delivered rows in
// tx. An outage (the call failed, or entries failed on the service's side) is retried with capped
// backoff and never counts against an event; a row the service refuses, or that can never be valid,
// is a failed attempt, recorded in its own committed statement, and parked after MaxAttempts.
func (r *Relay) sendChunk(ctx context.Context, tx *sql.Tx, chunk []row) (delivered, refused int, err error) {
	deadline := time.Now().Add(r.o.AckDeadline)
	pending := chunk[:0:0]
	for _, rw := range chunk {
		if rw.invalid != "" {
			refused++
			if err := r.refuse(ctx, tx, rw, errors.New(rw.invalid)); err != nil {
				return delivered, refused, err
			}
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
		var again, done []row
		if sendErr != nil && isEventError(sendErr) {
			// The call was refused for something one of its messages holds: find which, one by one.
			if len(pending) == 1 {
				refused++
				return delivered, refused, r.refuse(ctx, tx, pending[0], sendErr)
			}
			for _, rw := range pending {
				d, f, err := r.sendChunk(ctx, tx, []row{rw})
				delivered, refused = delivered+d, refused+f
				if err != nil {
					return delivered, refused, err
				}
			}
			return delivered, refused, nil
		}
		if sendErr != nil {
			r.down.begin(sendErr)
			again = pending
		} else {
			var failed error // the service failed on an entry: an outage of its own, not the event's fault
			for i, rw := range pending {
				var ee *queue.EntryError
				switch e := results[i]; {
				case e == nil:
					done = append(done, rw)
				case errors.As(e, &ee) && (ee.SenderFault || eventErrorCodes[ee.Code]):
					refused++
					if err := r.refuse(ctx, tx, rw, e); err != nil {
						return delivered, refused, err
					}
				default:
					failed = e
					again = append(again, rw)
				}
			}
			if failed != nil {
				r.down.begin(failed)
			} else {
				r.down.end()
			}
		}
		r.o.Metrics.sendResult(len(done), len(again), took)
		if err := r.remove(ctx, tx, done); err != nil {
			return delivered, refused, err
		}
		delivered += len(done)
		pending = again
		if len(pending) == 0 {
			break
		}
		if ctx.Err() != nil || !time.Now().Add(wait).Before(deadline) {
			// The rows stay in the outbox and come first in the next batch.
			return delivered, refused, errGiveUp
		}
		select {
		case <-ctx.Done():
			return delivered, refused, errGiveUp
		case <-time.After(wait):
		}
		wait = min(wait*2, r.o.MaxBackoff)
	}
	return delivered, refused, nil
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

// remove deletes delivered rows inside the batch transaction, one primary-key statement each; should
// the batch roll back, they are sent again. Not one DELETE ... IN (...): on a table the optimizer takes
// for small (the outbox, whose rows are deleted as they go) that runs as a full scan, which locks —
// and waits on — every row another relay holds, and two relays deadlock.
func (r *Relay) remove(ctx context.Context, tx *sql.Tx, rows []row) error {
	ctx = context.WithoutCancel(ctx)
	for _, rw := range rows {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE `offset` = ?", rw.offset); err != nil {
			return fmt.Errorf("delete delivered outbox row %d: %w", rw.offset, err)
		}
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

// outage turns a run of failed sends into two log lines: one when it starts, one when it ends.
type outage struct {
	log *slog.Logger

	mu       sync.Mutex
	since    time.Time
	failures int
}

func (o *outage) begin(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.since.IsZero() {
		o.since = time.Now()
		o.log.Warn("destination unavailable: retrying with backoff until it answers", "error", err.Error())
	}
}

func (o *outage) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	o.log.Info("destination available again", "down_for", time.Since(o.since).Round(time.Millisecond).String(), "failed_sends", o.failures)
	o.since, o.failures = time.Time{}, 0
}
