package orchestrator_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/sqstest"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// observed records what an orchestrator.Observer is told.
type observed struct {
	mu       sync.Mutex
	answers  []int
	waits    int
	pendings int
}

func (o *observed) Answered(status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.answers = append(o.answers, status)
}

func (o *observed) Waited(took time.Duration, pending bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took > 0 {
		o.waits++
	}
	if pending {
		o.pendings++
	}
}

// TestObserver: every answer is told with its status; a request that waited for the confirmation is
// told how long, and whether the deadline cut the wait short (202).
func TestObserver(t *testing.T) {
	customer := `{"id":7,"name":"ACME","email":"a@acme.test","phone":null}`
	processing := `{"idempotency_key":"k","request_hash":"` + hash7 + `","status":"PROCESSING"}`
	var mu sync.Mutex
	calls := 0
	ord := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if first {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"ORDER_REQUEST_NOT_FOUND","message":"order request not found"}}`)
			return
		}
		_, _ = io.WriteString(w, processing) // never final: the wait ends at the deadline
	}))
	defer ord.Close()
	cust := httptest.NewServer(&recording{status: 200, body: customer})
	defer cust.Close()
	pub := newPublisher(t, sqstest.Start(t, "order-commands"))
	cfg := orchestrator.Config{CustomersBase: cust.URL, OrdersBase: ord.URL, ServiceToken: "tok", WaitTimeout: 300 * time.Millisecond, UpstreamTimeout: time.Second}
	o := &observed{}
	handler := newOrchestrator(t, cfg, pub)
	orchestrator.WithObserver(o)(handler)
	h := orchestrator.Routes(handler, slog.New(slog.DiscardHandler))

	if rec := serveWithin(t, h, createRequest(`{"customer_id":7,"items":[{"product_id":1,"qty":3}],"idempotency_key":"k"}`, "corr-obs-1"), 10*time.Second); rec.Code != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202", rec.Code, rec.Body)
	}
	if rec := serveWithin(t, h, createRequest(`{}`, "corr-obs-2"), 10*time.Second); rec.Code != http.StatusBadRequest {
		t.Fatalf("got %d %s, want 400", rec.Code, rec.Body)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !reflect.DeepEqual(o.answers, []int{http.StatusAccepted, http.StatusBadRequest}) {
		t.Errorf("answers told: %v, want [202 400]", o.answers)
	}
	if o.waits != 1 || o.pendings != 1 {
		t.Errorf("waits told: %d (%d pending), want 1 pending", o.waits, o.pendings)
	}
}
