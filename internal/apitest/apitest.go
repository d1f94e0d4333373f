// Package apitest checks real HTTP exchanges against a service's OpenAPI 3.0 document, so a test proves
// that the contract published at GET /openapi.yaml is the one the service actually speaks.
package apitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Contract is an OpenAPI 3.0 document that real requests and responses are checked against.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options

	mu      sync.Mutex
	covered map[string]bool
}

// Load parses spec and fails t at once when it is not a valid OpenAPI 3.0 document.
//
// The document's servers are ignored when matching requests: tests reach a service on whatever host and
// port httptest or a subprocess gave it, so only method and path select the operation.
func Load(t testing.TB, spec []byte) *Contract {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		t.Fatalf("openapi: parse: %v", err)
	}
	if !doc.IsOpenAPI30() {
		t.Fatalf("openapi: version %q, want 3.0.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi: invalid document: %v", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi: router: %v", err)
	}
	return &Contract{
		doc:    doc,
		router: router,
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			// Authentication is the service's job and has tests of its own; here a documented
			// security scheme must not make every internal request fail.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		},
		covered: map[string]bool{},
	}
}

// Check validates one real exchange: the request against its operation, the status, headers and the
// JSON body against the documented response. t.Errorf on mismatch (undocumented status = mismatch).
//
// A request the service rejected with a 4xx is often invalid on purpose (that is what the test is about),
// so its parameters and body are only held to the contract when the service accepted it; the response
// always is.
func (c *Contract) Check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	reqBody := requestBody(req)
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	vreq.ContentLength = int64(len(reqBody))

	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Errorf("openapi: %s %s (status %d): operation not documented: %v", req.Method, req.URL.Path, status, err)
		return
	}
	op := route.Method + " " + route.Path
	c.mu.Lock()
	c.covered[op] = true
	c.mu.Unlock()

	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.opts}
	if status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("openapi: %s: request accepted with %d but does not match the contract: %v", op, status, err)
		}
		// ValidateRequest consumed the clone's body; give it back for the response input.
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	}

	if header == nil {
		header = http.Header{}
	}
	resp := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                c.opts,
	}
	resp.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), resp); err != nil {
		t.Errorf("openapi: %s: response %d does not match the contract: %v\nbody: %s", op, status, err, clip(body))
		return
	}
	if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil && len(ref.Value.Content) == 0 && len(body) > 0 {
		t.Errorf("openapi: %s: response %d is documented without a body, got %s", op, status, clip(body))
	}
}

// ValidateRequest checks req alone against the contract: nil when its operation is documented and its
// parameters and body match, so that a test can hold the contract to what the service refuses (a
// request the contract accepts must not be refused as invalid).
func (c *Contract) ValidateRequest(req *http.Request) error {
	reqBody := requestBody(req)
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	vreq.ContentLength = int64(len(reqBody))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		return fmt.Errorf("operation not documented: %w", err)
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.opts})
}

// Do sends req to h (an http.Handler, in-process) or, when h is nil, over the network with
// http.DefaultClient; it checks the exchange with Check and returns status, header and body.
func (c *Contract) Do(t testing.TB, h http.Handler, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	reqBody := requestBody(req)

	var (
		status int
		header http.Header
		body   []byte
	)
	if h != nil {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		status, header, body = rec.Code, rec.Result().Header, rec.Body.Bytes()
	} else {
		out := req.Clone(req.Context())
		out.RequestURI = "" // set by httptest.NewRequest; a client request must not carry it
		out.Body = io.NopCloser(bytes.NewReader(reqBody))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
		out.ContentLength = int64(len(reqBody))
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
		}
		status, header = resp.StatusCode, resp.Header
	}
	restore(req, reqBody)
	c.Check(t, req, status, header, body)
	return status, header, body
}

// Uncovered returns operations ("METHOD /path") never seen by Check, so a test can assert full coverage.
func (c *Contract) Uncovered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			if op := method + " " + path; !c.covered[op] {
				out = append(out, op)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Operation is one operation of the contract and what its security asks for.
type Operation struct {
	Method string // GET, POST, ...
	Path   string // as documented: /customers/{id}
	// Schemes are the security schemes the operation accepts; empty for an open operation
	// (`security: []`).
	Schemes []string
	// Scope is the operation's x-required-scope: the scope an access token needs for it; "" when the
	// operation documents none.
	Scope string
	// Declared reports whether the operation has a security list of its own; without one it falls back
	// to the document's (which this project's documents do not set).
	Declared bool
}

// Operations returns every operation of the contract, sorted by path and method.
func (c *Contract) Operations() []Operation {
	var out []Operation
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			o := Operation{Method: method, Path: path}
			if op.Security != nil {
				o.Declared = true
				for _, req := range *op.Security {
					for name := range req {
						o.Schemes = append(o.Schemes, name)
					}
				}
				slices.Sort(o.Schemes)
			}
			if s, ok := op.Extensions["x-required-scope"].(string); ok {
				o.Scope = s
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		if a.Path != b.Path {
			return strings.Compare(a.Path, b.Path)
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out
}

// openPaths are the routes every service serves without any token.
var openPaths = []string{"/health", "/openapi.yaml", "/metrics"}

// ScopedOperations returns the operations that need an access token with a scope, and fails t for any
// operation whose documented security breaks the rules every service follows: /health, /openapi.yaml
// and /metrics are open (`security: []`), /internal/... take the service token, and everything else
// takes an access token (scheme accessToken) and names its scope in x-required-scope.
func (c *Contract) ScopedOperations(t testing.TB) []Operation {
	t.Helper()
	var out []Operation
	for _, op := range c.Operations() {
		name := op.Method + " " + op.Path
		switch {
		case !op.Declared:
			t.Errorf("openapi: %s declares no security", name)
		case slices.Contains(openPaths, op.Path):
			if len(op.Schemes) != 0 || op.Scope != "" {
				t.Errorf("openapi: %s must be open (security: []), got %v %q", name, op.Schemes, op.Scope)
			}
		case strings.HasPrefix(op.Path, "/internal/"):
			if !slices.Equal(op.Schemes, []string{"serviceToken"}) || op.Scope != "" {
				t.Errorf("openapi: %s must take the service token alone, got %v %q", name, op.Schemes, op.Scope)
			}
		case !slices.Equal(op.Schemes, []string{"accessToken"}) || op.Scope == "":
			t.Errorf("openapi: %s must take an access token (accessToken) with an x-required-scope, got %v %q", name, op.Schemes, op.Scope)
		default:
			out = append(out, op)
		}
	}
	return out
}

// requestBody returns the bytes of req's body and leaves req with a fresh copy, so whoever reads it next
// (the handler, the validator) sees the whole body. GetBody is preferred: after a request went over the
// network its Body is spent, but GetBody still yields the original bytes.
func requestBody(req *http.Request) []byte {
	var b []byte
	switch {
	case req.GetBody != nil:
		if rc, err := req.GetBody(); err == nil {
			b, _ = io.ReadAll(rc)
			rc.Close()
		}
	case req.Body != nil && req.Body != http.NoBody:
		b, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	restore(req, b)
	return b
}

func restore(req *http.Request, b []byte) {
	if b == nil && (req.Body == nil || req.Body == http.NoBody) {
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func clip(b []byte) string {
	const max = 2000
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		return fmt.Sprintf("%s... (%d bytes)", s[:max], len(b))
	}
	return s
}
