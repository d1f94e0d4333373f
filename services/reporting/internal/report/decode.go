package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/b2b/backoffice/events"
)

// PoisonError is a message that can never be applied, however often it is delivered: not an event
// envelope, a schema_version this code does not know, or an event that contradicts itself. The
// consumer leaves it to the queue's dead-letter queue, where someone can look at it.
type PoisonError struct {
	Reason string
}

func (e *PoisonError) Error() string { return "unprocessable event: " + e.Reason }

// UnknownTypeError is a well-formed event of a type this code does not know: newer producers may add
// types, and consumers that do not need them acknowledge and skip them.
type UnknownTypeError struct {
	Type string
}

func (e *UnknownTypeError) Error() string { return fmt.Sprintf("unknown event type %q", e.Type) }

// IsPoison reports whether err is (or wraps) a PoisonError.
func IsPoison(err error) bool {
	var p *PoisonError
	return errors.As(err, &p)
}

func poison(format string, args ...any) error {
	return &PoisonError{Reason: fmt.Sprintf(format, args...)}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// statusOf is the status an order snapshot has in each order event.
var statusOf = map[string]string{
	events.OrderCreated:   StatusCreated,
	events.OrderConfirmed: StatusConfirmed,
	events.OrderCanceled:  StatusCanceled,
}

// Decode reads one message body: an event envelope (package events) of schema_version
// events.SchemaVersion. It returns a *PoisonError for anything that can never be applied and an
// *UnknownTypeError for a well-formed event of a type reporting does not know. Unknown fields are
// ignored, so producers may add optional fields within a schema version.
func Decode(body []byte) (Event, error) {
	var env events.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, poison("not an event envelope: %v", err)
	}
	if env.SchemaVersion != events.SchemaVersion {
		return Event{}, poison("unknown schema_version %d (this consumer reads %d)", env.SchemaVersion, events.SchemaVersion)
	}
	if !uuidPattern.MatchString(env.EventID) {
		return Event{}, poison("event_id %q is not a UUID", env.EventID)
	}
	if env.Type == "" {
		return Event{}, poison("event %s has no type", env.EventID)
	}
	if env.AggregateVersion < 1 {
		return Event{}, poison("event %s: aggregate_version %d, want at least 1", env.EventID, env.AggregateVersion)
	}
	if env.OccurredAt.IsZero() {
		return Event{}, poison("event %s has no occurred_at", env.EventID)
	}
	ev := Event{
		ID: env.EventID, Type: env.Type, AggregateType: env.AggregateType, AggregateID: env.AggregateID,
		AggregateVersion: env.AggregateVersion, OccurredAt: env.OccurredAt.UTC(), CorrelationID: env.CorrelationID,
	}
	switch env.Type {
	case events.OrderCreated, events.OrderConfirmed, events.OrderCanceled:
		o, err := decodeOrder(env)
		if err != nil {
			return Event{}, err
		}
		ev.Order = &o
	case events.OrderRejected:
		if env.AggregateType != events.AggregateOrderRequest || !events.ValidKey(env.AggregateID) {
			return Event{}, poison("event %s: %s of aggregate %s %q, want an order_request keyed by an idempotency key",
				env.EventID, env.Type, env.AggregateType, env.AggregateID)
		}
		var r events.Rejected
		if err := json.Unmarshal(env.Data, &r); err != nil {
			return Event{}, poison("event %s: data is not a rejected request: %v", env.EventID, err)
		}
	default:
		return Event{}, &UnknownTypeError{Type: env.Type}
	}
	return ev, nil
}

func decodeOrder(env events.Envelope) (Order, error) {
	if env.AggregateType != events.AggregateOrder {
		return Order{}, poison("event %s: %s of aggregate type %q, want order", env.EventID, env.Type, env.AggregateType)
	}
	var s events.Order
	if err := json.Unmarshal(env.Data, &s); err != nil {
		return Order{}, poison("event %s: data is not an order snapshot: %v", env.EventID, err)
	}
	switch {
	case s.ID <= 0 || strconv.FormatInt(s.ID, 10) != env.AggregateID:
		return Order{}, poison("event %s: snapshot of order %d under aggregate_id %q", env.EventID, s.ID, env.AggregateID)
	case s.Status != statusOf[env.Type]:
		return Order{}, poison("event %s: %s carries an order in status %q, want %s", env.EventID, env.Type, s.Status, statusOf[env.Type])
	case s.Status == StatusConfirmed && s.ConfirmedAt == nil:
		return Order{}, poison("event %s: confirmed order without confirmed_at", env.EventID)
	case s.Status == StatusCanceled && s.CanceledAt == nil:
		return Order{}, poison("event %s: canceled order without canceled_at", env.EventID)
	case s.CreatedAt.IsZero() || s.CustomerID <= 0 || len(s.Items) == 0:
		return Order{}, poison("event %s: order snapshot without created_at, customer or items", env.EventID)
	}
	o := Order{
		ID: s.ID, CustomerID: s.CustomerID, Status: s.Status, TotalCents: s.TotalCents,
		CreatedAt: s.CreatedAt.UTC(), ConfirmedAt: utc(s.ConfirmedAt), CanceledAt: utc(s.CanceledAt),
		Version: env.AggregateVersion,
	}
	seen := make(map[int64]bool, len(s.Items))
	for _, it := range s.Items {
		if it.ProductID <= 0 || it.Qty <= 0 || seen[it.ProductID] {
			return Order{}, poison("event %s: order line %+v is not a valid line of its own product", env.EventID, it)
		}
		seen[it.ProductID] = true
		o.Items = append(o.Items, Item(it))
	}
	return o, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
