package apitest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/b2b/backoffice/internal/apitest"
)

const spec = `
openapi: 3.0.3
info: {title: things, version: "1"}
servers: [{url: "http://things.example:9999"}]
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer}
  schemas:
    Thing:
      type: object
      additionalProperties: false
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string, minLength: 1}
paths:
  /things:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [name]
              properties:
                name: {type: string, minLength: 1}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
        "400": {description: bad}
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
    delete:
      responses:
        "204": {description: gone}
  /internal/things/{id}:
    get:
      security: [{bearerAuth: []}]
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
`

// recorder is a testing.TB that collects failures instead of failing the test, so the checker's own
// verdicts can be asserted.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls f with a fresh recorder in its own goroutine (Fatalf ends it) and returns the recorder.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func wantClean(t *testing.T, r *recorder) {
	t.Helper()
	if len(r.errors) != 0 {
		t.Fatalf("got failures %q, want none", r.errors)
	}
}

func wantFailure(t *testing.T, r *recorder, substr string) {
	t.Helper()
	for _, e := range r.errors {
		if strings.Contains(e, substr) {
			return
		}
	}
	t.Fatalf("got failures %q, want one containing %q", r.errors, substr)
}

// things is a small handler that speaks the contract above, with a few switches to break it.
func things(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /things", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		var in struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(b, &in) != nil || in.Name == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":1,"name":%q}`, in.Name)
	})
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.PathValue("id") {
		case "2": // breaks the schema: name missing
			_, _ = w.Write([]byte(`{"id":2}`))
		case "3": // undocumented status
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(`{}`))
		case "4": // extra field where additionalProperties is false
			_, _ = w.Write([]byte(`{"id":4,"name":"x","secret":true}`))
		default:
			_, _ = w.Write([]byte(`{"id":1,"name":"one"}`))
		}
	})
	mux.HandleFunc("DELETE /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "9" { // documented without a body, sends one
			w.WriteHeader(http.StatusNoContent)
			_, _ = w.Write([]byte(`oops`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /internal/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":7,"name":"seven"}`))
	})
	mux.HandleFunc("GET /undocumented", func(w http.ResponseWriter, r *http.Request) {})
	return mux
}

func TestLoadRejectsInvalidDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not yaml":        "{{{",
		"openapi 3.1":     strings.Replace(spec, "3.0.3", "3.1.0", 1),
		"swagger 2":       "swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}\n",
		"broken ref":      strings.Replace(spec, `"#/components/schemas/Thing"}`+"\n    delete", `"#/components/schemas/Nope"}`+"\n    delete", 1),
		"missing info":    "openapi: 3.0.3\npaths: {}\n",
		"bad schema type": strings.Replace(spec, "id: {type: integer}", "id: {type: wrong}", 1),
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, func(tb testing.TB) { apitest.Load(tb, []byte(doc)) })
			if !r.fatal {
				t.Fatalf("Load accepted an invalid document (failures %q)", r.errors)
			}
		})
	}
}

func TestCheckAcceptsExchangesThatFollowTheContract(t *testing.T) {
	c := apitest.Load(t, []byte(spec))
	h := things(t)
	r := run(t, func(tb testing.TB) {
		req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"name":"widget"}`))
		req.Header.Set("Content-Type", "application/json")
		status, _, body := c.Do(tb, h, req)
		if status != http.StatusCreated || string(body) != `{"id":1,"name":"widget"}` {
			t.Errorf("POST: got %d %s, want 201 with the name echoed (the handler must see the body)", status, body)
		}
		// The body is still there for a second reader.
		if b, _ := io.ReadAll(req.Body); string(b) != `{"name":"widget"}` {
			t.Errorf("request body after Do: got %q", b)
		}
		status, _, _ = c.Do(tb, h, httptest.NewRequest(http.MethodGet, "/things/1", nil))
		if status != http.StatusOK {
			t.Errorf("GET: got %d, want 200", status)
		}
		// The security scheme is not enforced by the checker.
		status, _, _ = c.Do(tb, h, httptest.NewRequest(http.MethodGet, "/internal/things/7", nil))
		if status != http.StatusOK {
			t.Errorf("internal GET: got %d, want 200", status)
		}
	})
	wantClean(t, r)
	if got, want := c.Uncovered(), []string{"DELETE /things/{id}"}; !slices.Equal(got, want) {
		t.Fatalf("Uncovered: got %q, want %q", got, want)
	}
	r = run(t, func(tb testing.TB) { c.Do(tb, h, httptest.NewRequest(http.MethodDelete, "/things/1", nil)) })
	wantClean(t, r)
	if got := c.Uncovered(); len(got) != 0 {
		t.Fatalf("Uncovered: got %q, want none", got)
	}
}

func TestCheckOverTheNetwork(t *testing.T) {
	c := apitest.Load(t, []byte(spec))
	srv := httptest.NewServer(things(t))
	defer srv.Close()
	r := run(t, func(tb testing.TB) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/things", strings.NewReader(`{"name":"net"}`))
		req.Header.Set("Content-Type", "application/json")
		status, header, body := c.Do(tb, nil, req)
		if status != http.StatusCreated || header.Get("Content-Type") != "application/json" || string(body) != `{"id":1,"name":"net"}` {
			t.Errorf("got %d %v %s, want 201 json with the name echoed", status, header, body)
		}
		// httptest.NewRequest sets RequestURI, which a client refuses; Do must cope.
		status, _, _ = c.Do(tb, nil, httptest.NewRequest(http.MethodGet, srv.URL+"/things/1", nil))
		if status != http.StatusOK {
			t.Errorf("GET: got %d, want 200", status)
		}
	})
	wantClean(t, r)
}

func TestCheckReportsMismatches(t *testing.T) {
	c := apitest.Load(t, []byte(spec))
	h := things(t)
	cases := []struct {
		name   string
		req    func() *http.Request
		expect string
	}{
		{"schema violation", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/things/2", nil) }, "does not match the contract"},
		{"undocumented status", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/things/3", nil) }, "status is not supported"},
		{"unknown property", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/things/4", nil) }, "secret"},
		{"body where none is documented", func() *http.Request { return httptest.NewRequest(http.MethodDelete, "/things/9", nil) }, "documented without a body"},
		{"undocumented operation", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/undocumented", nil) }, "operation not documented"},
		{"invalid request accepted", func() *http.Request {
			// id 0 violates minimum: 1, yet the handler answers 200.
			return httptest.NewRequest(http.MethodGet, "/things/0", nil)
		}, "request accepted with 200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, func(tb testing.TB) { c.Do(tb, h, tc.req()) })
			wantFailure(t, r, tc.expect)
		})
	}
}

func TestCheckToleratesRejectedInvalidRequests(t *testing.T) {
	c := apitest.Load(t, []byte(spec))
	r := run(t, func(tb testing.TB) {
		req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"name":""}`))
		req.Header.Set("Content-Type", "application/json")
		if status, _, _ := c.Do(tb, things(t), req); status != http.StatusBadRequest {
			t.Errorf("got %d, want 400", status)
		}
	})
	wantClean(t, r)
}

