package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/services/reporting/internal/report"
)

// consumer applies the order events of reporting's queue to the projection. Each message gets one of
// these answers:
//
//   - applied (or already applied, or stale): ack, the message is deleted;
//   - poison (not an envelope, an unknown schema_version, an event contradicting itself): nack on every
//     delivery, so the queue's redrive policy moves it to the dead-letter queue after maxReceiveCount
//     receives. The subscriber receives one message per call, so nothing else is held back or counted
//     against it meanwhile;
//   - an event type this code does not know: ack, logged once per type and process (a newer producer;
//     reporting has no use for it);
//   - anything else (the database failing): retried a few times here, then nacked, so SQS delivers it
//     again after the visibility timeout. It is never acknowledged without its effect.
type consumer struct {
	svc *report.Service
	log *slog.Logger

	unknownTypes sync.Map // event type → struct{}: already logged
}

// retries is the in-process retry of a failed apply before the message is nacked; poison is not
// retried.
var retries = middleware.Retry{
	MaxRetries:          3,
	InitialInterval:     100 * time.Millisecond,
	MaxInterval:         time.Second,
	Multiplier:          2,
	RandomizationFactor: 0.5,
	ResetContextOnRetry: true,
	ShouldRetry:         func(p middleware.RetryParams) bool { return !report.IsPoison(p.Err) },
}

// middlewares are applied outermost first: the correlation id and the one log line of a failure,
// then panic recovery, then retries.
func (c *consumer) middlewares() []message.HandlerMiddleware {
	return []message.HandlerMiddleware{c.correlate, middleware.Recoverer, retries.Middleware}
}

// correlate puts the message's correlation id, event id and type on the logger every line of its
// handling uses, and logs a failure once, here, before nacking it. Returning the error instead would
// make the router log it a second time, without the correlation id; after a Nack the router's Ack is a
// no-op.
func (c *consumer) correlate(next message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		log := c.log.With("event_id", msg.UUID, "event_type", msg.Metadata.Get(events.MetaEventType))
		ctx := logging.WithLogger(msg.Context(), log)
		if corr := correlationID(msg); corr != "" {
			ctx = logging.WithCorrelationID(ctx, corr)
		}
		msg.SetContext(ctx)
		out, err := next(msg)
		if err == nil {
			return out, nil
		}
		log = logging.FromContext(ctx)
		switch {
		case report.IsPoison(err):
			log.Error("event cannot be applied; it stays on the queue until the redrive policy moves it to the dead-letter queue",
				"error", err.Error())
		case errors.Is(err, context.Canceled):
			log.Info("event not applied before shutdown; it will be delivered again", "error", err.Error())
		default:
			log.Warn("event not applied; it will be delivered again", "error", err.Error())
		}
		msg.Nack()
		return nil, nil
	}
}

// correlationID is the message attribute, or the envelope's when a producer did not set the attribute.
func correlationID(msg *message.Message) string {
	id := msg.Metadata.Get(events.MetaCorrelationID)
	if id == "" {
		var env struct {
			CorrelationID string `json:"correlation_id"`
		}
		_ = json.Unmarshal(msg.Payload, &env)
		id = env.CorrelationID
	}
	if len(id) > 128 {
		return ""
	}
	return id
}

// handle decodes and applies one event; its error nacks the message (see correlate).
func (c *consumer) handle(msg *message.Message) error {
	start := time.Now()
	ctx := msg.Context()
	log := logging.FromContext(ctx)
	ev, err := report.Decode(msg.Payload)
	var unknown *report.UnknownTypeError
	switch {
	case errors.As(err, &unknown):
		if _, seen := c.unknownTypes.LoadOrStore(unknown.Type, struct{}{}); !seen {
			log.Warn("unknown event type acknowledged without effect; further events of this type are skipped silently",
				"type", unknown.Type)
		} else {
			log.Debug("unknown event type acknowledged without effect", "type", unknown.Type)
		}
		return nil
	case err != nil:
		return err
	}
	if ev.ID != msg.UUID {
		// The envelope's id is the one deduplicated on; a differing attribute is worth knowing about.
		log.Warn("message uuid differs from the envelope's event_id; deduplicating on event_id", "envelope_event_id", ev.ID)
	}
	out, err := c.svc.Apply(ctx, ev)
	if err != nil {
		return err
	}
	log.Info("event handled", "outcome", string(out), "aggregate_type", ev.AggregateType, "aggregate_id", ev.AggregateID,
		"aggregate_version", ev.AggregateVersion, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	return nil
}
