package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/smithy-go"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
)

// Options configure a Relay. Zero values take the defaults noted on each field.
type Options struct {
	// Queue is the destination: the topic given to the publisher (the SQS queue name). Required.
	Queue string
	// BatchSize is the number of rows one relay locks and sends per transaction (default 100). After
	// a crash, at most this many events of the interrupted batch are sent again.
	BatchSize int
	// PollInterval is the wait between polls of an empty outbox (default 250 ms).
	PollInterval time.Duration
	// MaxAttempts is the number of failed sends after which an event is parked (default 5).
	MaxAttempts int
	// RetryBackoff is the first wait after a failed send; it doubles up to MaxBackoff
	// (defaults 200 ms and 10 s).
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// AckDeadline bounds the time spent on one message before the batch transaction is committed with
	// what was delivered and the rest released (default 30 s). During an SQS outage the relay keeps
	// retrying, but in a fresh transaction every AckDeadline rather than one open for the whole outage.
	AckDeadline time.Duration
	// LagInterval is how often the lag is checked, and logged when it changed (default 10 s).
	// It is logged at least every LagLogEvery (default 1 min) even when unchanged.
	LagInterval time.Duration
	LagLogEvery time.Duration
	// Log receives the relay's log lines (default slog.Default()).
	Log *slog.Logger

	// schema, offsets and topic replace the outbox adapter in tests comparing it with watermill-sql's
	// default schema.
	schema  wsql.SchemaAdapter
	offsets wsql.OffsetsAdapter
	topic   string
}

func (o *Options) defaults() error {
	if o.Queue == "" {
		return errors.New("outbox relay: Queue is required")
	}
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
	if o.schema == nil {
		o.schema = NewSchema(o.BatchSize)
	}
	if o.offsets == nil {
		o.offsets = OffsetsAdapter()
	}
	if o.topic == "" {
		o.topic = outbox.Topic
	}
	return nil
}

// Relay moves committed outbox rows to SQS: a watermill-sql subscriber on the outbox table hands out
// one row at a time; the relay publishes it to the queue with the given publisher (normally
// queue.NewPublisher), deletes the row in the subscriber's batch transaction and acks it.
type Relay struct {
	db   *sql.DB
	pub  message.Publisher
	o    Options
	log  *slog.Logger
	down outage

	delivered atomic.Int64
	running   chan struct{}
	stopping  <-chan struct{}
}

// New returns a relay reading db's outbox and publishing with pub.
func New(db *sql.DB, pub message.Publisher, o Options) (*Relay, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	log := o.Log.With("queue", o.Queue)
	return &Relay{db: db, pub: pub, o: o, log: log, down: outage{log: log}, running: make(chan struct{})}, nil
}

// Delivered returns how many events this relay has sent since it started.
func (r *Relay) Delivered() int64 { return r.delivered.Load() }

// Running is closed once the relay polls the outbox.
func (r *Relay) Running() <-chan struct{} { return r.running }

// Run relays until ctx is canceled, then shuts down gracefully: the event being sent is finished, the
// events delivered so far in the current batch are deleted, and the rest of the batch is unlocked for
// the next relay. It returns nil after a graceful shutdown. A Relay runs once.
func (r *Relay) Run(ctx context.Context) error {
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromStdSQL(r.db), wsql.SubscriberConfig{
		SchemaAdapter:  r.o.schema,
		OffsetsAdapter: r.o.offsets,
		PollInterval:   r.o.PollInterval,
		AckDeadline:    &r.o.AckDeadline,
		// Nacks only come from database trouble after a send, or from shutting down mid-retry; the
		// relay itself waits between send attempts.
		ResendInterval: r.o.RetryBackoff,
		BackoffManager: &dbBackoff{log: r.log, poll: r.o.PollInterval, retry: time.Second},
	}, queue.WatermillLogger(r.log))
	if err != nil {
		return fmt.Errorf("outbox subscriber: %w", err)
	}
	// The subscription gets a context that shutdown does not cancel: canceling it would roll the batch
	// transaction back and send its delivered events again. Close, called between two events, lets the
	// subscriber commit what was delivered first.
	msgs, err := sub.Subscribe(context.WithoutCancel(ctx), r.o.topic)
	if err != nil {
		return fmt.Errorf("outbox subscribe: %w", err)
	}
	r.stopping = ctx.Done()
	close(r.running)
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); r.watchLag(lagCtx) }()
	defer func() { stopLag(); <-lagDone }()

	for {
		select {
		case <-ctx.Done():
			r.log.Info("outbox relay stopping")
			if err := sub.Close(); err != nil {
				return fmt.Errorf("outbox subscriber close: %w", err)
			}
			r.log.Info("outbox relay stopped", "delivered", r.Delivered())
			return nil
		case msg, ok := <-msgs:
			if !ok {
				return errors.New("outbox relay: subscription ended")
			}
			if err := r.handle(msg); err != nil {
				msg.Nack()
			} else {
				msg.Ack()
			}
		}
	}
}

