package orchestrator_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/queue"
	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

func newPublisher(t *testing.T, srv *sqstest.Server) message.Publisher {
	t.Helper()
	pub, err := queue.NewPublisher(srv.Config(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

// serveWithin serves req with h in the background and fails the test when no answer comes within
// limit: the handler must answer by itself, whatever its upstreams do.
func serveWithin(t *testing.T, h http.Handler, req *http.Request, limit time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(rec, req) }()
	select {
	case <-done:
		return rec
	case <-time.After(limit):
		t.Fatalf("no answer within %s", limit)
		return nil
	}
}

func createRequest(body, corr string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, orchestrator.Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Correlation-Id", corr)
	return req
}

// TestProcessingRequestIsSentAgain: a retry of a request orders-api holds as PROCESSING sends the
// command again, so a request whose command was lost (dead-letter queue) can be resumed by the client.
func TestProcessingRequestIsSentAgain(t *testing.T) {
	srv := sqstest.Start(t, "order-commands")
	cust := httptest.NewServer(&recording{status: 200, body: `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`})
	defer cust.Close()
	ord := httptest.NewServer(&recording{status: 200, body: `{"idempotency_key":"k-processing","request_hash":"` + hash7 + `","status":"PROCESSING"}`})
	defer ord.Close()
	cfg := orchestrator.Config{CustomersBase: cust.URL, OrdersBase: ord.URL, ServiceToken: "tok",
		WaitTimeout: 200 * time.Millisecond, UpstreamTimeout: time.Second}
	h := orchestrator.Routes(newOrchestrator(t, cfg, newPublisher(t, srv)), slog.New(slog.DiscardHandler))

	rec := serveWithin(t, h, createRequest(`{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k-processing"}`, "corr-processing"), 20*time.Second)
	if want := `{"success":true,"correlationId":"corr-processing","data":{"status":"PENDING","idempotency_key":"k-processing"}}`; rec.Code != 202 || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("got %d %s, want 202 %s", rec.Code, rec.Body, want)
	}
	msgs := srv.Receive(t, "order-commands", 10)
	if len(msgs) != 1 {
		t.Fatalf("queue: got %d messages, want the PlaceOrder sent again", len(msgs))
	}
	var cmd events.PlaceOrder
	if err := json.Unmarshal([]byte(msgs[0].Body), &cmd); err != nil {
		t.Fatalf("decode %s: %v", msgs[0].Body, err)
	}
	if cmd.IdempotencyKey != "k-processing" || cmd.RequestHash != hash7 || cmd.CorrelationID != "corr-processing" ||
		!reflect.DeepEqual(cmd.Items, []events.LineItem{{ProductID: 1, Qty: 3}}) {
		t.Errorf("command: got %+v, want key k-processing, hash %s, correlation corr-processing, 3 × product 1", cmd, hash7)
	}
	if a := msgs[0].Attributes; a[events.MetaCorrelationID] != "corr-processing" || a[events.MetaIdempotencyKey] != "k-processing" {
		t.Errorf("attributes: got %v, want correlation_id corr-processing and idempotency_key k-processing", a)
	}
}

// blackHole accepts connections and never answers, the way a hung endpoint behaves.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// TestHungQueueIsA503: SQS accepting the connection but never answering must not hold the request past
// its deadline (watermill-aws sends without a context): the answer is 503 QUEUE_UNAVAILABLE.
func TestHungQueueIsA503(t *testing.T) {
	cust := httptest.NewServer(&recording{status: 200, body: `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`})
	defer cust.Close()
	ord := &recording{status: 404, body: `{"error":{"code":"ORDER_REQUEST_NOT_FOUND","message":"order request not found"}}`}
	srvO := httptest.NewServer(ord)
	defer srvO.Close()
	sqsCfg := queue.Config{Region: "us-east-1", Endpoint: blackHole(t), AccessKeyID: "test", SecretAccessKey: "test"}
	pub, err := queue.NewPublisher(sqsCfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := orchestrator.Config{CustomersBase: cust.URL, OrdersBase: srvO.URL, ServiceToken: "tok",
		WaitTimeout: 2 * time.Second, UpstreamTimeout: time.Second}
	h := orchestrator.Routes(newOrchestrator(t, cfg, pub), slog.New(slog.DiscardHandler))

	rec := serveWithin(t, h, createRequest(`{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k-hung-queue"}`, "corr-hung"), 20*time.Second)
	want := `{"success":false,"correlationId":"corr-hung","error":{"code":"QUEUE_UNAVAILABLE","message":"order queue is unavailable, retry later"}}`
	if rec.Code != http.StatusServiceUnavailable || strings.TrimSpace(rec.Body.String()) != want {
		t.Errorf("got %d %s, want 503 %s", rec.Code, rec.Body, want)
	}
	ord.mu.Lock()
	defer ord.mu.Unlock()
	if len(ord.paths) != 1 {
		t.Errorf("orders-api calls: got %d, want the look-up only (no polling for a command not known to be sent)", len(ord.paths))
	}
}

// TestHungCustomersAnsweredInTime: an upstream that hangs longer than UPSTREAM_TIMEOUT allows is cut
// at the request's deadline, so the client gets a 503 rather than a Lambda timeout.
func TestHungCustomersAnsweredInTime(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	defer hung.CloseClientConnections()
	cfg := orchestrator.Config{CustomersBase: hung.URL, OrdersBase: hung.URL, ServiceToken: "tok",
		WaitTimeout: time.Second, UpstreamTimeout: time.Minute}
	h := orchestrator.Routes(newOrchestrator(t, cfg, nil), slog.New(slog.DiscardHandler))

	rec := serveWithin(t, h, createRequest(`{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k-hung-customers"}`, "corr-hung-c"), 20*time.Second)
	want := `{"success":false,"correlationId":"corr-hung-c","error":{"code":"CUSTOMERS_UNAVAILABLE","message":"customers service is unavailable, retry later"}}`
	if rec.Code != http.StatusServiceUnavailable || strings.TrimSpace(rec.Body.String()) != want {
		t.Errorf("got %d %s, want 503 %s", rec.Code, rec.Body, want)
	}
}
