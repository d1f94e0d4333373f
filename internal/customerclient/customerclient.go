// Package customerclient is the one client of customers-api's internal route, used by orders-api, the
// orders-worker and the orchestrator: the service token, the caller's correlation id, a bounded wait,
// and one reading of the answers (only customers-api's own CUSTOMER_NOT_FOUND means "no such customer").
package customerclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
)

// DefaultTimeout bounds one call when New is given none: whoever calls waits on it, so a slow
// customers-api must fail fast.
const DefaultTimeout = 2 * time.Second

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
	base    string
	token   string
	timeout time.Duration
	hc      *http.Client
}

// New returns a client of the customers-api at base (scheme and host, at most a stage prefix such as
// /dev, never a resource path), authenticating with token. Each call ends after timeout (0 means
// DefaultTimeout) or with its context, whichever is first. hc nil means a client of its own.
func New(base, token string, timeout time.Duration, hc *http.Client) (*Client, error) {
	if _, err := web.JoinURL(base); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Every order asks the same host: keep its connections rather than open one per request.
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: base, token: token, timeout: timeout, hc: hc}, nil
}

// URL returns the address of customer id's internal route.
func (c *Client) URL(id int64) (string, error) {
	return web.JoinURL(c.base, "internal", "customers", strconv.FormatInt(id, 10))
}

// Get returns customer id. It fails with ErrNotFound when customers-api says there is no such
// customer, and with ErrUnavailable (wrapping the cause) when there is no clear answer: unreachable,
// timed out, 5xx, an undecodable body, or a 404 that is not customers-api's own.
func (c *Client) Get(ctx context.Context, id int64) (Customer, error) {
	u, err := c.URL(id)
	if err != nil {
		return Customer{}, ErrUnavailable.Wrap(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Customer{}, ErrUnavailable.Wrap(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if cid := logging.CorrelationID(ctx); cid != "" {
		req.Header.Set(web.CorrelationHeader, cid)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: %w", id, err))
	}
	defer resp.Body.Close()
	// Read to the end, so the connection goes back to the pool.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: read answer: %w", id, err))
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var cust Customer
		if err := json.Unmarshal(body, &cust); err != nil {
			return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: decode answer: %w", id, err))
		}
		return cust, nil
	case http.StatusNotFound:
		// Only customers-api's own answer counts: the 404 of a misjoined URL (no such route) must not
		// turn a configuration error into "no such customer".
		var eb web.ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error.Code == ErrNotFound.Code {
			return Customer{}, ErrNotFound
		}
		return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: %s answered 404 %s", id, u, eb.Error.Code))
	default:
		return Customer{}, ErrUnavailable.Wrap(fmt.Errorf("get customer %d: %s answered %s", id, u, resp.Status))
	}
}

// Verify returns nil when customer id exists, and Get's error otherwise.
func (c *Client) Verify(ctx context.Context, id int64) error {
	_, err := c.Get(ctx, id)
	return err
}
