// Package orderworker is the orders-worker's use case: it turns a PlaceOrder command into an order
// created and confirmed (or a request rejected with its reason), with the order package's transactions,
// and decides what the queue does with the command: ack when the command has its answer, nack when a
// redelivery may get one.
package orderworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Outcomes of a command, as logged (and counted) once per delivery.
const (
	OutcomeConfirmed = "confirmed" // the order is created and confirmed (now or by an earlier delivery)
	OutcomeRejected  = "rejected"  // the request is recorded REJECTED with its business error
	OutcomeForeign   = "foreign"   // the key is recorded for another request; that one stands
	OutcomeDropped   = "dropped"   // the command can never be recorded (no valid key): acked, logged as an error
	OutcomeRetried   = "retried"   // a transient failure: nacked, the queue delivers the command again
	// OutcomeUndecodable: the body is not a PlaceOrder; nacked, so that the queue moves it to the
	// dead-letter queue after its maximum receives.
	OutcomeUndecodable = "undecodable"
)

// Worker processes PlaceOrder commands.
type Worker struct {
	svc         *order.Service
	log         *slog.Logger
	afterCreate func(orderID int64)
	metrics     *Metrics // nil: not counted
}

// Option changes a Worker.
type Option func(*Worker)

// AfterCreate runs f between the create and the confirm transaction of a command that created an
// order: the point where a crash leaves a request PROCESSING, which the crash-recovery tests stop at.
func AfterCreate(f func(orderID int64)) Option { return func(w *Worker) { w.afterCreate = f } }

