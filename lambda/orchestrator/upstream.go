package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
)

// Errors of the orchestrator's own making; business errors of a rejected request come from orders-api.
var (
	ErrCustomerNotFound     = apperr.NotFound("CUSTOMER_NOT_FOUND", "customer not found")
	ErrCustomersUnavailable = apperr.Unavailable("CUSTOMERS_UNAVAILABLE", "customers service is unavailable, retry later")
	ErrOrdersUnavailable    = apperr.Unavailable("ORDERS_UNAVAILABLE", "orders service is unavailable, retry later")
	ErrQueueUnavailable     = apperr.Unavailable("QUEUE_UNAVAILABLE", "order queue is unavailable, retry later")
	ErrKeyReused            = apperr.Unprocessable("IDEMPOTENCY_KEY_REUSED", "idempotency_key was already used with a different request")
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
type Customer struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// orderRequest is orders-api's GET /internal/order-requests/{key}.
type orderRequest struct {
	IdempotencyKey string        `json:"idempotency_key"`
	RequestHash    string        `json:"request_hash"`
	Status         string        `json:"status"`
	Order          *events.Order `json:"order"`
	Error          *events.Error `json:"error"`
}

func (r orderRequest) final() bool { return r.Status == StatusConfirmed || r.Status == StatusRejected }

// upstream calls customers-api and orders-api: bearer token, forwarded correlation id, bounded time.
type upstream struct {
	client    *http.Client
	customers string
	orders    string
	token     string
	timeout   time.Duration
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

// Customer returns the customer with id: 404 CUSTOMER_NOT_FOUND, or 503 when customers-api cannot answer.
func (u upstream) Customer(ctx context.Context, id int64) (Customer, error) {
	url, err := web.JoinURL(u.customers, "internal", "customers", strconv.FormatInt(id, 10))
	if err != nil {
		return Customer{}, apperr.ErrInternal.Wrap(err)
	}
	var c Customer
	status, code, err := u.get(ctx, url, &c)
	switch {
	case err != nil:
		return Customer{}, ErrCustomersUnavailable.Wrap(fmt.Errorf("get customer %d: %w", id, err))
	case status == http.StatusOK:
		return c, nil
	case status == http.StatusNotFound && code == ErrCustomerNotFound.Code:
		// Only customers-api's own answer counts: the 404 of a misjoined URL is a fault, not a fact.
		return Customer{}, ErrCustomerNotFound
	default:
		return Customer{}, ErrCustomersUnavailable.Wrap(fmt.Errorf("get customer %d: %s answered %d %s", id, url, status, code))
	}
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

// rejection turns the error orders-api recorded for a rejected request into the answer's error, with the
// status a client of the REST API would have seen for the same failure.
func rejection(e *events.Error) *apperr.Error {
	if e == nil {
		return apperr.ErrInternal.Wrap(fmt.Errorf("rejected order request carries no error"))
	}
	var out *apperr.Error
	switch e.Code {
	case "CUSTOMER_NOT_FOUND", "PRODUCT_NOT_FOUND":
		out = apperr.NotFound(e.Code, e.Message)
	case "INSUFFICIENT_STOCK":
		out = apperr.Conflict(e.Code, e.Message)
	case "VALIDATION_FAILED":
		out = apperr.Invalid(e.Code, e.Message)
	default:
		out = apperr.Unprocessable(e.Code, e.Message)
	}
	return out.WithDetails(e.Details...)
}
