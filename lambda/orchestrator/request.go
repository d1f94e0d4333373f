package orchestrator

import (
	"fmt"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/web"
)

// Limits of a create-and-confirm request (the same as orders-api's POST /orders).
const (
	MaxItems  = 100
	MaxQty    = 10000
	MaxKeyLen = 255
)

// CreateRequest is the body of POST /orchestrator/create-and-confirm-order.
type CreateRequest struct {
	CustomerID     int64             `json:"customer_id"`
	Items          []events.LineItem `json:"items"`
	IdempotencyKey string            `json:"idempotency_key"`
	CorrelationID  *string           `json:"correlation_id"`
}

// Validate checks every field and reports all problems at once as 400 VALIDATION_FAILED.
func (r CreateRequest) Validate() error {
	var fe []apperr.FieldError
	if r.CustomerID <= 0 {
		fe = append(fe, apperr.FieldError{Field: "customer_id", Message: "is required and must be a positive integer"})
	}
	switch {
	case len(r.Items) == 0:
		fe = append(fe, apperr.FieldError{Field: "items", Message: "must hold at least one item"})
	case len(r.Items) > MaxItems:
		fe = append(fe, apperr.FieldError{Field: "items", Message: fmt.Sprintf("must hold at most %d items", MaxItems)})
	default:
		for i, it := range r.Items {
			if it.ProductID <= 0 {
				fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Message: "is required and must be a positive integer"})
			}
			if it.Qty < 1 || it.Qty > MaxQty {
				fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("items[%d].qty", i), Message: fmt.Sprintf("must be an integer from 1 to %d", MaxQty)})
			}
		}
	}
	if !ValidKey(r.IdempotencyKey) {
		fe = append(fe, apperr.FieldError{Field: "idempotency_key", Message: fmt.Sprintf("is required: 1 to %d visible ASCII characters", MaxKeyLen)})
	}
	if r.CorrelationID != nil && !web.ValidCorrelationID(*r.CorrelationID) {
		fe = append(fe, apperr.FieldError{Field: "correlation_id", Message: "must be 1 to 128 visible ASCII characters"})
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	return nil
}

// ValidKey reports whether key is an acceptable idempotency key: 1..255 visible ASCII characters.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return false
		}
	}
	return true
}
