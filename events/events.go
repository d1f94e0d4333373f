// Package events is the only definition of the wire format between services: the event envelope, the
// order event types and their data, the PlaceOrder command, and the request hash both sides compute.
package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Event types. They are part of the wire contract: never derive them from Go names, never rename them.
const (
	OrderCreated   = "order.created"
	OrderConfirmed = "order.confirmed"
	OrderCanceled  = "order.canceled"
	OrderRejected  = "order.rejected"
)

// Aggregate types.
const (
	AggregateOrder        = "order"
	AggregateOrderRequest = "order_request"
)

// SchemaVersion is the version of the envelope and data layout written by this code.
const SchemaVersion = 1

// Envelope is every event on the wire. Actor is who made the change: the subject of the access token of
// the request behind it (for a create-and-confirm, the orchestrator's caller); it is absent from events
// written before events carried it.
type Envelope struct {
	EventID          string          `json:"event_id"`
	Type             string          `json:"type"`
	SchemaVersion    int             `json:"schema_version"`
	AggregateType    string          `json:"aggregate_type"`
	AggregateID      string          `json:"aggregate_id"`
	AggregateVersion int             `json:"aggregate_version"`
	OccurredAt       time.Time       `json:"occurred_at"`
	CorrelationID    string          `json:"correlation_id"`
	Actor            string          `json:"actor,omitempty"`
	Data             json.RawMessage `json:"data"`
}

// Item is one line of an order snapshot.
type Item struct {
	ProductID      int64 `json:"product_id"`
	Qty            int   `json:"qty"`
	UnitPriceCents int64 `json:"unit_price_cents"`
	SubtotalCents  int64 `json:"subtotal_cents"`
}

// Order is the full order snapshot carried by order.created, order.confirmed and order.canceled.
type Order struct {
	ID          int64      `json:"id"`
	CustomerID  int64      `json:"customer_id"`
	Status      string     `json:"status"`
	TotalCents  int64      `json:"total_cents"`
	Items       []Item     `json:"items"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	CanceledAt  *time.Time `json:"canceled_at"`
}

// Error is a business error as carried in events and order requests. Kind is the error's class by the
// names of apperr.Kind ("not_found", "conflict", "invalid", ...): a receiver rebuilds the error with it
// and answers with the status the REST routes give the same error, without a table of codes of its own.
type Error struct {
	Code    string `json:"code"`
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message"`
	Details []any  `json:"details,omitempty"`
}

// Rejected is the data of order.rejected: a PlaceOrder that failed for a business reason. No order
// exists; the aggregate is the order request, keyed by its idempotency key.
type Rejected struct {
	IdempotencyKey string     `json:"idempotency_key"`
	RequestHash    string     `json:"request_hash"`
	CustomerID     int64      `json:"customer_id"`
	Items          []LineItem `json:"items"`
	Error          Error      `json:"error"`
}

// NewOrderEvent builds the envelope of an order event at version v of order o.
func NewOrderEvent(typ string, o Order, version int, correlationID string, at time.Time) (Envelope, error) {
	return New(typ, AggregateOrder, strconv.FormatInt(o.ID, 10), version, correlationID, o, at)
}

// New builds an envelope with a fresh event id.
func New(typ, aggregateType, aggregateID string, version int, correlationID string, data any, at time.Time) (Envelope, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s data: %w", typ, err)
	}
	return Envelope{
		EventID:          uuid.NewString(),
		Type:             typ,
		SchemaVersion:    SchemaVersion,
		AggregateType:    aggregateType,
		AggregateID:      aggregateID,
		AggregateVersion: version,
		OccurredAt:       at.UTC(),
		CorrelationID:    correlationID,
		Data:             b,
	}, nil
}
