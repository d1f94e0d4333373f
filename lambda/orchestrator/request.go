package orchestrator

import (
	"fmt"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/web"
)

// CreateRequest is the body of POST /orchestrator/create-and-confirm-order.
type CreateRequest struct {
	CustomerID     int64             `json:"customer_id"`
	Items          []events.LineItem `json:"items"`
	IdempotencyKey string            `json:"idempotency_key"`
	CorrelationID  *string           `json:"correlation_id"`
}

// Validate checks every field and reports all problems at once as 400 VALIDATION_FAILED. The items
// and the key follow the wire contract's rules (package events), the same orders-api applies: a request
// accepted here must not be rejected there for its shape, after its key was spent on the command.
func (r CreateRequest) Validate() error {
	var fe []apperr.FieldError
	if r.CustomerID <= 0 {
		fe = append(fe, apperr.FieldError{Field: "customer_id", Message: "is required and must be a positive integer"})
	}
	_, problems := events.ValidateItems(r.Items)
	for _, p := range problems {
		fe = append(fe, apperr.FieldError{Field: p.Field, Message: p.Message})
	}
	if !events.ValidKey(r.IdempotencyKey) {
		fe = append(fe, apperr.FieldError{Field: "idempotency_key", Message: fmt.Sprintf("is required: 1 to %d visible ASCII characters, and not \".\" or \"..\"", events.MaxKeyLen)})
	}
	if r.CorrelationID != nil && !web.ValidCorrelationID(*r.CorrelationID) {
		fe = append(fe, apperr.FieldError{Field: "correlation_id", Message: "must be 1 to 128 visible ASCII characters"})
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	return nil
}
