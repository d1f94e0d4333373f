package orchestrator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// call sends body to the handler and decodes the answer.
func call(t *testing.T, h http.Handler, path, body string, header map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	return resp, out
}

func newHandler(t *testing.T, customers, orders string, logs io.Writer) http.Handler {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	cfg := orchestrator.Config{
		CustomersBase: customers, OrdersBase: orders, ServiceToken: "tok",
		WaitTimeout: 2 * time.Second, UpstreamTimeout: time.Second,
	}
	// No publisher: every case here ends before a command would be sent.
	return orchestrator.Routes(newOrchestrator(t, cfg, nil), slog.New(slog.NewJSONHandler(logs, nil)))
}

// newOrchestrator is orchestrator.New for a configuration that must be valid.
func newOrchestrator(t *testing.T, cfg orchestrator.Config, pub message.Publisher) *orchestrator.Handler {
	t.Helper()
	h, err := orchestrator.New(cfg, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestValidation(t *testing.T) {
	h := newHandler(t, "http://127.0.0.1:1", "http://127.0.0.1:1", nil)
	long := strings.Repeat("k", 256)
	tooMany := `[` + strings.TrimSuffix(strings.Repeat(`{"product_id":1,"qty":1},`, 101), ",") + `]`
	cases := []struct {
		name, body string
		status     int
		code       string
		fields     []string
	}{
		{"empty object", `{}`, 400, "VALIDATION_FAILED", []string{"customer_id", "items", "idempotency_key"}},
		{"bad qty and product", `{"customer_id":1,"items":[{"product_id":0,"qty":0},{"product_id":2,"qty":10001}],"idempotency_key":"k"}`, 400, "VALIDATION_FAILED", []string{"items[0].product_id", "items[0].qty", "items[1].qty"}},
		{"too many items", `{"customer_id":1,"items":` + tooMany + `,"idempotency_key":"k"}`, 400, "VALIDATION_FAILED", []string{"items"}},
		{"key too long", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"` + long + `"}`, 400, "VALIDATION_FAILED", []string{"idempotency_key"}},
		{"key with a space", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"a b"}`, 400, "VALIDATION_FAILED", []string{"idempotency_key"}},
		{"key is a dot segment", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"."}`, 400, "VALIDATION_FAILED", []string{"idempotency_key"}},
		{"key is a double dot segment", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":".."}`, 400, "VALIDATION_FAILED", []string{"idempotency_key"}},
		{"merged qty over the limit", `{"customer_id":1,"items":[{"product_id":1,"qty":6000},{"product_id":1,"qty":6000}],"idempotency_key":"k"}`, 400, "VALIDATION_FAILED", []string{"items"}},
		{"key not ASCII", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"clé"}`, 400, "VALIDATION_FAILED", []string{"idempotency_key"}},
		{"bad correlation id", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"k","correlation_id":""}`, 400, "VALIDATION_FAILED", []string{"correlation_id"}},
		{"unknown field", `{"customer_id":1,"items":[{"product_id":1,"qty":1}],"idempotency_key":"k","extra":1}`, 400, "VALIDATION_FAILED", []string{"extra"}},
		{"wrong type", `{"customer_id":"1","items":[{"product_id":1,"qty":1}],"idempotency_key":"k"}`, 400, "VALIDATION_FAILED", []string{"customer_id"}},
		{"malformed", `{"customer_id":1,`, 400, "INVALID_JSON", nil},
		{"trailing data", `{"customer_id":1} {}`, 400, "INVALID_JSON", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := call(t, h, orchestrator.StagePath, tc.body, map[string]string{"X-Correlation-Id": "corr-validation"})
			if resp.StatusCode != tc.status {
				t.Fatalf("status: got %d, want %d (%v)", resp.StatusCode, tc.status, out)
			}
			if out["success"] != false || out["correlationId"] != "corr-validation" {
				t.Errorf("envelope: got success=%v correlationId=%v, want false corr-validation", out["success"], out["correlationId"])
			}
			e, _ := out["error"].(map[string]any)
			if e["code"] != tc.code {
				t.Errorf("code: got %v, want %s", e["code"], tc.code)
			}
			var fields []string
			for _, d := range asSlice(e["details"]) {
				fields = append(fields, d.(map[string]any)["field"].(string))
			}
			if !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("fields: got %q, want %q", fields, tc.fields)
			}
		})
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func TestContentTypeAndRoutes(t *testing.T) {
	h := newHandler(t, "http://127.0.0.1:1", "http://127.0.0.1:1", nil)
	req := httptest.NewRequest(http.MethodPost, orchestrator.Path, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), `"UNSUPPORTED_MEDIA_TYPE"`) {
		t.Errorf("text/plain: got %d %s, want 415 UNSUPPORTED_MEDIA_TYPE", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, orchestrator.StagePath, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: got %d Allow=%q, want 405 Allow=POST", rec.Code, rec.Header().Get("Allow"))
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if want := `{"checks":{},"service":"orchestrator","status":"ok"}`; rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("health: got %d %s, want 200 %s", rec.Code, rec.Body, want)
	}
}

