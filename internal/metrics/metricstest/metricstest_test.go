package metricstest_test

import (
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/metrics/metricstest"
)

const scrape = `# HELP http_requests_total HTTP requests answered.
# TYPE http_requests_total counter
http_requests_total{code="2xx",method="GET",route="/orders/{id}"} 7
http_requests_total{code="4xx",method="GET",route="/orders/{id}"} 2
http_requests_total{code="2xx",method="POST",route="/orders"} 3
# HELP http_request_duration_seconds Time to answer.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",route="/orders/{id}",le="0.1"} 8
http_request_duration_seconds_bucket{method="GET",route="/orders/{id}",le="+Inf"} 9
http_request_duration_seconds_sum{method="GET",route="/orders/{id}"} 0.45
http_request_duration_seconds_count{method="GET",route="/orders/{id}"} 9
# HELP outbox_backlog_events Events not yet sent.
# TYPE outbox_backlog_events gauge
outbox_backlog_events 4
`

func TestLookups(t *testing.T) {
	s, err := metricstest.Parse(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	if err := metricstest.Lint(s); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		sum    float64
		series int
	}{
		{"http_requests_total", nil, 12, 3},
		{"http_requests_total", []string{"route", "/orders/{id}"}, 9, 2},
		{"http_requests_total", []string{"route", "/orders/{id}", "code", "4xx"}, 2, 1},
		{"http_requests_total", []string{"route", "/nope"}, 0, 0},
		{"http_request_duration_seconds_count", []string{"route", "/orders/{id}"}, 9, 1},
		{"http_request_duration_seconds_sum", nil, 0.45, 1},
		{"outbox_backlog_events", nil, 4, 1},
		{"no_such_metric", nil, 0, 0},
	} {
		if got := s.Sum(tc.name, tc.labels...); got != tc.sum {
			t.Errorf("Sum(%s%v) = %v, want %v", tc.name, tc.labels, got, tc.sum)
		}
		if got := s.Series(tc.name, tc.labels...); got != tc.series {
			t.Errorf("Series(%s%v) = %v, want %v", tc.name, tc.labels, got, tc.series)
		}
	}
	if got := s.Value(t, "http_requests_total", "method", "POST"); got != 3 {
		t.Errorf("Value = %v, want 3", got)
	}
}

func TestParseAndLintFailures(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"not the text format", "this is not { metrics\n", "parse metrics text"},
		{"utf-8 name", "# TYPE \"orders.created\" counter\n{\"orders.created\"} 1\n", "parse metrics text"},
		{"no help", "# TYPE queue_depth gauge\nqueue_depth 1\n", "no help text"},
		{"counter without _total", "# HELP orders_created Orders.\n# TYPE orders_created counter\norders_created 1\n", `counter metrics should have "_total" suffix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := metricstest.Parse(strings.NewReader(tc.text))
			if err == nil {
				err = metricstest.Lint(s)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
