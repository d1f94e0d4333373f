// Package metrics is the Prometheus plumbing every process shares: its registry and /metrics handler,
// HTTP instrumentation by chi route, database pool and transaction retry collectors, pollers for SQS
// queue depth and outbox backlog, and the admin listener of processes without a public port.
//
// Each process builds one registry with NewRegistry in main and hands it down; nothing registers on
// prometheus.DefaultRegisterer, so tests build their own and run in parallel.
//
// Counters live with the code that counts them, as a struct built from a Registerer (relay.Metrics,
// orderworker.Metrics):
//
//	// Metrics count what a Relay does.
//	type Metrics struct {
//		sent     prometheus.Counter
//		failures *prometheus.CounterVec
//	}
//
//	func NewMetrics(reg prometheus.Registerer) *Metrics {
//		m := &Metrics{
//			sent: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
//				Name: "outbox_events_sent_total", Help: "Outbox events the destination accepted.",
//			})),
//			failures: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
//				Name: "outbox_send_failures_total", Help: "Outbox events a send failed for, by reason.",
//			}, []string{"reason"})),
//		}
//		metrics.Init(m.failures, "unavailable", "refused")
//		return m
//	}
//
// A domain package imports no Prometheus: it tells an observer interface of its own what happened
// (order.Observer), and a package beside it counts that (ordermetrics).
//
// Names follow the Prometheus conventions (base units, _total on counters) and label values come from
// small fixed sets, never from ids, paths or free text.
package metrics

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/b2b/backoffice/internal/sqldb"
)

// NewRegistry returns the registry of one process, holding the Go runtime, process and build info
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// Handler serves the metrics of reg in the Prometheus text format (GET /metrics), and counts its own
// scrapes in reg. A collector that fails does not fail the scrape: the rest is served and the failure
// is counted in promhttp_metric_handler_errors_total. OpenMetrics is not offered: Prometheus reads the
// text format, and nothing here uses exemplars or created timestamps.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg,
		ErrorHandling: promhttp.ContinueOnError,
		// A scrape must not pile up behind slow collectors; Prometheus retries on its next interval.
		MaxRequestsInFlight: 4,
	}))
}

// Register registers c in reg and returns it; when an identical collector is already registered it
// returns that one instead, so two parts of a process (two routers, a store built twice) share one
// series. A conflicting definition (same name, other labels or help) is a programming error and
// panics, like prometheus.MustRegister.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("metrics: register: %v", err))
	}
	return c
}

// Init creates a series of vec, a counter with one label, for each of values, at zero: rate() and
// alerts then see a 0 from the start instead of no series until the first event.
func Init(vec *prometheus.CounterVec, values ...string) {
	for _, v := range values {
		vec.WithLabelValues(v)
	}
}

// RegisterDB registers the connection pool statistics of db (go_sql_* with label db_name) in reg. name
// is the logical database ("orders"), not the server-side name, so series stay the same across
// environments and test databases.
func RegisterDB(reg prometheus.Registerer, db *sql.DB, name string) error {
	if err := reg.Register(collectors.NewDBStatsCollector(db, name)); err != nil {
		return fmt.Errorf("register database %s pool metrics: %w", name, err)
	}
	return nil
}

// TxRetries returns a collector of the deadlock and lock wait timeout handling of sqldb.InTx:
//
//	sqldb_tx_retries_total                        attempts run again
//	sqldb_tx_lock_conflicts_total{outcome}        transactions that hit one, by how they ended:
//	                                              "recovered" or "exhausted" (the error reached the caller)
//
// The two are separate families because they count different things (attempts, transactions): a sum
// over one family's labels stays meaningful. The counters are process-wide (InTx is a package
// function); register one collector per registry.
func TxRetries() prometheus.Collector {
	return &txRetries{
		retries: prometheus.NewDesc("sqldb_tx_retries_total",
			"Transaction attempts run again after a MySQL deadlock (1213) or lock wait timeout (1205).", nil, nil),
		conflicts: prometheus.NewDesc("sqldb_tx_lock_conflicts_total",
			"Transactions that hit a MySQL deadlock or lock wait timeout, by outcome: recovered (a later attempt ended without one) or exhausted (the error reached the caller).",
			[]string{"outcome"}, nil),
	}
}

type txRetries struct{ retries, conflicts *prometheus.Desc }

func (c *txRetries) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.retries
	ch <- c.conflicts
}

func (c *txRetries) Collect(ch chan<- prometheus.Metric) {
	s := sqldb.RetryCounts()
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retried))
	ch <- prometheus.MustNewConstMetric(c.conflicts, prometheus.CounterValue, float64(s.Recovered), "recovered")
	ch <- prometheus.MustNewConstMetric(c.conflicts, prometheus.CounterValue, float64(s.Exhausted), "exhausted")
}