// New returns a Worker running svc's transactions, logging to log.
func New(svc *order.Service, log *slog.Logger, opts ...Option) *Worker {
	w := &Worker{svc: svc, log: log}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Result is what processing a command came to.
type Result struct {
	Outcome string
	OrderID int64  // when an order exists
	Code    string // the error code of a rejection
}

// Handle is the watermill handler of the order-commands queue: nil acks the message, an error nacks it.
// Each delivery is logged once, with its outcome and duration, under the command's correlation id.
func (w *Worker) Handle(msg *message.Message) error {
	start := time.Now()
	w.metrics.received(msg)
	var cmd events.PlaceOrder
	decodeErr := json.Unmarshal(msg.Payload, &cmd)
	corr := msg.Metadata.Get(events.MetaCorrelationID)
	if corr == "" {
		corr = cmd.CorrelationID
	}
	if cmd.CorrelationID == "" {
		cmd.CorrelationID = corr
	}
	ctx := logging.WithLogger(msg.Context(), w.log)
	if corr != "" {
		ctx = logging.WithCorrelationID(ctx, corr)
	}
	log := logging.FromContext(ctx).With("message_id", msg.UUID, "idempotency_key", cmd.IdempotencyKey)
	if decodeErr != nil {
		// It can never succeed; nacking sends it to the dead-letter queue after the queue's max
		// receives, where it can be looked at, instead of dropping it.
		log.Error("place order: undecodable command", "error", decodeErr.Error(),
			"attr_idempotency_key", msg.Metadata.Get(events.MetaIdempotencyKey))
		w.metrics.handled(OutcomeUndecodable, time.Since(start))
		return fmt.Errorf("decode PlaceOrder: %w", decodeErr)
	}
	if h := events.RequestHash(cmd.CustomerID, cmd.Items); cmd.RequestHash != "" && cmd.RequestHash != h {
		log.Warn("place order: the command's request_hash differs from the computed one; using the computed one",
			"command_hash", cmd.RequestHash, "request_hash", h)
	}
	res, err := w.PlaceOrder(ctx, cmd)
	w.metrics.handled(res.Outcome, time.Since(start))
	attrs := []any{"outcome", res.Outcome, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if !cmd.RequestedAt.IsZero() {
		// From the orchestrator's request to this delivery: mostly the time on the queue.
		attrs = append(attrs, "queue_ms", float64(start.Sub(cmd.RequestedAt).Microseconds())/1000)
	}
	if res.OrderID != 0 {
		attrs = append(attrs, "order_id", res.OrderID)
	}
	if res.Code != "" {
		attrs = append(attrs, "code", res.Code)
	}
	if cmd.Actor != "" {
		attrs = append(attrs, "actor", cmd.Actor)
	}
	switch res.Outcome {
	case OutcomeRetried:
		log.Warn("place order: transient failure, the command will be delivered again", append(attrs, "error", err.Error())...)
		return err
	case OutcomeDropped:
		log.Error("place order: command dropped, invalid idempotency key", attrs...)
	case OutcomeForeign:
		log.Warn("place order: idempotency key already used for another request; the first one stands", attrs...)
	default:
		log.Info("place order: command processed", attrs...)
	}
	return nil
}

// PlaceOrder processes one PlaceOrder command: it creates the order and confirms it, in two
// transactions keyed by the command's idempotency key, so any number of deliveries of the command have
// the effect of one.
//
//   - A request already CONFIRMED or REJECTED is done. One recorded with another request hash (the same
//     key reused for another body) is left as it is: the first request stands, and whoever asks for the
//     key's result learns from the hash that it is not theirs.
//   - A request still PROCESSING (a crash between the two transactions) goes straight to the confirm.
//   - Business failures (unknown customer or product, short stock, an invalid command, a caller bound to
//     another customer) are recorded as the request REJECTED with order.rejected: the command is done.
//   - Every change is made in the name of the command's actor, recorded with the request, so a request
//     resumed after a crash keeps it.
//   - Anything that may pass later (database, customers-api unreachable) is OutcomeRetried with an
//     error matching order.ErrTransient, and nothing is recorded.
func (w *Worker) PlaceOrder(ctx context.Context, cmd events.PlaceOrder) (Result, error) {
	if !events.ValidKey(cmd.IdempotencyKey) {
		// Nothing can be recorded without a key, and a redelivery would not fix it.
		return Result{Outcome: OutcomeDropped}, nil
	}
	req := order.RequestFor(cmd)
	// Concurrent deliveries of one command race on the request row; the loser starts again from the
	// winner's state, which is final or PROCESSING after one more round.
	for attempt := 0; attempt < 3; attempt++ {
		res, done, err := w.resume(ctx, req)
		if done || err != nil {
			return res, err
		}
		lines, err := order.ValidateRequest(cmd.CustomerID, cmd.Items)
		if err != nil {
			return w.reject(ctx, req, cmd.Items, err)
		}
		// The orchestrator refuses this before sending; a command that asks anyway is refused here too.
		if err := order.CheckCustomer(req.Caller(), cmd.CustomerID); err != nil {
			return w.reject(ctx, req, lines, err)
		}
		if err := w.svc.VerifyCustomer(ctx, cmd.CustomerID); err != nil {
			if order.IsBusiness(err) {
				return w.reject(ctx, req, lines, err)
			}
			return retry("verify customer", err)
		}
		o, err := w.svc.CreateForRequest(ctx, req, lines)
		switch {
		case errors.Is(err, order.ErrRequestExists):
			continue
		case order.IsBusiness(err):
			return w.reject(ctx, req, lines, err)
		case err != nil:
			return retry("create", err)
		}
		if w.afterCreate != nil {
			w.afterCreate(o.ID)
		}
		req.OrderID = o.ID
		return w.confirm(ctx, req)
	}
	return retry("place order", errors.New("order request kept changing under concurrent deliveries"))
}

// resume finishes a request already recorded; done reports that the command needs nothing more.
func (w *Worker) resume(ctx context.Context, req order.Request) (Result, bool, error) {
	cur, err := w.svc.Request(ctx, req.IdempotencyKey)
	if errors.Is(err, order.ErrRequestNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		res, err := retry("read request", err)
		return res, true, err
	}
	switch {
	case cur.RequestHash != req.RequestHash:
		return Result{Outcome: OutcomeForeign, OrderID: cur.OrderID}, true, nil
	case cur.Status == events.RequestConfirmed:
		return Result{Outcome: OutcomeConfirmed, OrderID: cur.OrderID}, true, nil
	case cur.Status == events.RequestRejected:
		return Result{Outcome: OutcomeRejected, Code: errCode(cur.Error)}, true, nil
	}
	res, err := w.confirm(ctx, cur)
	return res, true, err
}

func (w *Worker) confirm(ctx context.Context, req order.Request) (Result, error) {
	final, err := w.svc.ConfirmRequest(ctx, req)
	if err != nil {
		return retry("confirm", err)
	}
	if final.Status == events.RequestRejected {
		return Result{Outcome: OutcomeRejected, OrderID: req.OrderID, Code: errCode(final.Error)}, nil
	}
	return Result{Outcome: OutcomeConfirmed, OrderID: req.OrderID}, nil
}

func (w *Worker) reject(ctx context.Context, req order.Request, items []events.LineItem, cause error) (Result, error) {
	rejected, err := w.svc.RejectRequest(ctx, req, items, cause)
	if errors.Is(err, order.ErrRequestExists) {
		// A concurrent delivery recorded its own outcome first; that one stands.
		res, _, err := w.resume(ctx, req)
		return res, err
	}
	if err != nil {
		return retry("reject", err)
	}
	return Result{Outcome: OutcomeRejected, Code: errCode(rejected.Error)}, nil
}

func retry(op string, err error) (Result, error) {
	return Result{Outcome: OutcomeRetried}, order.Transient("place order: "+op, err)
}

func errCode(e *events.Error) string {
	if e == nil {
		return ""
	}
	return e.Code
}
