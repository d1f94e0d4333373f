// Package ordermetrics counts the committed changes of orders for Prometheus: it is the order.Observer
// of orders-api and orders-worker, so the counters move when a change commits, never for a request
// that rolled back or replayed a stored answer.
package ordermetrics

import (
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/metrics"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Metrics are the order counters of one process:
//
//	orders_created_total, orders_confirmed_total, orders_canceled_total
//	orders_rejected_total{reason}        create-and-confirm requests rejected, by error code
//	orders_stock_conflicts_total         new orders refused for lack of stock (409 INSUFFICIENT_STOCK,
//	                                     or a request rejected for it)
//	outbox_events_written_total{type}    events committed to the outbox, by event type
//
// A process counts what it committed itself: orders-api the REST changes, orders-worker the
// create-and-confirm requests; sum() over both jobs gives the system's figures.
type Metrics struct {
	created, confirmed, canceled prometheus.Counter
	rejected                     *prometheus.CounterVec
	stockConflicts               prometheus.Counter
	written                      *prometheus.CounterVec
}

var _ order.Observer = (*Metrics)(nil)

// Reasons of rejection exported at 0 from the start, so alerts and rate() see them before the first.
var knownReasons = []string{"INSUFFICIENT_STOCK", "PRODUCT_NOT_FOUND", "CUSTOMER_NOT_FOUND", "VALIDATION_FAILED", "ORDER_NOT_CONFIRMABLE"}

// New registers the counters in reg.
func New(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
	}
	m := &Metrics{
		created:   counter("orders_created_total", "Orders created (committed with their order.created event)."),
		confirmed: counter("orders_confirmed_total", "Orders confirmed (committed with their order.confirmed event)."),
		canceled:  counter("orders_canceled_total", "Orders canceled (committed with their order.canceled event)."),
		rejected: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_rejected_total",
			Help: "Create-and-confirm requests rejected (committed with their order.rejected event), by error code.",
		}, []string{"reason"})),
		stockConflicts: counter("orders_stock_conflicts_total",
			"New orders refused because a product lacked the stock (INSUFFICIENT_STOCK), over REST or from a PlaceOrder command."),
		written: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_events_written_total",
			Help: "Events committed to the outbox, by event type.",
		}, []string{"type"})),
	}
	metrics.Init(m.rejected, knownReasons...)
	metrics.Init(m.written, events.OrderCreated, events.OrderConfirmed, events.OrderCanceled, events.OrderRejected)
	return m
}

// Committed counts the events of a committed change.
func (m *Metrics) Committed(evs []events.Envelope) {
	for _, ev := range evs {
		m.written.WithLabelValues(ev.Type).Inc()
		switch ev.Type {
		case events.OrderCreated:
			m.created.Inc()
		case events.OrderConfirmed:
			m.confirmed.Inc()
		case events.OrderCanceled:
			m.canceled.Inc()
		case events.OrderRejected:
			m.rejected.WithLabelValues(reason(ev)).Inc()
		}
	}
}

// StockConflict counts a new order refused for lack of stock.
func (m *Metrics) StockConflict() { m.stockConflicts.Inc() }

// reason is the error code an order.rejected carries. Codes are the stable UPPER_SNAKE constants of
// the domain errors, a small fixed set, so they are fit for a label value.
func reason(ev events.Envelope) string {
	var r events.Rejected
	if err := json.Unmarshal(ev.Data, &r); err != nil || r.Error.Code == "" {
		return "UNKNOWN"
	}
	return r.Error.Code
}
