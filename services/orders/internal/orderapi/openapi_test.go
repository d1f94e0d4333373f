package orderapi_test

import (
	"context"
	"database/sql"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apitest"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/web"
	"github.com/b2b/backoffice/services/orders"
	"github.com/b2b/backoffice/services/orders/internal/orderapi"
	"github.com/b2b/backoffice/services/orders/internal/orderworker"
)

// TestOpenAPIContract sends requests for every documented operation, with successes and errors, and
// checks each real response against openapi.yaml; every operation must be covered.
func TestOpenAPIContract(t *testing.T) {
	e := newEnv(t)
	c := apitest.Load(t, orders.OpenAPI)
	call := func(method, path, body string, want int, headers ...string) []byte {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, path, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if !strings.HasPrefix(path, "/internal/") {
			req.Header.Set("Authorization", authtest.Bearer(e.bearer))
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
			if headers[i+1] == "" {
				req.Header.Del(headers[i])
			}
		}
		status, _, got := c.Do(t, e.h, req)
		if status != want {
			t.Errorf("%s %s: got %d %s, want %d", method, path, status, got, want)
		}
		return got
	}

	call("GET", "/health", "", 200)
	if spec := call("GET", "/openapi.yaml", "", 200); !strings.HasPrefix(string(spec), "openapi: 3.0") {
		t.Errorf("GET /openapi.yaml: got %.40q", spec)
	}
	closed, err := sql.Open("mysql", e.db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	down := orderapi.Routes(logging.New(io.Discard, "orders-api", "error"), e.svc, token, authtest.Verifier(), map[string]web.Check{"db": func(ctx context.Context) error { return closed.PingContext(ctx) }})
	if status, _, body := c.Do(t, down, httptest.NewRequest("GET", "/health", nil)); status != 503 || !strings.Contains(string(body), `"db":"down"`) {
		t.Errorf("health with the database down: got %d %s", status, body)
	}

	call("POST", "/products", `{"sku":"OA-1","name":"Contract product","price_cents":1000,"stock":5}`, 201)
	call("POST", "/products", `{"sku":"OA-2","name":"Scarce product","price_cents":10,"stock":1}`, 201)
	call("POST", "/products", `{"sku":"OA-1","name":"Again","price_cents":1,"stock":1}`, 409)
	call("POST", "/products", `{"sku":"OA-3"}`, 400)
	call("POST", "/products", `sku=1`, 415, "Content-Type", "text/plain")
	call("POST", "/products", `{"sku":"`+strings.Repeat("x", 1<<20+1)+`"}`, 413)
	call("GET", "/products?search=oa&limit=1", "", 200)
	call("GET", "/products?limit=0", "", 400)
	call("GET", "/products/1", "", 200)
	call("GET", "/products/99", "", 404)
	call("GET", "/products/x", "", 400)
	call("PATCH", "/products/1", `{"price_cents":1200}`, 200)
	call("PATCH", "/products/1", `{"stock":-1}`, 400)
	call("PATCH", "/products/99", `{"stock":1}`, 404)
	call("PATCH", "/products/1", `stock`, 415, "Content-Type", "text/plain")
	call("PATCH", "/products/1", `{"stock":`+strings.Repeat("1", 1<<20)+`}`, 413)

	call("POST", "/orders", `{"customer_id":1,"items":[{"product_id":1,"qty":2}]}`, 201, "Idempotency-Key", "oa-create")
	call("POST", "/orders", `{"customer_id":1,"items":[{"product_id":1,"qty":2}]}`, 201, "Idempotency-Key", "oa-create")
	call("POST", "/orders", `{"customer_id":1,"items":[{"product_id":1,"qty":3}]}`, 422, "Idempotency-Key", "oa-create")
	call("POST", "/orders", `{"customer_id":2,"items":[{"product_id":1,"qty":1}]}`, 201)
	call("POST", "/orders", `{"customer_id":1,"items":[]}`, 400)
	call("POST", "/orders", `{"customer_id":99,"items":[{"product_id":1,"qty":1}]}`, 404)
	call("POST", "/orders", `{"customer_id":1,"items":[{"product_id":99,"qty":1}]}`, 404)
	call("POST", "/orders", `{"customer_id":1,"items":[{"product_id":1,"qty":1},{"product_id":2,"qty":5}]}`, 409)
	call("POST", "/orders", `x`, 415, "Content-Type", "text/plain")
	call("POST", "/orders", `{"customer_id":`+strings.Repeat("1", 1<<20)+`}`, 413)
	call("GET", "/orders/1", "", 200)
	call("GET", "/orders/99", "", 404)
	call("GET", "/orders/0", "", 400)
	call("GET", "/orders?status=CREATED&customer_id=1&from=2020-01-01&to="+time.Now().UTC().Format(time.RFC3339)+"&limit=1", "", 200)
	call("GET", "/orders?from=never", "", 400)

	call("POST", "/orders/1/confirm", "", 200, "X-Idempotency-Key", "oa-confirm")
	call("POST", "/orders/1/confirm", "", 200, "X-Idempotency-Key", "oa-confirm")
	call("POST", "/orders/2/confirm", "", 422, "X-Idempotency-Key", "oa-confirm")
	call("POST", "/orders/1/confirm", "", 400)
	call("POST", "/orders/99/confirm", "", 404, "X-Idempotency-Key", "oa-404")
	call("POST", "/orders/1/confirm", strings.Repeat("x", 1<<20+1), 413, "X-Idempotency-Key", "oa-big")
	call("POST", "/orders/2/cancel", "", 200)
	call("POST", "/orders/2/confirm", "", 409, "X-Idempotency-Key", "oa-canceled")
	call("POST", "/orders/x/cancel", "", 400)
	call("POST", "/orders/99/cancel", "", 404)
	if _, err := e.db.Exec(`UPDATE orders SET confirmed_at = confirmed_at - INTERVAL 1 DAY WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	call("POST", "/orders/1/cancel", "", 409)

	auth := []string{"Authorization", "Bearer " + token}
	worker := orderworker.New(e.svc, logging.New(io.Discard, "orders-worker", "error"))
	for _, cmd := range []events.PlaceOrder{
		{IdempotencyKey: "oa-req-ok", CustomerID: 1, Items: []events.LineItem{{ProductID: 1, Qty: 1}}},
		{IdempotencyKey: "oa-req-short", CustomerID: 1, Items: []events.LineItem{{ProductID: 2, Qty: 9}}},
	} {
		if _, err := worker.PlaceOrder(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	if body := call("GET", "/internal/order-requests/oa-req-ok", "", 200, auth...); !strings.Contains(string(body), `"status":"CONFIRMED"`) {
		t.Errorf("order request: got %s", body)
	}
	if body := call("GET", "/internal/order-requests/oa-req-short", "", 200, auth...); !strings.Contains(string(body), `"code":"INSUFFICIENT_STOCK"`) {
		t.Errorf("rejected order request: got %s", body)
	}
	call("GET", "/internal/order-requests/unknown", "", 404, auth...)
	call("GET", "/internal/order-requests/unknown?wait_ms=50", "", 404, auth...)
	call("GET", "/internal/order-requests/oa-req-ok?wait_ms=1000", "", 200, auth...)
	call("GET", "/internal/order-requests/oa-req-ok?wait_ms=20001", "", 400, auth...)
	call("GET", "/internal/order-requests/oa-req-ok?wait_ms=soon", "", 400, auth...)
	call("GET", "/internal/order-requests/oa-req-ok", "", 401)
	call("GET", "/internal/order-requests/oa-req-ok", "", 401, "Authorization", "Bearer wrong")

	if u := c.Uncovered(); len(u) > 0 {
		t.Errorf("operations never exercised: %v", u)
	}
}
