package orderapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/services/orders"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
	"github.com/b2b/backoffice/services/orders/internal/orderstest"
)

// call sends one request to the env's routes in-process, with the Authorization header authz ("" for
// none), and checks the exchange against openapi.yaml. headers come in name, value pairs.
func (e *env) call(c *apitest.Contract, authz, method, path, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	status, h, b := c.Do(e.t, e.handler(), req)
	return response{status: status, header: h, body: b}
}

// state is every row orders-api can change, to tell that a refused request changed nothing.
func (e *env) state() string {
	e.t.Helper()
	var b strings.Builder
	for _, table := range []string{"products", "orders", "order_items", "idempotency_keys", "order_requests", "outbox", "audit_log"} {
		rows, err := e.db.Query("SELECT * FROM " + table)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(any)
			}
			if err := rows.Scan(vals...); err != nil {
				e.t.Fatal(err)
			}
			var l strings.Builder
			for _, v := range vals {
				fmt.Fprintf(&l, "%s|", *v.(*any))
			}
			lines = append(lines, l.String())
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "%s:\n%s\n", table, strings.Join(lines, "\n"))
	}
	return b.String()
}

// sample is a valid request of one operation.
type sample struct {
	path, body string
	headers    []string
}

// samples are a valid request for every operation that needs an access token, on product p and order o.
func samples(p, o int64, key string) map[string]sample {
	return map[string]sample{
		"POST /products":            {"/products", `{"sku":"SC-NEW-` + key + `","name":"Scoped","price_cents":10,"stock":10}`, nil},
		"GET /products":             {"/products", "", nil},
		"GET /products/{id}":        {"/products/" + id(p), "", nil},
		"PATCH /products/{id}":      {"/products/" + id(p), `{"price_cents":100}`, nil},
		"POST /orders":              {"/orders", fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":1}]}`, p), nil},
		"GET /orders":               {"/orders", "", nil},
		"GET /orders/{id}":          {"/orders/" + id(o), "", nil},
		"POST /orders/{id}/confirm": {"/orders/" + id(o) + "/confirm", "", []string{"X-Idempotency-Key", "sc-" + key}},
		"POST /orders/{id}/cancel":  {"/orders/" + id(o) + "/cancel", "", nil},
	}
}

// TestAccessTokens: every public operation refuses a request without a valid access token (401) or
// without the scope openapi.yaml names for it (403), changing nothing; the scope alone is enough. The
// operations come from the contract, so one added without a scope, or without a sample here, fails.
func TestAccessTokens(t *testing.T) {
	e := newEnv(t)
	c := apitest.Load(t, orders.OpenAPI)
	p := e.product("SC-1", 100, 100)
	o := e.createOrder(1, [2]int64{p, 1})
	ops := c.ScopedOperations(t)
	if len(ops) == 0 {
		t.Fatal("no operation with a scope in openapi.yaml")
	}

	t.Run("401 without a valid token", func(t *testing.T) {
		before := e.state()
		for _, op := range ops {
			s := samples(p, o.ID, "401")[op.Method+" "+op.Path]
			for _, h := range authtest.RefusedHeaders(t) {
				r := e.call(c, h.Header, op.Method, s.path, s.body, s.headers...)
				if r.status != http.StatusUnauthorized || r.code() != auth.CodeUnauthenticated || r.header.Get("WWW-Authenticate") != auth.ChallengeInvalidToken {
					t.Errorf("%s %s with %s: got %d %q %s, want 401 UNAUTHENTICATED", op.Method, op.Path, h.Name, r.status, r.header.Get("WWW-Authenticate"), r.body)
				}
			}
		}
		if after := e.state(); after != before {
			t.Errorf("refused requests changed the database:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("403 without the scope", func(t *testing.T) {
		before := e.state()
		for _, op := range ops {
			s, ok := samples(p, o.ID, "403")[op.Method+" "+op.Path]
			if !ok {
				t.Errorf("%s %s: no sample request in the scope test", op.Method, op.Path)
				continue
			}
			r := e.call(c, authtest.Bearer(authtest.Without(t, op.Scope)), op.Method, s.path, s.body, s.headers...)
			want := fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, op.Scope)
			if r.status != http.StatusForbidden || r.code() != auth.CodeForbidden || r.header.Get("WWW-Authenticate") != want {
				t.Errorf("%s %s without %s: got %d %q %s, want 403 FORBIDDEN with %s", op.Method, op.Path, op.Scope, r.status, r.header.Get("WWW-Authenticate"), r.body, want)
			}
		}
		if after := e.state(); after != before {
			t.Errorf("requests without their scope changed the database:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("the scope alone is enough", func(t *testing.T) {
		// Cancel last: a canceled order can not be confirmed.
		slices.SortStableFunc(ops, func(x, y apitest.Operation) int {
			return strings.Compare(fmt.Sprint(strings.HasSuffix(x.Path, "/cancel")), fmt.Sprint(strings.HasSuffix(y.Path, "/cancel")))
		})
		for _, op := range ops {
			s := samples(p, o.ID, "one")[op.Method+" "+op.Path]
			tok := authtest.Token(t, auth.Principal{Subject: "ops-one-scope", Scopes: []string{op.Scope}})
			if r := e.call(c, authtest.Bearer(tok), op.Method, s.path, s.body, s.headers...); r.status >= 300 {
				t.Errorf("%s %s with %s alone: got %d %s, want a success", op.Method, op.Path, op.Scope, r.status, r.body)
			}
		}
	})

	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
			if r := e.call(c, scheme+" "+e.bearer, "GET", "/orders/"+id(o.ID), ""); r.status != http.StatusOK {
				t.Errorf("%s: got %d %s", scheme, r.status, r.body)
			}
			if r := e.call(c, scheme+" "+token, "GET", "/internal/order-requests/none", ""); r.status != http.StatusNotFound {
				t.Errorf("internal route with %s: got %d %s, want 404", scheme, r.status, r.body)
			}
		}
	})
}

// TestCustomerBoundToken: a token bound to customer 1 (its own integration) sees and changes only
// customer 1's orders. Customer 2's orders are 404 as if they did not exist, to read, confirm (replays
// included) and cancel; its lists hold customer 1's orders only; it can not order for customer 2, nor
// change products, whatever its scopes; and none of the refused requests changes anything.
func TestCustomerBoundToken(t *testing.T) {
	e := newEnv(t)
	c := apitest.Load(t, orders.OpenAPI)
	p := e.product("TB-1", 100, 100)
	own := e.createOrder(1, [2]int64{p, 1})
	other := e.createOrder(2, [2]int64{p, 2})
	// An operator confirmed customer 2's order under a key that customer 1 now tries to replay.
	if r := e.do("POST", "/orders/"+id(other.ID)+"/confirm", nil, "X-Idempotency-Key", "tb-ops-key"); r.status != 200 {
		t.Fatalf("operator confirm: got %d %s", r.status, r.body)
	}
	bound := authtest.Bearer(authtest.Customer(t, "acme-integration", 1))

	before := e.state()
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"read another customer's order", "GET", "/orders/" + id(other.ID), "", nil, 404, "ORDER_NOT_FOUND"},
		{"read an order that does not exist", "GET", "/orders/999999", "", nil, 404, "ORDER_NOT_FOUND"},
		{"confirm another customer's order", "POST", "/orders/" + id(other.ID) + "/confirm", "", []string{"X-Idempotency-Key", "tb-1"}, 404, "ORDER_NOT_FOUND"},
		{"replay the operator's confirmation", "POST", "/orders/" + id(other.ID) + "/confirm", "", []string{"X-Idempotency-Key", "tb-ops-key"}, 404, "ORDER_NOT_FOUND"},
		{"cancel another customer's order", "POST", "/orders/" + id(other.ID) + "/cancel", "", nil, 404, "ORDER_NOT_FOUND"},
		{"order for another customer", "POST", "/orders", fmt.Sprintf(`{"customer_id":2,"items":[{"product_id":%d,"qty":1}]}`, p), nil, 403, "FORBIDDEN"},
		{"order for an unknown customer", "POST", "/orders", fmt.Sprintf(`{"customer_id":424242,"items":[{"product_id":%d,"qty":1}]}`, p), []string{"Idempotency-Key", "tb-2"}, 403, "FORBIDDEN"},
		{"create a product", "POST", "/products", `{"sku":"TB-MINE","name":"Mine","price_cents":1,"stock":1}`, nil, 403, "FORBIDDEN"},
		{"change a price", "PATCH", "/products/" + id(p), `{"price_cents":1}`, nil, 403, "FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(c, bound, tc.method, tc.path, tc.body, tc.headers...)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if h := r.header.Get("WWW-Authenticate"); h != "" {
				t.Errorf("WWW-Authenticate %q, want none: the token is valid and has the scope", h)
			}
		})
	}
	if after := e.state(); after != before {
		t.Errorf("refused requests of a customer-bound token changed the database:\nbefore %s\nafter  %s", before, after)
	}

	t.Run("lists are filtered", func(t *testing.T) {
		for query, want := range map[string][]int64{
			"":                                {own.ID},
			"?customer_id=1":                  {own.ID},
			"?customer_id=2":                  nil,
			"?status=CONFIRMED":               nil,
			"?status=CREATED&customer_id=1":   {own.ID},
			"?limit=1":                        {own.ID},
			"?status=CONFIRMED&customer_id=2": nil,
		} {
			r := e.call(c, bound, "GET", "/orders"+query, "")
			var page struct{ Data []orderapi.Order }
			r.json(t, &page)
			var got []int64
			for _, o := range page.Data {
				got = append(got, o.ID)
			}
			if r.status != 200 || !slices.Equal(got, want) {
				t.Errorf("GET /orders%s: got %d %v, want %v", query, r.status, got, want)
			}
		}
	})

	t.Run("its own orders and the products", func(t *testing.T) {
		if r := e.call(c, bound, "GET", "/products/"+id(p), ""); r.status != 200 {
			t.Errorf("read a product: got %d %s", r.status, r.body)
		}
		if r := e.call(c, bound, "GET", "/products", ""); r.status != 200 {
			t.Errorf("list products: got %d %s", r.status, r.body)
		}
		if r := e.call(c, bound, "GET", "/orders/"+id(own.ID), ""); r.status != 200 {
			t.Errorf("read its order: got %d %s", r.status, r.body)
		}
		if r := e.call(c, bound, "POST", "/orders/"+id(own.ID)+"/confirm", "", "X-Idempotency-Key", "tb-own"); r.status != 200 {
			t.Errorf("confirm its order: got %d %s", r.status, r.body)
		}
		if r := e.call(c, bound, "POST", "/orders/"+id(own.ID)+"/cancel", ""); r.status != 200 {
			t.Errorf("cancel its order: got %d %s", r.status, r.body)
		}
		r := e.call(c, bound, "POST", "/orders", fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":1}]}`, p), "Idempotency-Key", "tb-own-create")
		if r.status != 201 {
			t.Fatalf("order for itself: got %d %s", r.status, r.body)
		}
		// Its replay of its own create is its own order.
		if r := e.call(c, bound, "POST", "/orders", fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":1}]}`, p), "Idempotency-Key", "tb-own-create"); r.status != 201 || r.header.Get(orderapi.HeaderReplayed) != "true" {
			t.Errorf("replay of its create: got %d %s", r.status, r.body)
		}
	})
}

