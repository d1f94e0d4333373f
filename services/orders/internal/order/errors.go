package order

import (
	"errors"
	"fmt"

	"github.com/b2b/backoffice/internal/apperr"
)

// Errors of the orders domain, each with a stable code.
var (
	ErrNotFound               = apperr.NotFound("ORDER_NOT_FOUND", "order not found")
	ErrProductNotFound        = apperr.NotFound("PRODUCT_NOT_FOUND", "product not found")
	ErrRequestNotFound        = apperr.NotFound("ORDER_REQUEST_NOT_FOUND", "order request not found")
	ErrSKUTaken               = apperr.Conflict("SKU_TAKEN", "a product with this sku already exists")
	ErrInsufficientStock      = apperr.Conflict("INSUFFICIENT_STOCK", "not enough stock for one or more items")
	ErrNotConfirmable         = apperr.Conflict("ORDER_NOT_CONFIRMABLE", "a canceled order cannot be confirmed")
	ErrCancelWindowExpired    = apperr.Conflict("CANCEL_WINDOW_EXPIRED", "the order was confirmed too long ago to be canceled")
	ErrIdempotencyKeyRequired = apperr.Invalid("IDEMPOTENCY_KEY_REQUIRED", "the X-Idempotency-Key header is required")
	ErrIdempotencyKeyInvalid  = apperr.Invalid("IDEMPOTENCY_KEY_INVALID", "an idempotency key is 1 to 255 visible ASCII characters, and not \".\" or \"..\"")
	ErrIdempotencyKeyReused   = apperr.Unprocessable("IDEMPOTENCY_KEY_REUSED", "this idempotency key was used for another request")
	ErrIdempotencyKeyInUse    = apperr.Conflict("IDEMPOTENCY_KEY_IN_USE", "a request with this idempotency key is still being processed")
	// ErrOtherCustomer refuses an order for another customer than the one the caller is bound to. It
	// is a 403, not a 404: the customer id is the caller's own input and is refused before anything is
	// looked up, so the answer is the same whether that customer exists or not, and it tells an
	// integration with a wrong customer id what is wrong instead of claiming the customer is unknown.
	ErrOtherCustomer = apperr.Forbidden("FORBIDDEN", "an access token bound to a customer can only order for that customer")
	// ErrProductsReadOnly refuses a product change to a caller bound to a customer: products are the
	// backoffice's to change, whatever scopes a customer's own access token carries.
	ErrProductsReadOnly = apperr.Forbidden("FORBIDDEN", "an access token bound to a customer cannot change products")
)

// Shortage is one detail of INSUFFICIENT_STOCK. Error details are part of the error contract, so
// they carry their wire names.
type Shortage struct {
	ProductID int64 `json:"product_id"`
	Requested int   `json:"requested"`
	Available int   `json:"available"`
}

// MissingProduct is one detail of PRODUCT_NOT_FOUND.
type MissingProduct struct {
	ProductID int64 `json:"product_id"`
}

// ErrTransient marks a failure that may pass when retried (database or customers-api unreachable). The
// orders-worker nacks a command whose processing failed with it, so the queue redelivers the command.
var ErrTransient = errors.New("transient failure")

// IsTransient reports whether err is worth retrying later.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// Transient wraps err, from op, as a failure worth retrying later.
func Transient(op string, err error) error { return fmt.Errorf("%s: %w: %w", op, ErrTransient, err) }

// IsBusiness reports whether err is a final answer about the request itself (an apperr 4xx): retrying
// it can not help, so it is recorded rather than retried.
func IsBusiness(err error) bool {
	e := apperr.As(err)
	if e == nil {
		return false
	}
	switch e.Kind {
	case apperr.KindInvalid, apperr.KindNotFound, apperr.KindConflict, apperr.KindUnprocessable, apperr.KindForbidden:
		return true
	}
	return false
}
