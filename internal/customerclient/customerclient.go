// Package customerclient is the one client of customers-api's internal route, used by orders-api, the
// orders-worker and the orchestrator: the service token, the caller's correlation id, a bounded wait
// (web.ServiceClient), and one reading of the answers (only customers-api's own CUSTOMER_NOT_FOUND means
// "no such customer").
package customerclient

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/web"
)

// DefaultTimeout bounds one call when New is given none.
const DefaultTimeout = web.DefaultServiceTimeout

// Errors of a look-up. They are the answers of every service that asks customers-api, so a client of
// the system sees one code and one message for one failure.
var (
	ErrNotFound    = apperr.NotFound("CUSTOMER_NOT_FOUND", "customer not found")
	ErrUnavailable = apperr.Unavailable("CUSTOMERS_UNAVAILABLE", "customers service is unavailable, retry later")
)

// Customer is a customer as other services need it.
type Customer struct {
	ID    int64   `json:"id"`
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// Client calls customers-api.
type Client struct {
	sc *web.ServiceClient
}

// New returns a client of the customers-api at base (scheme and host, at most a stage prefix such as
// /dev, never a resource path), authenticating with token. Each call ends after timeout (0 means
// DefaultTimeout) or with its context, whichever is first. hc nil means a client of its own.
func New(base, token string, timeout time.Duration, hc *http.Client) (*Client, error) {
	sc, err := web.NewServiceClient(base, token, timeout, hc)
	if err != nil {
		return nil, err
	}
	return &Client{sc: sc}, nil
}

// Get returns customer id. It fails with ErrNotFound when customers-api says there is no such
// customer, and with ErrUnavailable (wrapping the cause) when there is no clear answer: unreachable,
// timed out, 5xx, an undecodable body, or a 404 that is not customers-api's own.
func (c *Client) Get(ctx context.Context, id int64) (Customer, error) {
	var cust Customer
	a, err := c.sc.GetJSON(ctx, &cust, "internal", "customers", strconv.FormatInt(id, 10))
	switch {
	case err != nil:
		return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: %w", id, err))
	case a.Status == http.StatusOK:
		return cust, nil
	case a.Status == http.StatusNotFound && a.Code == ErrNotFound.Code:
		// Only customers-api's own answer counts: the 404 of a misjoined URL (no such route) must not
		// turn a configuration error into "no such customer".
		return Customer{}, ErrNotFound
	default:
		return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: %s answered %d %s", id, a.URL, a.Status, a.Code))
	}
}

// Verify returns nil when customer id exists, and Get's error otherwise.
func (c *Client) Verify(ctx context.Context, id int64) error {
	_, err := c.Get(ctx, id)
	return err
}
