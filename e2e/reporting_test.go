package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// dailySales is reporting's answer for one day.
type dailySales struct {
	Data []struct {
		Date            string `json:"date"`
		OrdersConfirmed int    `json:"orders_confirmed"`
		OrdersCanceled  int    `json:"orders_canceled"`
		Units           int    `json:"units"`
		RevenueCents    int64  `json:"revenue_cents"`
	} `json:"data"`
}

// waitForSales polls today's daily sales until ok holds, and fails after a deadline longer than the
// queue's visibility timeout (a redelivery must be able to make it).
func (s *stack) waitForSales(what string, ok func(dailySales) bool) dailySales {
	s.t.Helper()
	day := time.Now().UTC().Format(time.DateOnly)
	url := fmt.Sprintf("%s/reports/daily-sales?from=%s&to=%s", s.reportingURL, day, day)
	var last dailySales
	var raw []byte
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", authtest.Bearer(authtest.Token(s.t, auth.Principal{Subject: "e2e-reader", Scopes: []string{auth.ScopeReportsRead}})))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			raw, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &last) == nil && ok(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("daily sales never showed %s; last answer %s", what, raw)
	return last
}

// TestOrderReachesTheReports: an order created and confirmed through the orchestrator reaches the
// reports through the outbox, the relay, the order-events topic and reporting's own queue; canceling it
// takes its revenue out again; reporting logs the event under the correlation id of the request.
func TestOrderReachesTheReports(t *testing.T) {
	s := newStack(t, stackOptions{events: true})
	p := s.product("E2E-REPORT", 2500, 10)
	a := post(t, s.orchURL+orchestrator.Path, request{CustomerID: 4, Items: []item{{p, 3}}, IdempotencyKey: "e2e-report-1", CorrelationID: "e2e-corr-report"})
	if a.Status != http.StatusCreated {
		t.Fatalf("create-and-confirm: got %d %s, want 201", a.Status, a.Raw)
	}
	var data struct {
		Order struct {
			ID         int64 `json:"id"`
			TotalCents int64 `json:"total_cents"`
		} `json:"order"`
	}
	if err := json.Unmarshal(a.Body.Data, &data); err != nil || data.Order.TotalCents != 7500 {
		t.Fatalf("order: %s (%v), want a total of 7500", a.Body.Data, err)
	}

	got := s.waitForSales("the confirmed order", func(d dailySales) bool {
		return len(d.Data) == 1 && d.Data[0].OrdersConfirmed == 1
	})
	if r := got.Data[0]; r.RevenueCents != 7500 || r.Units != 3 || r.OrdersCanceled != 0 {
		t.Errorf("after the confirmation: got %+v, want 1 confirmed, 3 units, 7500 cents", r)
	}

	if status, body := send(t, "POST", fmt.Sprintf("%s/orders/%d/cancel", s.ordersURL, data.Order.ID), authtest.Bearer(authtest.Operator(t)), ""); status != http.StatusOK {
		t.Fatalf("cancel: got %d %v, want 200", status, body)
	}
	got = s.waitForSales("the cancellation", func(d dailySales) bool {
		return len(d.Data) == 1 && d.Data[0].OrdersCanceled == 1
	})
	if r := got.Data[0]; r.RevenueCents != 0 || r.Units != 0 {
		t.Errorf("after the cancellation: got %+v, want the revenue and units gone", r)
	}

	// reporting handled the order's events under the request's correlation id.
	var lines int
	for _, l := range strings.Split(s.reporting.out.String(), "\n") {
		if strings.Contains(l, `"correlation_id":"e2e-corr-report"`) && strings.Contains(l, `"event_type":"order.`) {
			lines++
		}
	}
	if lines == 0 {
		t.Errorf("no reporting log line with the request's correlation id:\n%s", s.reporting.out.String())
	}
}