// recording is a stand-in upstream that records request paths and headers and answers with a fixed reply.
type recording struct {
	mu      sync.Mutex
	paths   []string
	headers []http.Header
	status  int
	body    string
}

func (r *recording) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.EscapedPath())
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	_, _ = io.WriteString(w, r.body)
}

// TestBaseURLs is the regression test for the path-doubling bug (".../dev/orders/orders"): bases with and
// without a trailing slash and with a stage prefix all reach exactly the internal route.
func TestBaseURLs(t *testing.T) {
	for _, suffix := range []string{"", "/", "/dev", "/dev/"} {
		t.Run("base"+suffix, func(t *testing.T) {
			cust := &recording{status: 200, body: `{"id":7,"name":"ACME","email":"a@acme.test","phone":null,"created_at":"2026-01-01T00:00:00Z"}`}
			ord := &recording{status: 200, body: `{"idempotency_key":"k/1 ?%","request_hash":"` + hash7 + `","status":"REJECTED","error":{"code":"INSUFFICIENT_STOCK","kind":"conflict","message":"not enough stock","details":[{"product_id":1,"requested":3,"available":2}]}}`}
			srvC, srvO := httptest.NewServer(cust), httptest.NewServer(ord)
			defer srvC.Close()
			defer srvO.Close()
			var logs bytes.Buffer
			h := newHandler(t, srvC.URL+suffix, srvO.URL+suffix, &logs)

			resp, out := call(t, h, orchestrator.Path, `{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k/1?%","correlation_id":"corr-base"}`, nil)
			if resp.StatusCode != http.StatusConflict {
				t.Fatalf("status: got %d, want 409 (%v)", resp.StatusCode, out)
			}
			want := map[string]any{"success": false, "correlationId": "corr-base", "error": map[string]any{
				"code": "INSUFFICIENT_STOCK", "message": "not enough stock",
				"details": []any{map[string]any{"product_id": 1.0, "requested": 3.0, "available": 2.0}},
			}}
			if !reflect.DeepEqual(out, want) {
				t.Errorf("body:\ngot  %v\nwant %v", out, want)
			}
			prefix := strings.TrimSuffix(suffix, "/")
			if got := cust.paths; !reflect.DeepEqual(got, []string{prefix + "/internal/customers/7"}) {
				t.Errorf("customers-api paths: got %q, want [%s/internal/customers/7]", got, prefix)
			}
			if got := ord.paths; !reflect.DeepEqual(got, []string{prefix + "/internal/order-requests/k%2F1%3F%25"}) {
				t.Errorf("orders-api paths: got %q, want [%s/internal/order-requests/k%%2F1%%3F%%25]", got, prefix)
			}
			for _, hd := range append(cust.headers, ord.headers...) {
				if hd.Get("Authorization") != "Bearer tok" || hd.Get("X-Correlation-Id") != "corr-base" {
					t.Errorf("upstream headers: Authorization=%q X-Correlation-Id=%q, want Bearer tok and corr-base", hd.Get("Authorization"), hd.Get("X-Correlation-Id"))
				}
			}
			if resp.Header.Get("X-Correlation-Id") != "corr-base" {
				t.Errorf("X-Correlation-Id: got %q, want corr-base", resp.Header.Get("X-Correlation-Id"))
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], `"correlation_id":"corr-base"`) || !strings.Contains(lines[0], `"status":409`) {
				t.Errorf("log: got %q, want one request line with correlation_id corr-base and status 409", lines)
			}
		})
	}
}

