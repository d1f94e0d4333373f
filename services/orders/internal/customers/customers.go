// Package customers is orders-api's client of customers-api: it asks whether a customer exists through
// the internal route, with the service token and the caller's correlation id.
package customers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// DefaultTimeout bounds one call: the order waits on it, so a slow customers-api must fail fast.
const DefaultTimeout = 2 * time.Second

// Client calls customers-api.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

var _ order.Customers = (*Client)(nil)

// New returns a client of the customers-api at base (which may carry a stage prefix such as /dev),
// authenticating with token; timeout 0 means DefaultTimeout.
func New(base, token string, timeout time.Duration) (*Client, error) {
	if _, err := web.JoinURL(base); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{base: base, token: token, hc: &http.Client{Timeout: timeout, Transport: tr}}, nil
}

// URL returns the address of customer id's internal route.
func (c *Client) URL(id int64) (string, error) {
	return web.JoinURL(c.base, "internal", "customers", strconv.FormatInt(id, 10))
}

// Verify returns nil when customer id exists, order.ErrCustomerNotFound when customers-api says it does
// not, and order.ErrCustomersUnavailable (with the cause) when there is no clear answer: unreachable,
// timed out, 5xx, or anything else unexpected.
func (c *Client) Verify(ctx context.Context, id int64) error {
	u, err := c.URL(id)
	if err != nil {
		return order.ErrCustomersUnavailable.Wrap(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return order.ErrCustomersUnavailable.Wrap(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if cid := logging.CorrelationID(ctx); cid != "" {
		req.Header.Set(web.CorrelationHeader, cid)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return order.ErrCustomersUnavailable.Wrap(fmt.Errorf("get customer %d: %w", id, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // read to the end so the connection is reused
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		// Only customers-api's own answer counts: a 404 of a misjoined URL (no such route) must not
		// turn a configuration error into "no such customer".
		var eb web.ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error.Code == order.ErrCustomerNotFound.Code {
			return order.ErrCustomerNotFound
		}
		return order.ErrCustomersUnavailable.Wrap(fmt.Errorf("get customer %d: %s answered 404 %s", id, u, eb.Error.Code))
	default:
		return order.ErrCustomersUnavailable.Wrap(fmt.Errorf("get customer %d: customers-api answered %s", id, resp.Status))
	}
}
