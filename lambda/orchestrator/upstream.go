package orchestrator

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/web"
)

// Errors of the orchestrator's own making; customer look-ups fail with customerclient's errors, and
// business errors of a rejected request come from orders-api.
var (
	ErrOrdersUnavailable = apperr.Unavailable("ORDERS_UNAVAILABLE", "orders service is unavailable, retry later")
	ErrQueueUnavailable  = apperr.Unavailable("QUEUE_UNAVAILABLE", "order queue is unavailable, retry later")
	ErrKeyReused         = apperr.Unprocessable("IDEMPOTENCY_KEY_REUSED", "idempotency_key was already used with a different request")
	// ErrOtherCustomer refuses an order for another customer than the one the caller is bound to, before
	// anything is asked or sent: the same answer whether that customer exists or not.
	ErrOtherCustomer = apperr.Forbidden(auth.CodeForbidden, "an access token bound to a customer can only order for that customer")
)

// codeRequestNotFound is orders-api's answer for a key it has never seen. A 404 with any other code (no
// such route: a wrong ORDERS_API_BASE) must not pass for it, or every request would wait for nothing.
const codeRequestNotFound = "ORDER_REQUEST_NOT_FOUND"

// Customer is the customer part of a 201 answer.
type Customer = customerclient.Customer

// orders asks orders-api for order requests.
type orders struct{ sc *web.ServiceClient }

// OrderRequest returns orders-api's record of the request with key; found is false when it has none.
// With wait > 0 orders-api holds the request until the record is final or wait has passed (a long poll),
// so the answer comes as soon as the worker has recorded it.
func (o orders) OrderRequest(ctx context.Context, key string, wait time.Duration) (r events.OrderRequest, found bool, err error) {
	call := web.Call{}
	if wait > 0 {
		call = web.Call{Query: url.Values{"wait_ms": {strconv.FormatInt(wait.Milliseconds(), 10)}}, Hold: wait}
	}
	a, err := o.sc.Get(ctx, &r, call, "internal", "order-requests", key)
	switch {
	case err != nil:
		return events.OrderRequest{}, false, ErrOrdersUnavailable.Wrap(fmt.Errorf("get order request: %w", err))
	case a.Status == http.StatusOK:
		return r, true, nil
	case a.Status == http.StatusNotFound && a.Code == codeRequestNotFound:
		return events.OrderRequest{}, false, nil
	default:
		return events.OrderRequest{}, false, ErrOrdersUnavailable.Wrap(fmt.Errorf("get order request: %s answered %d %s", a.URL, a.Status, a.Code))
	}
}

// rejection rebuilds the error orders-api recorded for a rejected request, kind included, so the one
// status mapping (web.Status) answers with what a client of orders-api's REST routes would get for it.
func rejection(e *events.Error) *apperr.Error {
	if e == nil {
		return apperr.ErrInternal.Wrap(fmt.Errorf("rejected order request carries no error"))
	}
	kind, ok := apperr.ParseKind(e.Kind)
	if !ok || kind == apperr.KindInternal {
		// Recorded without a kind (or with one this build does not know): the request was refused for
		// itself, so a client error, never a 500 that would repeat on every retry.
		kind = apperr.KindUnprocessable
	}
	out := &apperr.Error{Kind: kind, Code: e.Code, Message: e.Message}
	return out.WithDetails(e.Details...)
}
