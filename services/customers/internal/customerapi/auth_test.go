package customerapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/proctest"
	"github.com/b2b/backoffice/services/customers/customerstest"
)

// sample is a valid request of one operation: what the scope test sends.
type sample struct{ path, body string }

// samples are a valid request for every operation that needs an access token, for a customer id.
func samples(id int64) map[string]sample {
	path := fmt.Sprintf("/customers/%d", id)
	return map[string]sample{
		"POST /customers":        {"/customers", `{"name":"Scoped","email":"scoped@x.example"}`},
		"GET /customers":         {"/customers", ""},
		"GET /customers/{id}":    {path, ""},
		"PUT /customers/{id}":    {path, `{"name":"Renamed"}`},
		"DELETE /customers/{id}": {path, ""},
	}
}

// state is every row the API can change, to tell that a refused request changed nothing.
func (a *api) state() string {
	a.t.Helper()
	var b strings.Builder
	for _, q := range []string{"SELECT * FROM customers ORDER BY id", "SELECT * FROM audit_log ORDER BY id"} {
		rows, err := a.db.Query(q)
		if err != nil {
			a.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(any)
			}
			if err := rows.Scan(vals...); err != nil {
				a.t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%v|", *v.(*any))
			}
			b.WriteString("\n")
		}
		rows.Close()
	}
	return b.String()
}

// testAuthentication: every public operation refuses a request without a valid access token with 401
// UNAUTHENTICATED and the RFC 6750 challenge, and learns nothing from it: not even whether the id exists.
func testAuthentication(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	id := a.create("ACME Corp", "ops@acme.com").ID
	before := a.state()
	ops := c.ScopedOperations(t)
	for _, op := range ops {
		s := samples(id)[op.Method+" "+op.Path]
		for _, h := range authtest.RefusedHeaders(t) {
			r := a.do(op.Method, s.path, s.body, "Authorization", h.Header)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != auth.ChallengeInvalidToken {
				t.Errorf("%s %s with %s: got %d %q %s, want 401 with %s", op.Method, op.Path, h.Name, r.status, r.header.Get("WWW-Authenticate"), r.body, auth.ChallengeInvalidToken)
				continue
			}
			r.want(t, http.StatusUnauthorized, auth.CodeUnauthenticated)
		}
	}
	if after := a.state(); after != before {
		t.Errorf("refused requests changed the database:\nbefore %s\nafter  %s", before, after)
	}
	// The scheme is case-insensitive (RFC 9110), on public routes as on internal ones.
	a.do(http.MethodGet, fmt.Sprintf("/customers/%d", id), "", "Authorization", "bearer "+a.bearer).want(t, http.StatusOK, "")
	a.do(http.MethodGet, fmt.Sprintf("/internal/customers/%d", id), "", "Authorization", "BEARER "+token).want(t, http.StatusOK, "")
	// The open routes need nothing.
	a.do(http.MethodGet, "/health", "", "Authorization", "").want(t, http.StatusOK, "")
	a.do(http.MethodGet, "/openapi.yaml", "", "Authorization", "").want(t, http.StatusOK, "")
}

