package metrics_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/internal/metrics/metricstest"
	"github.com/b2b/backoffice/internal/sqldb"
)

// Everything this package registers, served by Handler, parses as the text format and passes the
// linter.
func TestHandlerServesLintCleanText(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t, "orders")
	reg := metrics.NewRegistry()
	h := routes(reg)
	do(t, h, http.MethodGet, "/orders/1")
	if err := metrics.RegisterDB(reg, db.DB, "orders"); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(metrics.TxRetries())
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()

	metricstest.Scrape(t, srv.URL)
	s := metricstest.Scrape(t, srv.URL)
	for _, name := range []string{
		"go_goroutines", "go_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
		"go_sql_open_connections", "go_sql_wait_count_total", "sqldb_tx_retries_total",
		"sqldb_tx_lock_conflicts_total", "http_requests_total", "http_request_duration_seconds",
	} {
		if s.Series(name) == 0 {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	if got := s.Value(t, "go_sql_max_open_connections", "db_name", "orders"); got != 64 {
		t.Errorf("go_sql_max_open_connections{db_name=orders} = %v, want 64 (the test pool's limit)", got)
	}
	// The handler counts its own scrapes: the first one is visible in the second.
	if got := s.Value(t, "promhttp_metric_handler_requests_total", "code", "200"); got != 1 {
		t.Errorf("promhttp_metric_handler_requests_total{code=200} = %v, want 1", got)
	}
	if err := metrics.RegisterDB(reg, db.DB, "orders"); err == nil {
		t.Error("registering the same database twice succeeded; want an error")
	}
}

// The linter is strict: a counter without _total, or a name in the wrong unit, fails the scrape.
func TestLintCatchesNamingProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want string
	}{
		{"counter without _total", prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_created", Help: "x"}), `counter metrics should have "_total" suffix`},
		{"milliseconds", prometheus.NewGauge(prometheus.GaugeOpts{Name: "wait_milliseconds", Help: "x"}), "use base unit"},
		{"camel case", prometheus.NewGauge(prometheus.GaugeOpts{Name: "queueDepth", Help: "x"}), "snake_case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(tc.c)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			s := metricstest.Snapshot{}
			for _, mf := range mfs {
				s[mf.GetName()] = mf
			}
			if err := metricstest.Lint(s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Lint = %v, want a problem saying %q", err, tc.want)
			}
		})
	}
}

func TestRegisterReturnsTheExistingCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "orders_created_total", Help: "Orders created."}
	a := metrics.Register(reg, prometheus.NewCounter(opts))
	b := metrics.Register(reg, prometheus.NewCounter(opts))
	a.Inc()
	b.Inc()
	if got := metricstest.Gather(t, reg).Value(t, "orders_created_total"); got != 2 {
		t.Fatalf("got %v, want 2: both callers share one counter", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a conflicting definition did not panic")
		}
	}()
	metrics.Register(reg, prometheus.NewCounterVec(opts, []string{"reason"}))
}

func TestInitCreatesZeroSeries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	vec := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "worker_commands_total", Help: "x"}, []string{"outcome"}))
	metrics.Init(vec, "confirmed", "rejected", "retried")
	s := metricstest.Gather(t, reg)
	for _, o := range []string{"confirmed", "rejected", "retried"} {
		if got := s.Value(t, "worker_commands_total", "outcome", o); got != 0 {
			t.Errorf("outcome %s = %v, want 0", o, got)
		}
	}
}

// The collector shows what sqldb.InTx did. Not parallel: the counters are process-wide, and this
// test asserts exact deltas.
func TestTxRetries(t *testing.T) {
	db := dbtest.New(t, "orders")
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.TxRetries())
	before := metricstest.Gather(t, reg)

	// Deadlocked once (the driver error InnoDB sends), committed on the second attempt.
	attempts := 0
	err := sqldb.InTx(context.Background(), db.DB, func(tx *sql.Tx) error {
		if attempts++; attempts == 1 {
			return &mysql.MySQLError{Number: sqldb.ErrDeadlock, Message: "Deadlock found when trying to get lock"}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := metricstest.Gather(t, reg)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sqldb_tx_retries_total", nil, 1},
		{"sqldb_tx_lock_conflicts_total", []string{"outcome", "recovered"}, 1},
		{"sqldb_tx_lock_conflicts_total", []string{"outcome", "exhausted"}, 0},
	} {
		if d := after.Value(t, tc.name, tc.labels...) - before.Value(t, tc.name, tc.labels...); d != tc.want {
			t.Errorf("%s%v went up by %v, want %v", tc.name, tc.labels, d, tc.want)
		}
	}
}
