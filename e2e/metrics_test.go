package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2b/backoffice/internal/auth/authtest"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/lambda/orchestrator"
)

// TestMetrics drives the real binaries of the whole system (customers-api, orders-api, orders-worker,
// outbox-relay, reporting and the local orchestrator) and reads their /metrics the way Prometheus does:
// every process answers in the text format and passes the metric linter; an order through REST and one
// through create-and-confirm move the counters by exactly that; a thousand order ids make one series;
// with SQS down the outbox backlog grows and ages, and drains once it is back; a poison command shows in
// the dead-letter queue's gauge. One stack for all of it; the pollers read every 200 ms.
func TestMetrics(t *testing.T) {
	s := newStack(t, stackOptions{events: true, env: map[string]string{"METRICS_POLL_INTERVAL": "200ms"}})
	targets := map[string]string{
		"customers-api": s.customersURL,
		"orders-api":    s.ordersURL,
		"orders-worker": adminURL(t, s.worker),
		"outbox-relay":  adminURL(t, s.relay),
		"reporting":     s.reportingURL,
		"orchestrator":  s.orchURL,
	}
	scrape := func(t *testing.T, process string) metricstest.Snapshot {
		t.Helper()
		return metricstest.Scrape(t, targets[process]+"/metrics")
	}
	// gauge reads a gauge of process, -1 while it has no series (a poller not read yet, or stale).
	gauge := func(t *testing.T, process, name string, labels ...string) float64 {
		t.Helper()
		m := scrape(t, process)
		if m.Series(name, labels...) != 1 {
			return -1
		}
		return m.Value(t, name, labels...)
	}
	p := s.product("E2E-METRICS", 500, 1000)

	t.Run("an order through REST and one through create-and-confirm move the numbers", func(t *testing.T) {
		before := map[string]metricstest.Snapshot{}
		for name := range targets {
			before[name] = scrape(t, name)
		}
		restOrder(t, s, p)
		if a := post(t, s.orchURL+orchestrator.Path, request{CustomerID: 1, Items: []item{{p, 1}}, IdempotencyKey: "e2e-metrics-1"}); a.Status != http.StatusCreated {
			t.Fatalf("create-and-confirm: got %d %s, want 201", a.Status, a.Raw)
		}
		delta := func(after metricstest.Snapshot, process, name string, labels ...string) float64 {
			return after.Sum(name, labels...) - before[process].Sum(name, labels...)
		}
		// Three events (created by REST; created and confirmed by the worker) reach SNS and reporting,
		// and the backlog both exporters show is empty again.
		eventually(t, 30*time.Second, "the relay caught up and the backlog is 0", func() bool {
			return delta(scrape(t, "outbox-relay"), "outbox-relay", "outbox_events_sent_total") == 3 &&
				gauge(t, "outbox-relay", "outbox_backlog_events") == 0 && gauge(t, "orders-api", "outbox_backlog_events") == 0 &&
				delta(scrape(t, "reporting"), "reporting", "watermill_subscriber_messages_received_total", "acked", "acked") == 3
		})
		after := map[string]metricstest.Snapshot{}
		for name := range targets {
			after[name] = scrape(t, name)
		}
		for _, tc := range []struct {
			process, name string
			labels        []string
			want          float64
		}{
			{"orders-api", "orders_created_total", nil, 1},
			{"orders-api", "orders_confirmed_total", nil, 0},
			{"orders-api", "outbox_events_written_total", []string{"type", "order.created"}, 1},
			{"orders-api", "http_requests_total", []string{"route", "/orders", "method", "POST", "code", "2xx"}, 1},
			{"orders-api", "http_request_duration_seconds_count", []string{"route", "/orders", "method", "POST"}, 1},
			{"orders-worker", "orders_created_total", nil, 1},
			{"orders-worker", "orders_confirmed_total", nil, 1},
			{"orders-worker", "outbox_events_written_total", nil, 2},
			{"orders-worker", "worker_commands_total", []string{"outcome", "confirmed"}, 1},
			{"orders-worker", "worker_command_duration_seconds_count", []string{"outcome", "confirmed"}, 1},
			{"orders-worker", "worker_commands_redelivered_total", nil, 0},
			{"orchestrator", "orchestrator_answers_total", []string{"status", "201"}, 1},
			{"orchestrator", "orchestrator_confirmation_wait_seconds_count", []string{"result", "final"}, 1},
			{"orchestrator", "http_requests_total", []string{"route", orchestrator.Path, "method", "POST", "code", "2xx"}, 1},
			{"outbox-relay", "outbox_events_sent_total", nil, 3},
			{"outbox-relay", "outbox_send_failures_total", nil, 0},
			{"outbox-relay", "outbox_events_parked_total", nil, 0},
		} {
			if got := delta(after[tc.process], tc.process, tc.name, tc.labels...); got != tc.want {
				t.Errorf("%s: %s%v went up by %v, want %v", tc.process, tc.name, tc.labels, got, tc.want)
			}
		}
		if got := delta(after["outbox-relay"], "outbox-relay", "outbox_batches_total"); got < 1 {
			t.Errorf("outbox-relay: outbox_batches_total went up by %v, want at least 1", got)
		}
		for _, process := range []string{"orders-api", "outbox-relay"} {
			if got := after[process].Value(t, "outbox_oldest_event_age_seconds"); got != 0 {
				t.Errorf("%s: outbox_oldest_event_age_seconds = %v with nothing pending, want 0", process, got)
			}
		}
	})

	t.Run("every process exports its metrics", func(t *testing.T) {
		pool := func(db string) []string { return []string{"go_sql_open_connections", "db_name", db} }
		depth := func(queue string) []string { return []string{"sqs_queue_messages", "queue", queue, "state", "visible"} }
		for process, want := range map[string][][]string{
			"customers-api": {{"http_requests_total"}, pool("customers"), {"sqldb_tx_retries_total"}},
			"orders-api": {{"http_requests_total"}, pool("orders"), {"sqldb_tx_lock_conflicts_total"},
				{"orders_created_total"}, {"orders_confirmed_total"}, {"orders_canceled_total"}, {"orders_rejected_total", "reason", "INSUFFICIENT_STOCK"},
				{"orders_stock_conflicts_total"}, {"outbox_events_written_total"},
				{"outbox_backlog_events"}, {"outbox_oldest_event_age_seconds"}, {"outbox_parked_events"}},
			"orders-worker": {pool("orders"), {"sqldb_tx_retries_total"}, {"orders_created_total"}, {"orders_rejected_total"},
				{"worker_commands_total", "outcome", "retried"}, {"worker_command_duration_seconds_count"}, {"worker_commands_redelivered_total"},
				depth("order-commands"), depth("order-commands-dlq"),
				{"watermill_handler_execution_time_seconds_count"}, {"watermill_subscriber_messages_received_total"}},
			"outbox-relay": {pool("orders"), {"outbox_events_sent_total"}, {"outbox_send_failures_total", "reason", "unavailable"},
				{"outbox_send_duration_seconds_count"}, {"outbox_events_parked_total"}, {"outbox_batches_total"},
				{"outbox_backlog_events"}, {"outbox_oldest_event_age_seconds"}, {"outbox_parked_events"},
				depth(reportingQueue), depth(reportingQueue + "-dlq"), depth(tapQueue), depth(tapQueue + "-dlq")},
			"reporting": {{"http_requests_total"}, pool("reporting"), {"sqldb_tx_retries_total"},
				depth(reportingQueue), depth(reportingQueue + "-dlq"), {"watermill_subscriber_messages_received_total"}},
			"orchestrator": {{"http_requests_total"}, {"orchestrator_answers_total", "status", "202"},
				{"orchestrator_confirmation_wait_seconds_count"}, depth("order-commands")},
		} {
			m := scrape(t, process)
			for _, w := range append(want, []string{"go_goroutines"}, []string{"process_resident_memory_bytes"}) {
				if m.Series(w[0], w[1:]...) == 0 {
					t.Errorf("%s: no series %s%v", process, w[0], w[1:])
				}
			}
		}
	})

	t.Run("a thousand order ids make one series", func(t *testing.T) {
		ids := make(chan int)
		var wg sync.WaitGroup
		bearer := authtest.Bearer(authtest.Operator(t))
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range ids {
					// Unknown orders: each a 404 through the whole route, authentication included.
					req, _ := http.NewRequest(http.MethodGet, s.ordersURL+"/orders/"+strconv.Itoa(id), nil)
					req.Header.Set("Authorization", bearer)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
				}
			}()
		}
		for id := 1_000_001; id <= 1_001_000; id++ {
			ids <- id
		}
		close(ids)
		wg.Wait()
		m := scrape(t, "orders-api")
		if n := m.Series("http_requests_total", "route", "/orders/{id}"); n != 1 {
			t.Fatalf("http_requests_total: %d series for /orders/{id}, want 1: %v", n, m.Labels("http_requests_total"))
		}
		if got := m.Value(t, "http_requests_total", "route", "/orders/{id}", "method", "GET", "code", "4xx"); got != 1000 {
			t.Errorf("http_requests_total{route=/orders/{id},method=GET,code=4xx} = %v, want 1000", got)
		}
		if n := m.Series("http_request_duration_seconds", "route", "/orders/{id}"); n != 1 {
			t.Errorf("http_request_duration_seconds: %d series for /orders/{id}, want 1", n)
		}
		for _, ls := range m.Labels("http_requests_total") {
			if strings.Contains(ls["route"], "100") {
				t.Errorf("a series is labelled with a raw path: %v", ls)
			}
		}
	})

	t.Run("with SQS down the backlog grows and ages, and drains when it is back", func(t *testing.T) {
		relayBefore := scrape(t, "outbox-relay")
		s.sqs.Stop()
		restOrder(t, s, p)
		restOrder(t, s, p)
		var age float64
		for _, process := range []string{"orders-api", "outbox-relay"} {
			eventually(t, 10*time.Second, process+": the backlog shows both events", func() bool {
				return gauge(t, process, "outbox_backlog_events") == 2
			})
			eventually(t, 10*time.Second, process+": the oldest event's age rises", func() bool {
				a := gauge(t, process, "outbox_oldest_event_age_seconds")
				if a > 0 && age > 0 && a > age {
					return true
				}
				age = max(age, a)
				return false
			})
		}
		eventually(t, 10*time.Second, "the relay counts its failed sends", func() bool {
			m := scrape(t, "outbox-relay")
			return m.Sum("outbox_send_failures_total", "reason", "unavailable") > relayBefore.Sum("outbox_send_failures_total", "reason", "unavailable")
		})
		s.sqs.Start()
		eventually(t, 30*time.Second, "the backlog drained to 0", func() bool {
			return gauge(t, "orders-api", "outbox_backlog_events") == 0 && gauge(t, "outbox-relay", "outbox_backlog_events") == 0 &&
				gauge(t, "orders-api", "outbox_oldest_event_age_seconds") == 0
		})
		if got := scrape(t, "outbox-relay").Sum("outbox_events_sent_total") - relayBefore.Sum("outbox_events_sent_total"); got != 2 {
			t.Errorf("outbox_events_sent_total went up by %v across the outage, want 2", got)
		}
	})

	t.Run("a poison command reaches the dead-letter queue and its gauge", func(t *testing.T) {
		before := scrape(t, "orders-worker")
		s.sqs.Send(t, commandQueue, `{"idempotency_key":`, nil)
		// Each delivery is nacked and comes back after the 2 s visibility timeout; the fifth receive
		// moves it.
		eventually(t, 60*time.Second, "order-commands-dlq shows 1 message", func() bool {
			return gauge(t, "orders-worker", "sqs_queue_messages", "queue", commandQueue+"-dlq", "state", "visible") == 1
		})
		after := scrape(t, "orders-worker")
		handled := after.Sum("worker_commands_total", "outcome", "undecodable") - before.Sum("worker_commands_total", "outcome", "undecodable")
		redelivered := after.Sum("worker_commands_redelivered_total") - before.Sum("worker_commands_redelivered_total")
		t.Logf("the poison command was delivered %v times, %v of them counted as redeliveries", handled, redelivered)
		if handled < 2 || redelivered != handled-1 {
			t.Errorf("poison: %v deliveries counted undecodable, %v redelivered; want several, all but the first redelivered", handled, redelivered)
		}
	})
}

// restOrder creates an order of one unit of product p through orders-api.
func restOrder(t *testing.T, s *stack, p int64) {
	t.Helper()
	body := fmt.Sprintf(`{"customer_id":1,"items":[{"product_id":%d,"qty":1}]}`, p)
	req, _ := http.NewRequest(http.MethodPost, s.ordersURL+"/orders", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authtest.Bearer(authtest.Operator(t)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders: got %d, want 201", resp.StatusCode)
	}
}
