package order

import (
	"context"
	"errors"
	"fmt"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
)

// Order request statuses.
const (
	RequestProcessing = "PROCESSING"
	RequestConfirmed  = "CONFIRMED"
	RequestRejected   = "REJECTED"
)

// ErrRequestExists is returned by the store when an order request with the key is already recorded
// (typically by a concurrent delivery of the same command).
var ErrRequestExists = errors.New("order request already recorded")

// Request is a create-and-confirm request received as a PlaceOrder command.
type Request struct {
	IdempotencyKey string
	RequestHash    string
	CustomerID     int64
	Status         string
	OrderID        int64 // 0 while no order exists
	Error          *events.Error
	CorrelationID  string
}

// RequestView is the answer of GET /internal/order-requests/{key}.
type RequestView struct {
	IdempotencyKey string        `json:"idempotency_key"`
	RequestHash    string        `json:"request_hash"`
	Status         string        `json:"status"`
	Order          *Order        `json:"order,omitempty"`
	Error          *events.Error `json:"error,omitempty"`
}

// OrderRequest returns the state of a create-and-confirm request, with its order (and items) when one
// exists.
func (s *Service) OrderRequest(ctx context.Context, key string) (RequestView, error) {
	if !events.ValidKey(key) {
		return RequestView{}, ErrRequestNotFound
	}
	r, err := s.Store.Request(ctx, key)
	if err != nil {
		return RequestView{}, err
	}
	v := RequestView{IdempotencyKey: r.IdempotencyKey, RequestHash: r.RequestHash, Status: r.Status, Error: r.Error}
	if r.OrderID != 0 {
		o, err := s.Store.Order(ctx, r.OrderID)
		if err != nil {
			return RequestView{}, fmt.Errorf("order of request %s: %w", key, err)
		}
		v.Order = &o
	}
	return v, nil
}

// PlaceOrder processes one PlaceOrder command: it creates the order and confirms it, in two
// transactions, keyed by the command's idempotency key, so any number of deliveries of the command have
// the effect of one.
//
//   - A request already CONFIRMED or REJECTED is done: nil. One recorded with another request hash (the
//     same key reused for another body) is left as it is and nil is returned too: the first request
//     stands, and whoever asks for the key's result learns from the hash that it is not theirs.
//   - A request still PROCESSING (a crash between the two transactions) goes straight to the confirm.
//   - Business failures (unknown customer or product, short stock, an invalid command) are recorded as
//     the request REJECTED with order.rejected, and nil is returned: the command is done.
//   - Anything that may pass later (database, customers-api unreachable) returns an error matching
//     ErrTransient, and nothing is recorded: the command should be delivered again.
func (s *Service) PlaceOrder(ctx context.Context, cmd events.PlaceOrder) error {
	log := logging.FromContext(ctx).With("idempotency_key", cmd.IdempotencyKey)
	if !events.ValidKey(cmd.IdempotencyKey) {
		// Nothing can be recorded without a key, and a redelivery would not fix it.
		log.Error("place order: command dropped, invalid idempotency key")
		return nil
	}
	hash := events.RequestHash(cmd.CustomerID, cmd.Items)
	if cmd.RequestHash != "" && cmd.RequestHash != hash {
		log.Warn("place order: command request_hash differs from the computed one; using the computed one",
			"command_hash", cmd.RequestHash, "request_hash", hash)
	}
	req := Request{IdempotencyKey: cmd.IdempotencyKey, RequestHash: hash, CustomerID: cmd.CustomerID,
		Status: RequestProcessing, CorrelationID: cmd.CorrelationID}

	for attempt := 0; attempt < 3; attempt++ {
		done, err := s.resume(ctx, req)
		if done || err != nil {
			return err
		}
		lines, err := CreateInput{CustomerID: cmd.CustomerID, Items: cmd.Items}.validate()
		if err != nil {
			return s.reject(ctx, req, cmd.Items, err)
		}
		if err := s.Customers.Verify(ctx, cmd.CustomerID); err != nil {
			if IsBusiness(err) {
				return s.reject(ctx, req, lines, err)
			}
			return transient("place order: verify customer", err)
		}
		out, err := s.Store.Create(ctx, NewOrder{CustomerID: cmd.CustomerID, Lines: lines, At: s.now(),
			CorrelationID: cmd.CorrelationID, Request: &req})
		switch {
		case errors.Is(err, ErrRequestExists):
			continue // a concurrent delivery recorded it first: resume from its state
		case IsBusiness(err):
			return s.reject(ctx, req, lines, err)
		case err != nil:
			return transient("place order: create", err)
		}
		log.Info("place order: order created", "order_id", out.Order.ID)
		if s.AfterCreate != nil {
			s.AfterCreate()
		}
		return s.confirmRequest(ctx, req, out.Order.ID, lines)
	}
	return transient("place order", errors.New("order request kept changing under concurrent deliveries"))
}

