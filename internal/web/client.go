package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/b2b/backoffice/internal/logging"
)

// JoinURL joins a base URL, which may carry a path prefix such as an API stage ("/dev") with or without
// a trailing slash but never a resource path, with path segments, each escaped as one segment:
// JoinURL("http://h:3002/dev/", "orders", "7") is "http://h:3002/dev/orders/7".
func JoinURL(base string, segments ...string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base url %q must be an absolute http(s) url", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base url %q must not carry a query or fragment", base)
	}
	esc := make([]string, len(segments))
	for i, s := range segments {
		// "." and ".." would be cleaned away by path joining and address another resource.
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("path segment %q cannot be joined to a url", s)
		}
		esc[i] = url.PathEscape(s)
	}
	return u.JoinPath(esc...).String(), nil
}

// ServiceClient calls another service's internal routes: it authenticates with the service token,
// forwards the caller's correlation id, bounds each call, reads the answer to the end (so the
// connection is reused) and decodes it. customerclient and the orchestrator's look-ups of order
// requests are built on it.
type ServiceClient struct {
	base    string
	token   string
	timeout time.Duration
	hc      *http.Client
}

// DefaultServiceTimeout bounds one call when NewServiceClient is given none: whoever calls waits on
// it, so a slow service must fail fast.
const DefaultServiceTimeout = 2 * time.Second

// NewServiceClient returns a client of the service at base (scheme and host, at most a stage prefix such
// as /dev, never a resource path), authenticating with token. Each call ends after timeout (0 means
// DefaultServiceTimeout) or with its context, whichever is first. hc nil means a client of its own that
// keeps connections to the one host it calls.
func NewServiceClient(base, token string, timeout time.Duration, hc *http.Client) (*ServiceClient, error) {
	if _, err := JoinURL(base); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultServiceTimeout
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr}
	}
	return &ServiceClient{base: base, token: token, timeout: timeout, hc: hc}, nil
}

// Answer is what a service answered to GetJSON.
type Answer struct {
	// Status is the HTTP status.
	Status int
	// Code is the error code of an error answer (ErrorBody), "" otherwise or when the body is not one.
	Code string
	// URL is the address that was asked.
	URL string
}

// GetJSON fetches the resource at the base URL joined with segments (each escaped as one path segment)
// and, on 200, decodes it into v. err means no usable answer came back: the URL could not be built,
// the service was unreachable or timed out, or its 200 body did not decode. Any other status is an
// Answer for the caller to read.
func (c *ServiceClient) GetJSON(ctx context.Context, v any, segments ...string) (Answer, error) {
	return c.Get(ctx, v, Call{}, segments...)
}

// Call says more about one GetJSON call.
type Call struct {
	// Query is added to the URL.
	Query url.Values
	// Hold is how long the service may hold the request before it answers (a long poll): the call may
	// take that much longer than the client's timeout.
	Hold time.Duration
}

// Get is GetJSON with query parameters and a long poll's hold time.
func (c *ServiceClient) Get(ctx context.Context, v any, call Call, segments ...string) (Answer, error) {
	u, err := JoinURL(c.base, segments...)
	if err != nil {
		return Answer{}, err
	}
	if len(call.Query) > 0 {
		u += "?" + call.Query.Encode()
	}
	a := Answer{URL: u}
	ctx, cancel := context.WithTimeout(ctx, c.timeout+call.Hold)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return a, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if cid := logging.CorrelationID(ctx); cid != "" {
		req.Header.Set(CorrelationHeader, cid)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return a, fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return a, fmt.Errorf("get %s: read answer: %w", u, err)
	}
	a.Status = resp.StatusCode
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			return a, fmt.Errorf("get %s: decode answer: %w", u, err)
		}
		return a, nil
	}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil {
		a.Code = eb.Error.Code
	}
	return a, nil
}
