package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// postWithin is post with a client that gives up after limit: an answer that does not come within it
// fails the test.
func postWithin(t *testing.T, limit time.Duration, url string, body any) answer {
	t.Helper()
	old := http.DefaultClient.Timeout
	http.DefaultClient.Timeout = limit
	defer func() { http.DefaultClient.Timeout = old }()
	return post(t, url, body)
}

// TestWorkerStopped: with no worker the request is accepted and answered 202 PENDING at the deadline;
// once a worker runs, the same request returns the order. Also: an unknown customer sends nothing.
func TestWorkerStopped(t *testing.T) {
	const wait = 1500 * time.Millisecond
	s := newStack(t, stackOptions{wait: wait, noWorker: true})
	url := s.orchURL + orchestrator.StagePath
	p := s.product("E2E-PENDING", 700, 20)

	unknown := postWithin(t, 10*time.Second, url, request{CustomerID: 424242, Items: []item{{p, 1}}, IdempotencyKey: "e2e-nobody"})
	if unknown.Status != http.StatusNotFound || unknown.errCode() != "CUSTOMER_NOT_FOUND" {
		t.Fatalf("unknown customer: got %d %s, want 404 CUSTOMER_NOT_FOUND", unknown.Status, unknown.Raw)
	}
	if msgs := s.sqs.Receive(t, commandQueue, 10); len(msgs) != 0 {
		t.Fatalf("queue after an unknown customer: got %d messages (%v), want none", len(msgs), msgs)
	}

	req := request{CustomerID: 4, Items: []item{{p, 2}, {p, 1}}, IdempotencyKey: "e2e-pending-key", CorrelationID: "e2e-corr-pending"}
	// The deadline (1.5 s) plus the margin for the answer: a hung request would exceed this limit.
	a := postWithin(t, wait+5*time.Second, url, req)
	if a.Status != http.StatusAccepted || !a.Body.Success || a.Body.CorrelationID != req.CorrelationID {
		t.Fatalf("got %d %s, want 202 success", a.Status, a.Raw)
	}
	if string(a.Body.Data) != `{"status":"PENDING","idempotency_key":"e2e-pending-key"}` {
		t.Errorf("data: got %s, want PENDING with the key", a.Body.Data)
	}

	// The command waits on the queue. Look at it without deleting it: it comes back after the 2 s
	// visibility timeout for the worker.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.sqs.Client().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(s.sqs.URL(t, commandQueue)), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("queue: got %d messages, want 1 PlaceOrder", len(out.Messages))
	}
	m := out.Messages[0]
	attrs := map[string]string{}
	for k, v := range m.MessageAttributes {
		attrs[k] = aws.ToString(v.StringValue)
	}
	if attrs["correlation_id"] != req.CorrelationID || attrs["idempotency_key"] != req.IdempotencyKey {
		t.Errorf("attributes: got %v, want correlation_id %s and idempotency_key %s", attrs, req.CorrelationID, req.IdempotencyKey)
	}
	var cmd events.PlaceOrder
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &cmd); err != nil {
		t.Fatalf("decode PlaceOrder %s: %v", aws.ToString(m.Body), err)
	}
	wantItems := []events.LineItem{{ProductID: p, Qty: 3}}
	if cmd.IdempotencyKey != req.IdempotencyKey || cmd.CustomerID != 4 || !reflect.DeepEqual(cmd.Items, wantItems) ||
		cmd.RequestHash != events.RequestHash(4, wantItems) || cmd.CorrelationID != req.CorrelationID || cmd.RequestedAt.IsZero() {
		t.Errorf("PlaceOrder: got %+v, want key, customer 4, merged items %v, their hash, the correlation id and a time", cmd, wantItems)
	}
	if got := s.stock(p); got != 20 {
		t.Errorf("stock while pending: got %d, want 20", got)
	}

	s.worker.start()
	var done answer
	eventually(t, 30*time.Second, "the same request answered 201", func() bool {
		done = postWithin(t, wait+5*time.Second, url, req)
		return done.Status == http.StatusCreated
	})
	if o := done.order(t).Order; o.Status != "CONFIRMED" || o.TotalCents != 3*700 {
		t.Errorf("order: got %+v, want CONFIRMED with total 2100", o)
	}
	// Every copy of the command (the first and those sent by the retries) made one order between them.
	eventually(t, 10*time.Second, "queue drained", func() bool { return len(s.sqs.Receive(t, commandQueue, 10)) == 0 })
	if n := s.ordersWithProduct(p); n != 1 {
		t.Errorf("orders: got %d, want 1", n)
	}
	if got := s.stock(p); got != 17 {
		t.Errorf("stock: got %d, want 17", got)
	}
}

