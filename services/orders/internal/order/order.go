// Package order is the orders domain: products, orders and their state machine, order requests, the
// rules that check a request against stock, and the Service that runs every use case of orders-api and
// the orders-worker. It knows nothing of HTTP or SQL: the store and the customers client plug in through
// the Store and Customers interfaces.
package order

import (
	"fmt"
	"math"
	"strconv"
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

// Limits of an order request: the wire contract's, shared with the orchestrator.
const (
	MaxLines = events.MaxItems
	MaxQty   = events.MaxQty
)

// Limits of a product. MaxPriceCents keeps every total of an order (MaxLines lines of MaxQty units)
// far inside int64; MaxStock keeps the stock inside the INT column with room for the stock that
// cancellations give back.
const (
	MaxPriceCents = 1_000_000_000_000 // 10 000 000 000.00
	MaxStock      = 1_000_000_000
)

// Item is one line of an order.
type Item struct {
	ProductID      int64 `json:"product_id"`
	Qty            int   `json:"qty"`
	UnitPriceCents int64 `json:"unit_price_cents"`
	SubtotalCents  int64 `json:"subtotal_cents"`
}

// Order is an order as the API shows it. Items is empty in lists.
type Order struct {
	ID          int64      `json:"id"`
	CustomerID  int64      `json:"customer_id"`
	Status      string     `json:"status"`
	TotalCents  int64      `json:"total_cents"`
	Items       []Item     `json:"items,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	CanceledAt  *time.Time `json:"canceled_at"`
	// Version is the aggregate_version of the order's latest event: 1 when created, +1 per change.
	Version int `json:"-"`
}

// Product is a sellable product with its stock.
type Product struct {
	ID         int64     `json:"id"`
	SKU        string    `json:"sku"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int       `json:"stock"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Shortage is one detail of INSUFFICIENT_STOCK.
type Shortage struct {
	ProductID int64 `json:"product_id"`
	Requested int   `json:"requested"`
	Available int   `json:"available"`
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
			missing = append(missing, map[string]int64{"product_id": l.ProductID})
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

// Confirm moves a CREATED order to CONFIRMED. It reports whether anything changed: an order that is
// already CONFIRMED stays as it is (no new event), a CANCELED one can not be confirmed.
func (o *Order) Confirm(now time.Time) (bool, error) {
	switch o.Status {
	case StatusConfirmed:
		return false, nil
	case StatusCanceled:
		return false, ErrNotConfirmable
	}
	o.Status, o.ConfirmedAt = StatusConfirmed, &now
	o.Version++
	return true, nil
}

// Cancel moves an order to CANCELED: a CREATED one always, a CONFIRMED one only within window of its
// confirmation. An order already CANCELED stays as it is, so its stock is never restored twice. The
// caller restores the stock of the items when it reports a change.
func (o *Order) Cancel(now time.Time, window time.Duration) (bool, error) {
	switch o.Status {
	case StatusCanceled:
		return false, nil
	case StatusConfirmed:
		if o.ConfirmedAt == nil || now.Sub(*o.ConfirmedAt) > window {
			return false, ErrCancelWindowExpired
		}
	}
	o.Status, o.CanceledAt = StatusCanceled, &now
	o.Version++
	return true, nil
}

// Snapshot is the order as carried in events.
func (o Order) Snapshot() events.Order {
	items := make([]events.Item, len(o.Items))
	for i, it := range o.Items {
		items[i] = events.Item(it)
	}
	return events.Order{
		ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, TotalCents: o.TotalCents, Items: items,
		CreatedAt: o.CreatedAt, ConfirmedAt: o.ConfirmedAt, CanceledAt: o.CanceledAt,
	}
}

// Event returns the event typ of the order at its current version.
func (o Order) Event(typ, correlationID string, at time.Time) (events.Envelope, error) {
	return events.NewOrderEvent(typ, o.Snapshot(), o.Version, correlationID, at)
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

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