var hash7 = events.RequestHash(7, []events.LineItem{{ProductID: 1, Qty: 3}})

func TestUpstreamAnswers(t *testing.T) {
	customer := `{"id":7,"name":"ACME","email":"a@acme.test","phone":"+1-555","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
	confirmed := `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"CONFIRMED","order":{"id":42,"customer_id":7,"status":"CONFIRMED","total_cents":300,"items":[{"product_id":1,"qty":3,"unit_price_cents":100,"subtotal_cents":300}],"created_at":"2026-11-30T10:00:00.5Z","confirmed_at":"2026-11-30T10:00:01Z","canceled_at":null}}`
	cases := []struct {
		name       string
		custStatus int
		custBody   string
		ordStatus  int
		ordBody    string
		status     int
		want       string
		ordCalls   int
	}{
		{"unknown customer", 404, `{"error":{"code":"CUSTOMER_NOT_FOUND","message":"customer not found"}}`, 200, confirmed, 404,
			`{"success":false,"correlationId":"c1","error":{"code":"CUSTOMER_NOT_FOUND","message":"customer not found"}}`, 0},
		{"customers-api failing", 500, `{"error":{"code":"INTERNAL","message":"internal error"}}`, 200, confirmed, 503,
			`{"success":false,"correlationId":"c1","error":{"code":"CUSTOMERS_UNAVAILABLE","message":"customers service is unavailable, retry later"}}`, 0},
		{"customers route missing (wrong base URL)", 404, `{"error":{"code":"NOT_FOUND","message":"route not found"}}`, 200, confirmed, 503,
			`{"success":false,"correlationId":"c1","error":{"code":"CUSTOMERS_UNAVAILABLE","message":"customers service is unavailable, retry later"}}`, 0},
		{"orders route missing (wrong base URL)", 200, customer, 404, `{"error":{"code":"NOT_FOUND","message":"route not found"}}`, 503,
			`{"success":false,"correlationId":"c1","error":{"code":"ORDERS_UNAVAILABLE","message":"orders service is unavailable, retry later"}}`, 1},
		{"already confirmed", 200, customer, 200, confirmed, 201,
			`{"success":true,"correlationId":"c1","data":{"customer":{"id":7,"name":"ACME","email":"a@acme.test","phone":"+1-555"},"order":{"id":42,"status":"CONFIRMED","total_cents":300,"items":[{"product_id":1,"qty":3,"unit_price_cents":100,"subtotal_cents":300}],"created_at":"2026-11-30T10:00:00.5Z","confirmed_at":"2026-11-30T10:00:01Z"}}}`, 1},
		{"key used for another body", 200, customer, 200, strings.Replace(confirmed, hash7, strings.Repeat("0", 64), 1), 422,
			`{"success":false,"correlationId":"c1","error":{"code":"IDEMPOTENCY_KEY_REUSED","message":"idempotency_key was already used with a different request"}}`, 1},
		{"orders-api failing", 200, customer, 503, `{}`, 503,
			`{"success":false,"correlationId":"c1","error":{"code":"ORDERS_UNAVAILABLE","message":"orders service is unavailable, retry later"}}`, 1},
		{"rejected unknown product", 200, customer, 200, `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"REJECTED","error":{"code":"PRODUCT_NOT_FOUND","kind":"not_found","message":"product 1 not found"}}`, 404,
			`{"success":false,"correlationId":"c1","error":{"code":"PRODUCT_NOT_FOUND","message":"product 1 not found"}}`, 1},
		// The status comes from the kind orders-api recorded, through the one mapping of internal/web:
		// the same status a REST client of orders-api gets for the same error.
		{"rejected, order canceled before its confirmation", 200, customer, 200, `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"REJECTED","error":{"code":"ORDER_NOT_CONFIRMABLE","kind":"conflict","message":"a canceled order cannot be confirmed"}}`, 409,
			`{"success":false,"correlationId":"c1","error":{"code":"ORDER_NOT_CONFIRMABLE","message":"a canceled order cannot be confirmed"}}`, 1},
		{"rejected as invalid", 200, customer, 200, `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"REJECTED","error":{"code":"VALIDATION_FAILED","kind":"invalid","message":"request validation failed","details":[{"field":"items[0].qty","message":"must be from 1 to 10000"}]}}`, 400,
			`{"success":false,"correlationId":"c1","error":{"code":"VALIDATION_FAILED","message":"request validation failed","details":[{"field":"items[0].qty","message":"must be from 1 to 10000"}]}}`, 1},
		{"rejected with an unknown customer", 200, customer, 200, `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"REJECTED","error":{"code":"CUSTOMER_NOT_FOUND","kind":"not_found","message":"customer not found"}}`, 404,
			`{"success":false,"correlationId":"c1","error":{"code":"CUSTOMER_NOT_FOUND","message":"customer not found"}}`, 1},
		// A rejection recorded without a kind (before kinds were recorded) is still a client error.
		{"rejected without a kind", 200, customer, 200, `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"REJECTED","error":{"code":"INSUFFICIENT_STOCK","message":"not enough stock"}}`, 422,
			`{"success":false,"correlationId":"c1","error":{"code":"INSUFFICIENT_STOCK","message":"not enough stock"}}`, 1},
		{"still processing until the deadline", 200, customer, 200, `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"PROCESSING"}`, 202,
			`{"success":true,"correlationId":"c1","data":{"status":"PENDING","idempotency_key":"k"}}`, -1},
	}
	// A request still PROCESSING is sent again (see TestProcessingRequestIsSentAgain): a real queue.
	pub := newPublisher(t, sqstest.Start(t, "order-commands"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cust := &recording{status: tc.custStatus, body: tc.custBody}
			ord := &recording{status: tc.ordStatus, body: tc.ordBody}
			srvC, srvO := httptest.NewServer(cust), httptest.NewServer(ord)
			defer srvC.Close()
			defer srvO.Close()
			cfg := orchestrator.Config{
				CustomersBase: srvC.URL, OrdersBase: srvO.URL + "/", ServiceToken: "tok",
				WaitTimeout: 300 * time.Millisecond, UpstreamTimeout: time.Second,
			}
			h := orchestrator.Routes(newOrchestrator(t, cfg, pub), slog.New(slog.DiscardHandler))
			req := httptest.NewRequest(http.MethodPost, orchestrator.StagePath, strings.NewReader(`{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Correlation-Id", "c1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.want {
				t.Errorf("got %d %s\nwant %d %s", rec.Code, rec.Body, tc.status, tc.want)
			}
			switch n := len(ord.paths); {
			case tc.ordCalls >= 0 && n != tc.ordCalls:
				t.Errorf("orders-api calls: got %d, want %d", n, tc.ordCalls)
			case tc.ordCalls < 0 && n < 2:
				t.Errorf("orders-api calls: got %d, want the first look-up and at least one poll", n)
			}
		})
	}
}