// TestAudit: every change of a product or an order records who made it (the token's sub, and the
// customer a customer-bound token is bound to) with the request's correlation id, in the change's
// transaction; the order's events carry the same actor; a request that changes nothing (a replay, a
// refused or invalid request) records nothing; and every request line carries sub.
func TestAudit(t *testing.T) {
	e := newEnv(t)
	alice := authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "ops-alice", Scopes: auth.AllScopes()}))
	bob := authtest.Bearer(authtest.Token(t, auth.Principal{Subject: "ops-bob", Scopes: auth.AllScopes()}))
	acme := authtest.Bearer(authtest.Customer(t, "acme-integration", 1))
	as := func(authz, corr string, extra ...string) []string {
		return append([]string{"Authorization", authz, "X-Correlation-Id", corr}, extra...)
	}

	r := e.do("POST", "/products", `{"sku":"AU-1","name":"Audited","price_cents":100,"stock":50}`, as(alice, "au-1")...)
	var p orderapi.Product
	r.json(t, &p)
	e.do("PATCH", "/products/"+id(p.ID), `{"stock":40}`, as(bob, "au-2")...)
	e.do("PATCH", "/products/"+id(p.ID), `{"stock":-1}`, as(bob, "au-bad")...)
	if got, want := orderstest.Audit(t, e.db.DB, "product", p.ID), []string{"product.created by ops-alice/0 (au-1)", "product.updated by ops-bob/0 (au-2)"}; !slices.Equal(got, want) {
		t.Errorf("product audit:\ngot  %q\nwant %q", got, want)
	}

	var o orderapi.Order
	e.do("POST", "/orders", fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":2}]}`, p.ID), as(acme, "au-3", "Idempotency-Key", "au-create")...).json(t, &o)
	e.do("POST", "/orders", fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":2}]}`, p.ID), as(acme, "au-3b", "Idempotency-Key", "au-create")...)
	e.do("POST", "/orders/"+id(o.ID)+"/confirm", nil, as(alice, "au-4", "X-Idempotency-Key", "au-confirm")...)
	e.do("POST", "/orders/"+id(o.ID)+"/confirm", nil, as(bob, "au-4b", "X-Idempotency-Key", "au-confirm-again")...)
	e.do("POST", "/orders/"+id(o.ID)+"/cancel", nil, as(bob, "au-5")...)
	e.do("POST", "/orders/"+id(o.ID)+"/cancel", nil, as(alice, "au-5b")...)
	if got, want := orderstest.Audit(t, e.db.DB, "order", o.ID), []string{
		"order.created by acme-integration/1 (au-3)",
		"order.confirmed by ops-alice/0 (au-4)",
		"order.canceled by ops-bob/0 (au-5)",
	}; !slices.Equal(got, want) {
		t.Errorf("order audit:\ngot  %q\nwant %q", got, want)
	}
	if got, want := orderstest.Actors(t, e.db.DB, id(o.ID)), []string{"order.created by acme-integration", "order.confirmed by ops-alice", "order.canceled by ops-bob"}; !slices.Equal(got, want) {
		t.Errorf("events:\ngot  %q\nwant %q", got, want)
	}

	subs := map[string]any{}
	for _, l := range e.logs.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && strings.HasPrefix(fmt.Sprint(m["correlation_id"]), "au-") {
			subs[fmt.Sprint(m["correlation_id"])] = m["sub"]
		}
	}
	for corr, want := range map[string]string{"au-1": "ops-alice", "au-2": "ops-bob", "au-bad": "ops-bob", "au-3": "acme-integration", "au-3b": "acme-integration", "au-4": "ops-alice", "au-5b": "ops-alice"} {
		if subs[corr] != want {
			t.Errorf("request line %s: sub %v, want %s", corr, subs[corr], want)
		}
	}
}