// handle sends one outbox event. Send failures are retried here, not by nacking, so the subscriber
// keeps the event in flight: an outage (SQS unreachable, throttling, server errors, a missing queue)
// is retried with capped backoff for as long as it lasts and never counts against the event; an
// error that is the event's own (SQS refused it, or it can never be valid) counts as a failed attempt,
// recorded in its own committed statement, and after MaxAttempts the event is parked and acked so the
// ones behind it flow.
func (r *Relay) handle(msg *message.Message) error {
	ctx := msg.Context()
	offset, _ := strconv.ParseInt(msg.Metadata.Get(metaOffset), 10, 64)
	log := r.log.With("event_id", msg.UUID, "offset", offset, "event_type", msg.Metadata.Get(events.MetaEventType),
		"correlation_id", msg.Metadata.Get(events.MetaCorrelationID))

	wait := r.o.RetryBackoff
	for {
		err := r.send(ctx, msg)
		if err == nil {
			r.down.end()
			if err := r.remove(ctx, offset); err != nil {
				return err // nack: sent again later, a duplicate rather than a loss
			}
			r.delivered.Add(1)
			return nil
		}
		if !isEventError(err) {
			r.down.begin(err)
		} else {
			r.down.end() // SQS answered
			attempts, ferr := r.recordFailure(ctx, offset, msg.UUID, err)
			if ferr != nil {
				return ferr // nack: the subscriber offers it again after ResendInterval
			}
			if attempts >= r.o.MaxAttempts {
				if perr := r.park(ctx, offset, err); perr != nil {
					return perr
				}
				log.Error("outbox event parked: it will not be sent until released",
					"attempts", attempts, "error", err.Error())
				return nil
			}
			log.Warn("outbox event not accepted, will retry", "attempt", attempts, "max_attempts", r.o.MaxAttempts, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			// AckDeadline passed: the subscriber has given up on this event and commits the batch
			// without it; it is still in the outbox and comes first in the next batch.
			return ctx.Err()
		case <-r.stopping:
			return errors.New("outbox relay stopping")
		case <-time.After(wait):
		}
		wait = min(wait*2, r.o.MaxBackoff)
	}
}

// send publishes msg without the relay's internal metadata, after the checks SQS would fail it on.
// watermill-aws sends with context.Background(), so a hung SQS endpoint would hold the relay for the
// SDK's whole HTTP timeout: the wait ends instead when ctx (the event's AckDeadline) ends or the relay
// stops. A send given up on this way may still arrive later — a duplicate, never a loss, since the row
// stays in the outbox until a send is known to have succeeded.
func (r *Relay) send(ctx context.Context, msg *message.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = eventError{fmt.Errorf("panic while sending: %v", p)}
		}
	}()
	if reason := msg.Metadata.Get(metaInvalid); reason != "" {
		return eventError{errors.New(reason)}
	}
	out := message.NewMessage(msg.UUID, msg.Payload)
	for k, v := range msg.Metadata {
		if k != metaOffset {
			out.Metadata.Set(k, v)
		}
	}
	switch {
	case len(out.Payload) > outbox.MaxPayloadBytes:
		return eventError{fmt.Errorf("payload is %d bytes, over the %d-byte SQS limit", len(out.Payload), outbox.MaxPayloadBytes)}
	case !utf8.Valid(out.Payload):
		return eventError{errors.New("payload is not valid UTF-8, which SQS refuses")}
	case len(out.Metadata) > maxMetadataKeys:
		return eventError{fmt.Errorf("%d metadata keys, over the %d SQS message attributes left after the message UUID", len(out.Metadata), maxMetadataKeys)}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return queue.Publish(ctx, r.pub, r.o.Queue, out)
}

// maxMetadataKeys: SQS allows 10 message attributes and watermill-aws adds the message UUID as one.
const maxMetadataKeys = 9

// eventError is a send failure caused by the event itself: retrying it cannot help for long.
type eventError struct{ err error }

func (e eventError) Error() string { return e.err.Error() }
func (e eventError) Unwrap() error { return e.err }

// eventErrorCodes are SQS error codes that refuse one message rather than the whole queue.
var eventErrorCodes = map[string]bool{
	"InvalidMessageContents": true,
	"InvalidParameterValue":  true,
	"InvalidAttributeName":   true,
	"InvalidAttributeValue":  true,
	"MessageTooLong":         true,
}

// isEventError tells a failure of this event from an outage. Anything unrecognized counts as an
// outage: retried without end and never parked, so an unexpected error can delay events but not
// drop them.
func isEventError(err error) bool {
	var ee eventError
	if errors.As(err, &ee) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && eventErrorCodes[api.ErrorCode()]
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

// remove deletes a delivered row inside the batch transaction, by primary key: that locks the row
// alone, never its neighbours (which another relay may hold; see Offsets.AckMessageQuery). Should the
// batch roll back, the row is sent again.
func (r *Relay) remove(ctx context.Context, offset int64) error {
	if offset == 0 {
		return nil // not an outbox row (a test relaying another schema)
	}
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return errors.New("outbox: no batch transaction in the message context")
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE `offset` = ?", offset); err != nil {
		return fmt.Errorf("delete delivered outbox row %d: %w", offset, err)
	}
	return nil
}

// park marks the row parked inside the batch transaction (which holds the row's lock); the ack that
// follows skips parked rows, and the commit makes the parking durable.
func (r *Relay) park(ctx context.Context, offset int64, cause error) error {
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return errors.New("outbox: no batch transaction in the message context")
	}
	if _, err := tx.ExecContext(ctx,
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
		o.log.Warn("sqs unavailable: retrying with backoff until it answers", "error", err.Error())
	}
}

func (o *outage) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	o.log.Info("sqs available again", "down_for", time.Since(o.since).Round(time.Millisecond).String(), "failed_sends", o.failures)
	o.since, o.failures = time.Time{}, 0
}

// dbBackoff is the subscriber's backoff manager: the default behaviour, logging a database outage once
// when it starts and once when it ends instead of on every poll.
type dbBackoff struct {
	log         *slog.Logger
	poll, retry time.Duration
	failing     bool
}

func (b *dbBackoff) HandleError(_ watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		if sqldb.IsRetryable(err) {
			return 0
		}
		if !b.failing {
			b.failing = true
			b.log.Warn("outbox unreadable: retrying", "error", err.Error())
		}
		return b.retry
	}
	if b.failing {
		b.failing = false
		b.log.Info("outbox readable again")
	}
	if noMsg {
		return b.poll
	}
	return 0
}