func TestCustomersUnreachable(t *testing.T) {
	// A closed listener: connection refused, the way a stopped customers-api looks.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	h := newHandler(t, base, base, nil)
	resp, out := call(t, h, orchestrator.Path, `{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k","correlation_id":"c2"}`, nil)
	want := map[string]any{"success": false, "correlationId": "c2", "error": map[string]any{"code": "CUSTOMERS_UNAVAILABLE", "message": "customers service is unavailable, retry later"}}
	if resp.StatusCode != http.StatusServiceUnavailable || !reflect.DeepEqual(out, want) {
		t.Errorf("got %d %v, want 503 %v", resp.StatusCode, out, want)
	}
}

// TestAllowHeader: a 405 names the methods the path really has, on every route.
func TestAllowHeader(t *testing.T) {
	h := newHandler(t, "http://127.0.0.1:1", "http://127.0.0.1:1", nil)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, orchestrator.Path, "POST"},
		{http.MethodPut, orchestrator.StagePath, "POST"},
		{http.MethodPost, "/health", "GET"},
		{http.MethodDelete, "/health", "GET"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow || !strings.Contains(rec.Body.String(), `"METHOD_NOT_ALLOWED"`) {
			t.Errorf("%s %s: got %d Allow=%q %s, want 405 Allow=%s METHOD_NOT_ALLOWED", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), rec.Body, tc.allow)
		}
	}
}

