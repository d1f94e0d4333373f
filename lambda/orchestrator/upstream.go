package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/customerclient"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
)

// Errors of the orchestrator's own making; customer look-ups fail with customerclient's errors, and
// business errors of a rejected request come from orders-api.
var (
	ErrOrdersUnavailable = apperr.Unavailable("ORDERS_UNAVAILABLE", "orders service is unavailable, retry later")
	ErrQueueUnavailable  = apperr.Unavailable("QUEUE_UNAVAILABLE", "order queue is unavailable, retry later")
	ErrKeyReused         = apperr.Unprocessable("IDEMPOTENCY_KEY_REUSED", "idempotency_key was already used with a different request")
)

// codeRequestNotFound is orders-api's answer for a key it has never seen. A 404 with any other code (no
// such route: a wrong ORDERS_API_BASE) must not pass for it, or every request would wait for nothing.
const codeRequestNotFound = "ORDER_REQUEST_NOT_FOUND"

// Final request statuses reported by orders-api for a PlaceOrder; anything else is still in progress.
const (
	StatusConfirmed = "CONFIRMED"
	StatusRejected  = "REJECTED"
)

// Customer is the customer part of a 201 answer.
type Customer = customerclient.Customer

// orderRequest is orders-api's GET /internal/order-requests/{key}.
type orderRequest struct {
	IdempotencyKey string        `json:"idempotency_key"`
	RequestHash    string        `json:"request_hash"`
	Status         string        `json:"status"`
	Order          *events.Order `json:"order"`
	Error          *events.Error `json:"error"`
}

func (r orderRequest) final() bool { return r.Status == StatusConfirmed || r.Status == StatusRejected }

// upstream calls orders-api: bearer token, forwarded correlation id, bounded time.
type upstream struct {
	client  *http.Client
	orders  string
	token   string
	timeout time.Duration
}

// get fetches url into v; it returns the status and, for a 404, the error code of the body. An error
// means no usable answer came back.
func (u upstream) get(ctx context.Context, url string, v any) (status int, code string, err error) {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Accept", "application/json")
	if id := logging.CorrelationID(ctx); id != "" {
		req.Header.Set(web.CorrelationHeader, id)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(body, v); err != nil {
			return 0, "", fmt.Errorf("decode %s: %w", url, err)
		}
	case http.StatusNotFound:
		var eb web.ErrorBody
		_ = json.Unmarshal(body, &eb)
		code = eb.Error.Code
	}
	return resp.StatusCode, code, nil
}

// OrderRequest returns orders-api's record of the request with key; found is false when it has none.
func (u upstream) OrderRequest(ctx context.Context, key string) (r orderRequest, found bool, err error) {
	url, err := web.JoinURL(u.orders, "internal", "order-requests", key)
	if err != nil {
		return orderRequest{}, false, apperr.ErrInternal.Wrap(err)
	}
	status, code, err := u.get(ctx, url, &r)
	switch {
	case err != nil:
		return orderRequest{}, false, ErrOrdersUnavailable.Wrap(fmt.Errorf("get order request: %w", err))
	case status == http.StatusOK:
		return r, true, nil
	case status == http.StatusNotFound && code == codeRequestNotFound:
		return orderRequest{}, false, nil
	default:
		return orderRequest{}, false, ErrOrdersUnavailable.Wrap(fmt.Errorf("get order request: %s answered %d %s", url, status, code))
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
