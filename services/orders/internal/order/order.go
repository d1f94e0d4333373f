// Package order is the orders domain: products, orders and their state machine, order requests, the
// rules that check a request against stock, the events each change publishes, and the Service that runs
// the use cases of orders-api and the orders-worker's transactions. It knows nothing of HTTP or SQL: the
// store and the customers client plug in through the Store, Tx and Customers interfaces, and wire shapes
// live in the api package.
package order

import (
	"fmt"
	"math"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
)

// Order statuses.
const (
	StatusCreated   = "CREATED"
	StatusConfirmed = "CONFIRMED"
	StatusCanceled  = "CANCELED"
)

// ValidStatus reports whether s is one of the order statuses.
func ValidStatus(s string) bool {
	return s == StatusCreated || s == StatusConfirmed || s == StatusCanceled
}

// Limits of an order request: the wire contract's, shared with the orchestrator.
const (
	MaxLines = events.MaxItems
	MaxQty   = events.MaxQty
)

// Limits of a product, and of a product search. MaxPriceCents keeps every total of an order (MaxLines
// lines of MaxQty units) far inside int64; MaxStock keeps the stock inside the INT column with room for
// the stock that cancellations give back.
const (
	MaxPriceCents = 1_000_000_000_000 // 10 000 000 000.00
	MaxStock      = 1_000_000_000
	MaxSKULen     = 64  // characters
	MaxNameLen    = 200 // characters
	MaxSearchLen  = 200 // characters
)

// Item is one line of an order.
type Item struct {
	ProductID      int64
	Qty            int
	UnitPriceCents int64
	SubtotalCents  int64
}

// Order is an order with its items (lists leave Items empty).
type Order struct {
	ID          int64
	CustomerID  int64
	Status      string
	TotalCents  int64
	Items       []Item
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	CanceledAt  *time.Time
	// Version is the aggregate_version of the order's latest event: 1 when created, +1 per change.
	Version int
}

// Product is a sellable product with its stock.
type Product struct {
	ID         int64
	SKU        string
	Name       string
	PriceCents int64
	Stock      int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Origin is what every change carries into its event and its audit record: when it happened, the
// correlation id of the request or command behind it, and who made it (the caller's actor and the
// customer the caller is bound to, 0 for an operator).
type Origin struct {
	At              time.Time
	CorrelationID   string
	Actor           string
	ActorCustomerID int64
}

// ValidateLines checks the lines of a new order with the wire contract's rules (events.ValidateItems)
// and returns them merged by product and sorted by product id, the order in which their rows are locked.
func ValidateLines(items []events.LineItem) ([]events.LineItem, error) {
	lines, problems := events.ValidateItems(items)
	if len(problems) > 0 {
		return nil, validation(problems)
	}
	return lines, nil
}

func validation(problems []events.FieldProblem) error {
	fe := make([]apperr.FieldError, len(problems))
	for i, p := range problems {
		fe[i] = apperr.FieldError{Field: p.Field, Message: p.Message}
	}
	return apperr.Validation(fe...)
}

// Build checks merged lines against the locked products and returns the new order (without id), or
// PRODUCT_NOT_FOUND naming every unknown product, or INSUFFICIENT_STOCK listing every short line.
func Build(customerID int64, lines []events.LineItem, products map[int64]Product, now time.Time) (Order, error) {
	var missing, short []any
	o := Order{CustomerID: customerID, Status: StatusCreated, CreatedAt: now, Version: 1}
	for _, l := range lines {
		p, ok := products[l.ProductID]
		if !ok {
			missing = append(missing, MissingProduct{ProductID: l.ProductID})
			continue
		}
		if p.Stock < l.Qty {
			short = append(short, Shortage{ProductID: l.ProductID, Requested: l.Qty, Available: p.Stock})
		}
		sub, ok := mulCents(p.PriceCents, int64(l.Qty))
		if ok {
			o.TotalCents, ok = addCents(o.TotalCents, sub)
		}
		if !ok {
			// Only a price written around the API's limits gets here; a wrapped total must never be stored.
			return Order{}, fmt.Errorf("order total overflows at product %d (price %d, qty %d)", l.ProductID, p.PriceCents, l.Qty)
		}
		o.Items = append(o.Items, Item{ProductID: l.ProductID, Qty: l.Qty, UnitPriceCents: p.PriceCents, SubtotalCents: sub})
	}
	if len(missing) > 0 {
		return Order{}, ErrProductNotFound.WithDetails(missing...)
	}
	if len(short) > 0 {
		return Order{}, ErrInsufficientStock.WithDetails(short...)
	}
	return o, nil
}

// Created returns the event of a new order: order.created at version 1. The order must have its id.
func (o Order) Created(by Origin) (events.Envelope, error) {
	return o.event(events.OrderCreated, by)
}

// Confirm moves a CREATED order to CONFIRMED and returns the event of the change. An order already
// CONFIRMED stays as it is and returns no event; a CANCELED one can not be confirmed.
func (o *Order) Confirm(by Origin) ([]events.Envelope, error) {
	switch o.Status {
	case StatusConfirmed:
		return nil, nil
	case StatusCanceled:
		return nil, ErrNotConfirmable
	}
	at := by.At
	o.Status, o.ConfirmedAt = StatusConfirmed, &at
	o.Version++
	return o.events(events.OrderConfirmed, by)
}

// Cancel moves an order to CANCELED and returns the event of the change: a CREATED order always, a
// CONFIRMED one only within window of its confirmation. An order already CANCELED stays as it is and
// returns no event, so its stock is never restored twice. The caller gives the items' stock back when
// there is an event.
func (o *Order) Cancel(by Origin, window time.Duration) ([]events.Envelope, error) {
	switch o.Status {
	case StatusCanceled:
		return nil, nil
	case StatusConfirmed:
		if o.ConfirmedAt == nil || by.At.Sub(*o.ConfirmedAt) > window {
			return nil, ErrCancelWindowExpired
		}
	}
	at := by.At
	o.Status, o.CanceledAt = StatusCanceled, &at
	o.Version++
	return o.events(events.OrderCanceled, by)
}

func (o Order) events(typ string, by Origin) ([]events.Envelope, error) {
	ev, err := o.event(typ, by)
	if err != nil {
		return nil, err
	}
	return []events.Envelope{ev}, nil
}

func (o Order) event(typ string, by Origin) (events.Envelope, error) {
	ev, err := events.NewOrderEvent(typ, o.Snapshot(), o.Version, by.CorrelationID, by.At)
	ev.Actor = by.Actor
	return ev, err
}

// Snapshot is the order as events and the internal order-request route carry it.
func (o Order) Snapshot() events.Order {
	items := make([]events.Item, len(o.Items))
	for i, it := range o.Items {
		items[i] = events.Item{ProductID: it.ProductID, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents, SubtotalCents: it.SubtotalCents}
	}
	return events.Order{
		ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, TotalCents: o.TotalCents, Items: items,
		CreatedAt: o.CreatedAt, ConfirmedAt: o.ConfirmedAt, CanceledAt: o.CanceledAt,
	}
}

// Lines returns the order's items as request lines (product and quantity).
func (o Order) Lines() []events.LineItem {
	lines := make([]events.LineItem, len(o.Items))
	for i, it := range o.Items {
		lines[i] = events.LineItem{ProductID: it.ProductID, Qty: it.Qty}
	}
	return lines
}

func mulCents(price, qty int64) (int64, bool) {
	if price < 0 || qty < 0 || (qty != 0 && price > math.MaxInt64/qty) {
		return 0, false
	}
	return price * qty, true
}

func addCents(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}
