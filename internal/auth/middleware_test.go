package auth_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/web"
)

func TestRequireScope(t *testing.T) {
	v := verifier(t, hsConfig(), &logBuf{})
	a := newAPI(t, v, &logBuf{})
	readOnly := signHS256(t, []byte(testSecret), claims("scope", "orders:read customers:write"))

	got := a.do(t, http.MethodPost, "/orders", bearer(readOnly))
	if got.status != http.StatusForbidden || got.code != auth.CodeForbidden {
		t.Fatalf("got %d %q, want 403 %s", got.status, got.code, auth.CodeForbidden)
	}
	if want := `Bearer error="insufficient_scope", scope="orders:write"`; got.challenge != want {
		t.Fatalf("WWW-Authenticate: got %q, want %q", got.challenge, want)
	}
	if !strings.Contains(got.message, auth.ScopeOrdersWrite) {
		t.Fatalf("message %q, want it to name the missing scope", got.message)
	}
	if a.handled.Load() != 0 {
		t.Fatal("a request without the scope reached the handler")
	}
	lines := a.log.lines(t, "request")
	if len(lines) != 1 || lines[0]["sub"] != "user-1" || lines[0]["error_code"] != auth.CodeForbidden || lines[0]["status"] != float64(403) {
		t.Fatalf("request log line: got %v, want sub user-1, error_code FORBIDDEN, status 403", lines)
	}

	// The scope must be granted as a whole word, not as part of another.
	prefix := signHS256(t, []byte(testSecret), claims("scope", "orders:writer orders:write-all"))
	if got := a.do(t, http.MethodPost, "/orders", bearer(prefix)); got.status != http.StatusForbidden {
		t.Fatalf("scope orders:writer: got %d, want 403", got.status)
	}
	none := signHS256(t, []byte(testSecret), claims("scope", nil))
	if got := a.do(t, http.MethodPost, "/orders", bearer(none)); got.status != http.StatusForbidden {
		t.Fatalf("no scope claim: got %d, want 403", got.status)
	}

	writer := signHS256(t, []byte(testSecret), claims("scope", "orders:write"))
	if got := a.do(t, http.MethodPost, "/orders", bearer(writer)); got.status != http.StatusCreated || got.challenge != "" {
		t.Fatalf("with the scope: got %d %q challenge %q, want 201 and no challenge", got.status, got.code, got.challenge)
	}
	// Authentication comes first: no token is 401, not 403.
	wantStatus(t, a.do(t, http.MethodPost, "/orders", ""), 401)
	// Open routes stay open.
	if got := a.do(t, http.MethodGet, "/health", ""); got.status != http.StatusOK {
		t.Fatalf("/health without a token: got %d, want 200", got.status)
	}
}

func TestCustomerPrincipal(t *testing.T) {
	v := verifier(t, hsConfig(), &logBuf{})
	a := newAPI(t, v, &logBuf{})
	tok := signHS256(t, []byte(testSecret), claims("sub", "integration-acme", "customer_id", "17", "scope", "orders:read orders:write products:read"))

	got := a.do(t, http.MethodPost, "/orders", bearer(tok))
	if got.status != http.StatusCreated {
		t.Fatalf("got %d %q, want 201", got.status, got.code)
	}
	want := seen{Subject: "integration-acme", CustomerID: 17, Scopes: []string{"orders:read", "orders:write", "products:read"}}
	if got.seen.Subject != want.Subject || got.seen.CustomerID != want.CustomerID || !slices.Equal(got.seen.Scopes, want.Scopes) {
		t.Fatalf("principal: got %+v, want %+v", got.seen, want)
	}
	lines := a.log.lines(t, "request")
	if len(lines) != 1 || lines[0]["sub"] != "integration-acme" || lines[0]["customer_id"] != float64(17) {
		t.Fatalf("request log line: got %v, want sub and customer_id", lines)
	}

	operator := signHS256(t, []byte(testSecret), claims("sub", "ops-1"))
	if got := a.bearer(t, operator); got.status != 200 || got.seen.CustomerID != 0 {
		t.Fatalf("operator: got %d %+v, want 200 with no customer", got.status, got.seen)
	}
	lines = a.log.lines(t, "request")
	if _, ok := lines[1]["customer_id"]; ok || lines[1]["sub"] != "ops-1" {
		t.Fatalf("operator's request log line: got %v, want sub and no customer_id", lines[1])
	}
}