// resume finishes a request already recorded. done reports that nothing is left to do.
func (s *Service) resume(ctx context.Context, req Request) (done bool, err error) {
	log := logging.FromContext(ctx).With("idempotency_key", req.IdempotencyKey)
	cur, err := s.Store.Request(ctx, req.IdempotencyKey)
	if errors.Is(err, ErrRequestNotFound) {
		return false, nil
	}
	if err != nil {
		return false, transient("place order: read request", err)
	}
	if cur.RequestHash != req.RequestHash {
		log.Warn("place order: idempotency key already used for another request; the first one stands",
			"status", cur.Status, "request_hash", req.RequestHash, "recorded_hash", cur.RequestHash)
		return true, nil
	}
	if cur.Status != RequestProcessing {
		log.Info("place order: request already processed", "status", cur.Status)
		return true, nil
	}
	o, err := s.Store.Order(ctx, cur.OrderID)
	if err != nil {
		return false, transient("place order: read order", err)
	}
	lines := make([]events.LineItem, len(o.Items))
	for i, it := range o.Items {
		lines[i] = events.LineItem{ProductID: it.ProductID, Qty: it.Qty}
	}
	log.Info("place order: resuming a request left PROCESSING", "order_id", cur.OrderID)
	return true, s.confirmRequest(ctx, cur, cur.OrderID, lines)
}

// confirmRequest is step d: CREATED→CONFIRMED, order.confirmed and the request CONFIRMED in one
// transaction. An order canceled in between can not be confirmed: the request is rejected with it.
func (s *Service) confirmRequest(ctx context.Context, req Request, orderID int64, lines []events.LineItem) error {
	now := s.now()
	_, err := s.Store.Update(ctx, Change{
		OrderID: orderID, At: now, CorrelationID: req.CorrelationID,
		Apply:      func(o *Order) (bool, error) { return o.Confirm(now) },
		Event:      events.OrderConfirmed,
		RequestKey: req.IdempotencyKey,
	})
	if errors.Is(err, ErrNotConfirmable) {
		if err := s.Store.RejectProcessing(ctx, withError(req, err), lines, now); err != nil {
			return transient("place order: reject", err)
		}
		return nil
	}
	if err != nil {
		return transient("place order: confirm", err)
	}
	logging.FromContext(ctx).Info("place order: order confirmed", "idempotency_key", req.IdempotencyKey, "order_id", orderID)
	return nil
}

func (s *Service) reject(ctx context.Context, req Request, items []events.LineItem, cause error) error {
	req = withError(req, cause)
	err := s.Store.Reject(ctx, req, items, s.now())
	if errors.Is(err, ErrRequestExists) {
		return nil // a concurrent delivery recorded its own outcome first; that one stands
	}
	if err != nil {
		return transient("place order: reject", err)
	}
	logging.FromContext(ctx).Info("place order: request rejected", "idempotency_key", req.IdempotencyKey, "code", req.Error.Code)
	return nil
}

func withError(req Request, cause error) Request {
	e := apperr.As(cause)
	req.Status = RequestRejected
	req.Error = &events.Error{Code: e.Code, Kind: e.Kind.String(), Message: e.Message, Details: e.Details}
	return req
}