// testScopes: for every operation openapi.yaml documents with an x-required-scope, a token with every
// scope but that one is 403 FORBIDDEN naming it and changes nothing, and a token with that scope alone
// is enough. The operations come from the contract, so an operation added without a scope, or without
// a sample here, fails.
func testScopes(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	id := a.create("ACME Corp", "ops@acme.com").ID
	ops := c.ScopedOperations(t)
	if len(ops) == 0 {
		t.Fatal("no operation with a scope in openapi.yaml")
	}
	before := a.state()
	for _, op := range ops {
		s, ok := samples(id)[op.Method+" "+op.Path]
		if !ok {
			t.Errorf("%s %s: no sample request in the scope test", op.Method, op.Path)
			continue
		}
		r := a.do(op.Method, s.path, s.body, "Authorization", authtest.Bearer(authtest.Without(t, op.Scope)))
		r.want(t, http.StatusForbidden, auth.CodeForbidden)
		if got, want := r.header.Get("WWW-Authenticate"), fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, op.Scope); got != want {
			t.Errorf("%s %s: WWW-Authenticate %q, want %q", op.Method, op.Path, got, want)
		}
	}
	if after := a.state(); after != before {
		t.Errorf("requests without their scope changed the database:\nbefore %s\nafter  %s", before, after)
	}
	// The documented scope is all an operation needs (deletes last: they take the customer away).
	slices.SortStableFunc(ops, func(x, y apitest.Operation) int {
		return boolInt(x.Method == http.MethodDelete) - boolInt(y.Method == http.MethodDelete)
	})
	for _, op := range ops {
		s := samples(id)[op.Method+" "+op.Path]
		tok := authtest.Token(t, auth.Principal{Subject: "ops-one-scope", Scopes: []string{op.Scope}})
		if r := a.do(op.Method, s.path, s.body, "Authorization", authtest.Bearer(tok)); r.status >= 300 {
			t.Errorf("%s %s with scope %s alone: got %d %s, want a success", op.Method, op.Path, op.Scope, r.status, r.body)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// testCustomerBound: a token bound to a customer (its own integration) reads that customer alone and
// changes no customer, whatever its scopes; another customer is 404, as an unknown one.
func testCustomerBound(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	own := a.create("ACME Corp", "ops@acme.com").ID
	other := a.create("Globex", "buyer@globex.example").ID
	bound := []string{"Authorization", authtest.Bearer(authtest.Customer(t, "acme-integration", own))}

	if got := decode[wireCustomer](t, a.do(http.MethodGet, fmt.Sprintf("/customers/%d", own), "", bound...)); got.ID != own {
		t.Errorf("own customer: got %+v", got)
	}
	a.do(http.MethodGet, fmt.Sprintf("/customers/%d", other), "", bound...).want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	a.do(http.MethodGet, "/customers/999999", "", bound...).want(t, http.StatusNotFound, "CUSTOMER_NOT_FOUND")
	for q, want := range map[string][]int64{"": {own}, "?limit=1": {own}, "?search=acme": {own}, "?search=globex": nil} {
		list := decode[wireList](t, a.do(http.MethodGet, "/customers"+q, "", bound...))
		if got := ids(list.Data); !slices.Equal(got, want) {
			t.Errorf("list%s: got %v, want %v", q, got, want)
		}
	}

	before := a.state()
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/customers", `{"name":"Mine","email":"mine@x.example"}`},
		{http.MethodPut, fmt.Sprintf("/customers/%d", own), `{"name":"Renamed"}`},
		{http.MethodPut, fmt.Sprintf("/customers/%d", other), `{"name":"Renamed"}`},
		{http.MethodDelete, fmt.Sprintf("/customers/%d", own), ""},
		{http.MethodDelete, fmt.Sprintf("/customers/%d", other), ""},
	} {
		got := a.do(r.method, r.path, r.body, bound...)
		got.want(t, http.StatusForbidden, "FORBIDDEN")
		if h := got.header.Get("WWW-Authenticate"); h != "" {
			t.Errorf("%s %s: WWW-Authenticate %q, want none (the token is fine, the caller may not)", r.method, r.path, h)
		}
	}
	if after := a.state(); after != before {
		t.Errorf("a customer-bound token changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

// testAudit: every change records its actor (the token's sub) and correlation id in the audit log, and
// every request line carries sub.
func testAudit(t *testing.T, c *apitest.Contract) {
	a := newAPI(t, c)
	logs := &proctest.Buffer{}
	a.h = routes(a.db.DB, logs)
	alice := []string{"Authorization", authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "ops-alice", Scopes: auth.AllScopes()})), "X-Correlation-Id", "audit-1"}
	bob := []string{"Authorization", authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "ops-bob", Scopes: auth.AllScopes()})), "X-Correlation-Id", "audit-2"}
	cu := decode[wireCustomer](t, a.do(http.MethodPost, "/customers", `{"name":"ACME Corp","email":"ops@acme.com"}`, alice...))
	path := fmt.Sprintf("/customers/%d", cu.ID)
	a.do(http.MethodPut, path, `{"phone":"+1 555 0100"}`, bob...).want(t, http.StatusOK, "")
	a.do(http.MethodPut, path, `{"email":"bad"}`, bob...).wantFields(t, "email")
	a.do(http.MethodGet, path, "", bob...).want(t, http.StatusOK, "")
	a.do(http.MethodDelete, path, "", alice...).want(t, http.StatusNoContent, "")

	got := customerstest.AuditLog(t, a.db.DB)
	want := []string{
		fmt.Sprintf("customer.created by ops-alice/0 of customer %d (audit-1)", cu.ID),
		fmt.Sprintf("customer.updated by ops-bob/0 of customer %d (audit-2)", cu.ID),
		fmt.Sprintf("customer.deleted by ops-alice/0 of customer %d (audit-1)", cu.ID),
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\ngot  %q\nwant %q", got, want)
	}

	a.do(http.MethodGet, "/customers", "", "Authorization", authtest.Bearer(authtest.Customer(t, "acme-integration", cu.ID)), "X-Correlation-Id", "audit-3")
	subs := map[string]string{}
	bound := map[string]any{}
	for _, l := range logs.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			if m["sub"] == nil {
				t.Errorf("request line without sub: %s", l)
			}
			subs[fmt.Sprint(m["correlation_id"])] = fmt.Sprint(m["sub"])
			bound[fmt.Sprint(m["correlation_id"])] = m["customer_id"]
		}
	}
	if subs["audit-1"] != "ops-alice" || subs["audit-2"] != "ops-bob" || subs["audit-3"] != "acme-integration" {
		t.Errorf("sub on the request lines by correlation id: got %v", subs)
	}
	if bound["audit-3"] != float64(cu.ID) || bound["audit-1"] != nil {
		t.Errorf("customer_id on the request lines: got %v, want it on the customer-bound request only", bound)
	}
}