func TestDisabled(t *testing.T) {
	log := &logBuf{}
	v := verifier(t, auth.Config{Disabled: true}, log)
	if !v.Disabled() {
		t.Fatal("Disabled() = false")
	}
	warnings := log.lines(t, "authentication is disabled (AUTH_DISABLED=true): every request acts as an operator with every scope; for local experiments only")
	if len(warnings) != 1 || warnings[0]["level"] != "WARN" {
		t.Fatalf("got %v, want one warning at construction", warnings)
	}

	a := newAPI(t, v, &logBuf{})
	for _, authz := range []string{"", "Bearer garbage"} {
		got := a.do(t, http.MethodPost, "/orders", authz)
		if got.status != http.StatusCreated || got.seen.Subject != auth.DisabledSubject || got.seen.CustomerID != 0 ||
			!slices.Equal(got.seen.Scopes, auth.AllScopes()) {
			t.Fatalf("Authorization %q: got %d %+v, want 201 as %s with every scope", authz, got.status, got.seen, auth.DisabledSubject)
		}
	}
	perRequest := a.log.lines(t, "authentication is disabled (AUTH_DISABLED=true): request not authenticated")
	if len(perRequest) != 2 || perRequest[0]["level"] != "WARN" || perRequest[0]["correlation_id"] == nil {
		t.Fatalf("got %v, want a warning on each of the 2 requests, with its correlation id", perRequest)
	}
	if lines := a.log.lines(t, "request"); lines[0]["sub"] != auth.DisabledSubject {
		t.Fatalf("request log line: got %v, want sub %s", lines[0], auth.DisabledSubject)
	}
}

func TestRequireWithoutAuthenticateFailsClosed(t *testing.T) {
	log := &logBuf{}
	r := web.NewRouter(jsonLogger(log))
	r.With(auth.Require(auth.ScopeReportsRead)).Get("/reports", func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached without authentication")
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	a := &api{srv: srv, log: log}
	wantStatus(t, a.do(t, http.MethodGet, "/reports", ""), 401)
	if lines := log.lines(t, "auth.Require without a principal: is Authenticate missing in front?"); len(lines) != 1 {
		t.Fatalf("got %d lines, want the wiring mistake logged once", len(lines))
	}
}

func TestRequireRefusesAnInvalidScope(t *testing.T) {
	for _, scope := range []string{"", "orders read", `orders"write`, `a\b`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Require(%q) did not panic", scope)
				}
			}()
			auth.Require(scope)
		}()
	}
}

func TestWithPrincipal(t *testing.T) {
	if _, ok := auth.FromContext(t.Context()); ok {
		t.Fatal("FromContext on a bare context: ok = true")
	}
	p := auth.Principal{Subject: "lambda-caller", CustomerID: 5, Scopes: []string{auth.ScopeOrdersWrite}}
	got, ok := auth.FromContext(auth.WithPrincipal(t.Context(), p))
	if !ok || got.Subject != p.Subject || got.CustomerID != 5 || got.Operator() || !got.Has(auth.ScopeOrdersWrite) || got.Has(auth.ScopeOrdersRead) {
		t.Fatalf("got %+v, %v", got, ok)
	}
	// A principal put in by another entry point passes Require without a token.
	r := chi.NewRouter()
	r.With(auth.Require(auth.ScopeOrdersWrite)).Post("/x", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	req := httptest.NewRequestWithContext(auth.WithPrincipal(t.Context(), p), http.MethodPost, "/x", nil)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("got %d, want 204", rec.Code)
	}
}