func TestCheckWithoutDo(t *testing.T) {
	c := apitest.Load(t, []byte(spec))
	r := run(t, func(tb testing.TB) {
		req := httptest.NewRequest(http.MethodGet, "/things/5", nil)
		c.Check(tb, req, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(`{"id":5,"name":"five"}`))
		c.Check(tb, req, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(`{"id":"five"}`))
	})
	if len(r.errors) != 1 {
		t.Fatalf("got failures %q, want exactly one (the second exchange)", r.errors)
	}
}

func TestValidateRequest(t *testing.T) {
	c := apitest.Load(t, []byte(spec))
	post := func(body string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		ok   bool
	}{
		{"valid body", post(`{"name":"a"}`), true},
		{"empty name", post(`{"name":""}`), false},
		{"unknown field", post(`{"name":"a","x":1}`), false},
		{"valid path", httptest.NewRequest(http.MethodGet, "/things/3", nil), true},
		{"id below the minimum", httptest.NewRequest(http.MethodGet, "/things/0", nil), false},
		{"undocumented", httptest.NewRequest(http.MethodGet, "/nothing", nil), false},
	} {
		err := c.ValidateRequest(tc.req)
		if (err == nil) != tc.ok {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	// The body can still be read after the check.
	req := post(`{"name":"a"}`)
	_ = c.ValidateRequest(req)
	if b, _ := io.ReadAll(req.Body); string(b) != `{"name":"a"}` {
		t.Errorf("body after ValidateRequest: got %q", b)
	}
}

const securedSpec = `
openapi: 3.0.3
info: {title: secured, version: "1"}
components:
  securitySchemes:
    accessToken: {type: http, scheme: bearer, bearerFormat: JWT}
    serviceToken: {type: http, scheme: bearer}
paths:
  /health:
    get:
      security: []
      responses: {"200": {description: ok}}
  /internal/things/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      security: [{serviceToken: []}]
      responses: {"200": {description: ok}}
  /things:
    get:
      security: [{accessToken: []}]
      x-required-scope: things:read
      responses: {"200": {description: ok}}
    post:
      security: [{accessToken: []}]
      x-required-scope: things:write
      responses: {"201": {description: ok}}
`

func TestScopedOperations(t *testing.T) {
	r := run(t, func(tb testing.TB) {
		ops := apitest.Load(tb, []byte(securedSpec)).ScopedOperations(tb)
		want := []apitest.Operation{
			{Method: "GET", Path: "/things", Schemes: []string{"accessToken"}, Scope: "things:read", Declared: true},
			{Method: "POST", Path: "/things", Schemes: []string{"accessToken"}, Scope: "things:write", Declared: true},
		}
		if fmt.Sprint(ops) != fmt.Sprint(want) {
			tb.Errorf("got %v, want %v", ops, want)
		}
	})
	wantClean(t, r)

	for name, tc := range map[string]struct{ doc, want string }{
		"a public route without a scope":  {strings.Replace(securedSpec, "      x-required-scope: things:write\n", "", 1), "POST /things must take an access token"},
		"a public route without security": {strings.Replace(securedSpec, "      security: [{accessToken: []}]\n      x-required-scope: things:read\n", "", 1), "GET /things declares no security"},
		"an open route with a token":      {strings.Replace(securedSpec, "      security: []\n", "      security: [{accessToken: []}]\n", 1), "GET /health must be open"},
		"an internal route with a scope":  {strings.Replace(securedSpec, "[{serviceToken: []}]", "[{accessToken: []}]", 1), "GET /internal/things/{id} must take the service token"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, func(tb testing.TB) { apitest.Load(tb, []byte(tc.doc)).ScopedOperations(tb) })
			wantFailure(t, r, tc.want)
		})
	}
}