// TestWorkerCrashBetweenTransactions: a worker that dies after the create transaction and before the
// confirm leaves the order CREATED and the request PROCESSING; the redelivered command makes the next
// worker finish it, and the order ends CONFIRMED once, with its stock taken once.
func TestWorkerCrashBetweenTransactions(t *testing.T) {
	s := newStack(t, stackOptions{wait: time.Second, noWorker: true})
	url := s.orchURL + orchestrator.Path
	p := s.product("E2E-CRASH", 2500, 9)
	req := request{CustomerID: 2, Items: []item{{p, 4}}, IdempotencyKey: "e2e-crash-key", CorrelationID: "e2e-corr-crash"}

	crashing := newProc(t, "orders-worker", s.workerEnv, "-exit-after-create").start()
	a := postWithin(t, 10*time.Second, url, req)
	if a.Status != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202 PENDING while the worker dies", a.Status, a.Raw)
	}
	code, exited := crashing.exited(20 * time.Second)
	if !exited || code != 75 {
		t.Fatalf("crashing worker: exited %v with %d, want exit 75 after the create", exited, code)
	}
	st, oid := s.requestStatus(req.IdempotencyKey)
	if st != "PROCESSING" || !oid.Valid {
		t.Fatalf("after the crash: request %q order %v, want PROCESSING with an order", st, oid)
	}
	id := strconv.FormatInt(oid.Int64, 10)
	if n := s.count(`SELECT COUNT(*) FROM orders WHERE id = ? AND status = 'CREATED'`, oid.Int64); n != 1 {
		t.Errorf("order %s: want it CREATED after the crash", id)
	}
	if got := s.stock(p); got != 5 {
		t.Errorf("stock after the crash: got %d, want 5", got)
	}
	if c, f := s.events(events.OrderCreated, id), s.events(events.OrderConfirmed, id); c != 1 || f != 0 {
		t.Errorf("outbox after the crash: %d created, %d confirmed; want 1 and 0", c, f)
	}

	s.worker.start()
	eventually(t, 20*time.Second, "request CONFIRMED by the restarted worker", func() bool {
		st, _ := s.requestStatus(req.IdempotencyKey)
		return st == "CONFIRMED"
	})
	done := postWithin(t, 10*time.Second, url, req)
	if done.Status != http.StatusCreated {
		t.Fatalf("same request after recovery: got %d %s, want 201", done.Status, done.Raw)
	}
	if o := done.order(t).Order; o.ID != oid.Int64 || o.Status != "CONFIRMED" || o.TotalCents != 4*2500 {
		t.Errorf("order: got %+v, want %d CONFIRMED total 10000", o, oid.Int64)
	}
	if n := s.ordersWithProduct(p); n != 1 {
		t.Errorf("orders: got %d, want 1", n)
	}
	if got := s.stock(p); got != 5 {
		t.Errorf("stock: got %d, want 5 (taken once)", got)
	}
	if c, f := s.events(events.OrderCreated, id), s.events(events.OrderConfirmed, id); c != 1 || f != 1 {
		t.Errorf("outbox: %d created, %d confirmed; want 1 and 1", c, f)
	}
}

// TestCustomersDown: with customers-api stopped the answer is a prompt 503, and no command is sent.
func TestCustomersDown(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	s.customers.stop()
	req := request{CustomerID: 1, Items: []item{{1, 1}}, IdempotencyKey: "e2e-customers-down", CorrelationID: "e2e-corr-down"}
	// Well under the 8 s ORDER_WAIT_TIMEOUT: a refused connection is not worth waiting for.
	a := postWithin(t, 3*time.Second, s.orchURL+orchestrator.StagePath, req)
	if a.Status != http.StatusServiceUnavailable || a.errCode() != "CUSTOMERS_UNAVAILABLE" || a.Body.CorrelationID != req.CorrelationID {
		t.Fatalf("got %d %s, want 503 CUSTOMERS_UNAVAILABLE", a.Status, a.Raw)
	}
	if msgs := s.sqs.Receive(t, commandQueue, 10); len(msgs) != 0 {
		t.Errorf("queue: got %d messages, want none", len(msgs))
	}
	if got := s.stock(1); got != 500 {
		t.Errorf("stock of product 1: got %d, want 500", got)
	}
}
