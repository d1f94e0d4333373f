package orchestrator

import (
	"fmt"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/web"
)

// CreateRequest is the body of POST /orchestrator/create-and-confirm-order as sent. The required scalars
// are pointers, so that a field left out (or null) "is required" while a field sent with a wrong value
// is told what is wrong with it.
type CreateRequest struct {
	CustomerID     *int64            `json:"customer_id"`
	Items          []events.LineItem `json:"items"`
	IdempotencyKey *string           `json:"idempotency_key"`
	CorrelationID  *string           `json:"correlation_id"`
}

// placeRequest is a create-and-confirm request as the handler works with it.
type placeRequest struct {
	CustomerID     int64
	Items          []events.LineItem
	IdempotencyKey string
	// Caller is who asks: the actor of the order's changes, and the customer it is bound to.
	Caller identity.Caller
}

// validate returns the request with the values sent (zero for those left out) and checks every field,
// reporting all problems at once as 400 VALIDATION_FAILED. The items and the key follow the wire
// contract's rules (package events), the same orders-api applies: a request accepted here must not be
// rejected there for its shape, after its key was spent on the command.
func (b CreateRequest) validate() (placeRequest, error) {
	req := placeRequest{Items: b.Items}
	var fe []apperr.FieldError
	switch {
	case b.CustomerID == nil:
		fe = append(fe, apperr.FieldError{Field: "customer_id", Message: "is required"})
	case *b.CustomerID <= 0:
		req.CustomerID = *b.CustomerID
		fe = append(fe, apperr.FieldError{Field: "customer_id", Message: "must be a positive integer"})
	default:
		req.CustomerID = *b.CustomerID
	}
	if b.Items == nil {
		fe = append(fe, apperr.FieldError{Field: "items", Message: "is required"})
	} else {
		_, problems := events.ValidateItems(b.Items)
		for _, p := range problems {
			fe = append(fe, apperr.FieldError{Field: p.Field, Message: p.Message})
		}
	}
	switch {
	case b.IdempotencyKey == nil:
		fe = append(fe, apperr.FieldError{Field: "idempotency_key", Message: "is required"})
	case !events.ValidKey(*b.IdempotencyKey):
		req.IdempotencyKey = *b.IdempotencyKey
		fe = append(fe, apperr.FieldError{Field: "idempotency_key", Message: fmt.Sprintf("must be 1 to %d visible ASCII characters, and not \".\" or \"..\"", events.MaxKeyLen)})
	default:
		req.IdempotencyKey = *b.IdempotencyKey
	}
	if b.CorrelationID != nil && !web.ValidCorrelationID(*b.CorrelationID) {
		fe = append(fe, apperr.FieldError{Field: "correlation_id", Message: "must be 1 to 128 visible ASCII characters"})
	}
	if len(fe) > 0 {
		return req, apperr.Validation(fe...)
	}
	return req, nil
}
