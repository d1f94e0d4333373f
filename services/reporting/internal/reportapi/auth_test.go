package reportapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/services/reporting"
)

// reportPaths are a valid request of every operation that needs an access token.
var reportPaths = map[string]string{
	"GET /reports/daily-sales":     "/reports/daily-sales?from=2026-03-01&to=2026-03-31",
	"GET /reports/daily-sales.csv": "/reports/daily-sales.csv?from=2026-03-01&to=2026-03-31",
	"GET /reports/top-products":    "/reports/top-products?from=2026-03-01&to=2026-03-31",
	"GET /reports/customers/{id}":  "/reports/customers/5",
}

// TestReportAccessTokens: every report refuses a request without a valid access token (401) or without
// the scope openapi.yaml names (403), and the scope alone is enough. The operations come from the
// contract, so a report added without a scope, or without a sample here, fails. A token bound to a
// customer reads its own customer report only: another customer is 404, and the reports across every
// customer are 403.
func TestReportAccessTokens(t *testing.T) {
	c := apitest.Load(t, reporting.OpenAPI)
	a := newAPI(t, c)
	a.seed()
	ops := c.ScopedOperations(t)
	if len(ops) == 0 {
		t.Fatal("no operation with a scope in openapi.yaml")
	}
	for _, op := range ops {
		path, ok := reportPaths[op.Method+" "+op.Path]
		if !ok {
			t.Errorf("%s %s: no sample request in the scope test", op.Method, op.Path)
			continue
		}
		for _, h := range authtest.RefusedHeaders(t) {
			if r := a.getWith(h.Header, path); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != auth.ChallengeInvalidToken {
				t.Errorf("%s with %s: got %d %q %s, want 401", path, h.Name, r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
		}
		r := a.getWith(authtest.Bearer(authtest.Without(t, op.Scope)), path)
		if want := fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, op.Scope); r.status != http.StatusForbidden || r.header.Get("WWW-Authenticate") != want {
			t.Errorf("%s without %s: got %d %q %s, want 403 with %s", path, op.Scope, r.status, r.header.Get("WWW-Authenticate"), r.body, want)
		}
		tok := authtest.Token(t, auth.Principal{Subject: "ops-one-scope", Scopes: []string{op.Scope}})
		if r := a.getWith(authtest.Bearer(tok), path); r.status != http.StatusOK {
			t.Errorf("%s with %s alone: got %d %s, want 200", path, op.Scope, r.status, r.body)
		}
	}

	bound := authtest.Bearer(authtest.Customer(t, "customer-5-integration", 5))
	for path, want := range map[string]int{
		"/reports/customers/5":                                   http.StatusOK,
		"/reports/customers/6":                                   http.StatusNotFound,
		"/reports/customers/7":                                   http.StatusNotFound,
		"/reports/daily-sales?from=2026-03-01&to=2026-03-31":     http.StatusForbidden,
		"/reports/daily-sales.csv?from=2026-03-01&to=2026-03-31": http.StatusForbidden,
		"/reports/top-products?from=2026-03-01&to=2026-03-31":    http.StatusForbidden,
	} {
		r := a.getWith(bound, path)
		if r.status != want {
			t.Errorf("customer-bound %s: got %d %s, want %d", path, r.status, r.body, want)
		}
		if want == http.StatusForbidden && (r.header.Get("WWW-Authenticate") != "" || !strings.Contains(string(r.body), `"code":"FORBIDDEN"`)) {
			t.Errorf("customer-bound %s: got %q %s, want FORBIDDEN without a challenge", path, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
}
