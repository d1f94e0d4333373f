package order

import (
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/identity"
)

// Request is a create-and-confirm request received as a PlaceOrder command, keyed by the client's
// idempotency key.
type Request struct {
	IdempotencyKey string
	RequestHash    string
	CustomerID     int64
	Status         string // events.RequestProcessing, RequestConfirmed or RequestRejected
	OrderID        int64  // 0 while no order exists
	Error          *events.Error
	CorrelationID  string
	// Actor is who asked for the order (the orchestrator's caller), the actor of every change made for
	// the request; ActorCustomerID the customer that caller is bound to, 0 for an operator.
	Actor           string
	ActorCustomerID int64
}

// RequestFor returns the PROCESSING request of a PlaceOrder command. The request hash is computed
// here, never taken from the command: it is what a later request with the same key is compared with.
// A command without an actor (nobody authenticated the orchestrator's caller) is made by
// identity.Anonymous.
func RequestFor(cmd events.PlaceOrder) Request {
	actor := cmd.Actor
	if actor == "" {
		actor = identity.Anonymous
	}
	return Request{
		IdempotencyKey:  cmd.IdempotencyKey,
		RequestHash:     events.RequestHash(cmd.CustomerID, cmd.Items),
		CustomerID:      cmd.CustomerID,
		Status:          events.RequestProcessing,
		CorrelationID:   cmd.CorrelationID,
		Actor:           actor,
		ActorCustomerID: cmd.ActorCustomerID,
	}
}

// Caller is who the request's changes are made for.
func (r Request) Caller() identity.Caller {
	return identity.Caller{Actor: r.Actor, CustomerID: r.ActorCustomerID}
}

// Origin is the origin of a change made for r at at.
func (r Request) Origin(at time.Time) Origin {
	return Origin{At: at, CorrelationID: r.CorrelationID, Actor: r.Actor, ActorCustomerID: r.ActorCustomerID}
}

// Reject returns r REJECTED for cause (a business error) and its order.rejected event. No order
// exists, so the event's aggregate is the request itself, at version 1.
func (r Request) Reject(cause error, items []events.LineItem, by Origin) (Request, events.Envelope, error) {
	e := apperr.As(cause)
	if e == nil {
		e = apperr.ErrInternal
	}
	r.Status = events.RequestRejected
	r.Error = &events.Error{Code: e.Code, Kind: e.Kind.String(), Message: e.Message, Details: e.Details}
	if items == nil {
		items = []events.LineItem{}
	}
	ev, err := events.New(events.OrderRejected, events.AggregateOrderRequest, r.IdempotencyKey, 1, by.CorrelationID,
		events.Rejected{IdempotencyKey: r.IdempotencyKey, RequestHash: r.RequestHash, CustomerID: r.CustomerID,
			Items: items, Error: *r.Error}, by.At)
	ev.Actor = by.Actor
	return r, ev, err
}

// View is the request as orders-api shows it to the orchestrator, with its order when one exists.
func (r Request) View(o *Order) events.OrderRequest {
	v := events.OrderRequest{IdempotencyKey: r.IdempotencyKey, RequestHash: r.RequestHash, Status: r.Status, Error: r.Error}
	if o != nil {
		snap := o.Snapshot()
		v.Order = &snap
	}
	return v
}