// TestMergedQtyIsRefusedBeforeSending: lines that are each in range but together exceed the limit are a
// 400 here, like orders-api's, so no command is sent and the key is not used up by a rejection.
func TestMergedQtyIsRefusedBeforeSending(t *testing.T) {
	srv := sqstest.Start(t, "order-commands")
	cust := &recording{status: 200, body: `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`}
	ord := &recording{status: 404, body: `{"error":{"code":"ORDER_REQUEST_NOT_FOUND","message":"order request not found"}}`}
	srvC, srvO := httptest.NewServer(cust), httptest.NewServer(ord)
	defer srvC.Close()
	defer srvO.Close()
	cfg := orchestrator.Config{CustomersBase: srvC.URL, OrdersBase: srvO.URL, ServiceToken: "tok",
		WaitTimeout: 300 * time.Millisecond, UpstreamTimeout: time.Second}
	h := orchestrator.Routes(newOrchestrator(t, cfg, newPublisher(t, srv)), slog.New(slog.DiscardHandler))

	resp, out := call(t, h, orchestrator.Path, `{"customer_id":7,"items":[{"product_id":1,"qty":6000},{"product_id":1,"qty":6000}],"idempotency_key":"k-merged"}`,
		map[string]string{"X-Correlation-Id": "corr-merged"})
	want := map[string]any{"success": false, "correlationId": "corr-merged", "error": map[string]any{
		"code": "VALIDATION_FAILED", "message": "request validation failed",
		"details": []any{map[string]any{"field": "items", "message": "product 1: total qty must be at most 10000"}},
	}}
	if resp.StatusCode != http.StatusBadRequest || !reflect.DeepEqual(out, want) {
		t.Errorf("got %d %v, want 400 %v", resp.StatusCode, out, want)
	}
	cust.mu.Lock()
	ord.mu.Lock()
	defer cust.mu.Unlock()
	defer ord.mu.Unlock()
	if len(cust.paths) != 0 || len(ord.paths) != 0 {
		t.Errorf("upstream calls: customers-api %q, orders-api %q, want none", cust.paths, ord.paths)
	}
	if msgs := srv.Receive(t, "order-commands", 1); len(msgs) != 0 {
		t.Errorf("queue: got %d messages (%s), want none", len(msgs), msgs[0].Body)
	}
}

// TestWaitIsALongPoll: after sending the command the orchestrator asks orders-api to hold the request
// until the answer is final (wait_ms, at most 5 s a call), so one call brings the answer as soon as it
// is recorded instead of polls on a timer.
func TestWaitIsALongPoll(t *testing.T) {
	customer := `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`
	confirmed := `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"CONFIRMED","order":{"id":42,"customer_id":7,"status":"CONFIRMED","total_cents":300,"items":[{"product_id":1,"qty":3,"unit_price_cents":100,"subtotal_cents":300}],"created_at":"2026-11-30T10:00:00Z","confirmed_at":"2026-11-30T10:00:01Z","canceled_at":null}}`
	var (
		mu      sync.Mutex
		queries []string
	)
	ord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"ORDER_REQUEST_NOT_FOUND","message":"order request not found"}}`)
			return
		}
		time.Sleep(200 * time.Millisecond) // the worker records the answer while the request is held
		_, _ = io.WriteString(w, confirmed)
	}))
	defer ord.Close()
	cust := httptest.NewServer(&recording{status: 200, body: customer})
	defer cust.Close()
	pub := newPublisher(t, sqstest.Start(t, "order-commands"))
	cfg := orchestrator.Config{CustomersBase: cust.URL, OrdersBase: ord.URL, ServiceToken: "tok", WaitTimeout: 8 * time.Second, UpstreamTimeout: time.Second}
	h := orchestrator.Routes(newOrchestrator(t, cfg, pub), slog.New(slog.DiscardHandler))
	req := httptest.NewRequest(http.MethodPost, orchestrator.Path, strings.NewReader(`{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("got %d %s, want 201", rec.Code, rec.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 || queries[0] != "" {
		t.Fatalf("orders-api asked with %q, want the look-up without waiting, then one long poll", queries)
	}
	q, _ := url.ParseQuery(queries[1])
	if ms, err := strconv.Atoi(q.Get("wait_ms")); err != nil || ms <= 0 || ms > 5000 {
		t.Errorf("long poll wait_ms %q, want 1..5000", q.Get("wait_ms"))
	}
}
