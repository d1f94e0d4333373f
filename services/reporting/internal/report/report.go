// Package report is the reporting domain: what an order event does to the order projection, what the
// reports are and which questions about them are valid. It knows nothing of SQL, HTTP or queues.
//
// The projection keeps the latest snapshot of each order by aggregate_version. Every order event
// carries the whole order, so a snapshot replaces the stored one only when its version is higher, and
// the reports are computed from the snapshots when asked. Applying the events of a history in any
// order, any number of times, therefore leaves the same projection and gives the same answers as
// applying each once in order: order.canceled arriving before order.confirmed is simply the newer
// snapshot arriving first, and the confirmation is then stale.
package report

import (
	"context"
	"time"

	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/identity"
)

// Order statuses, as carried in the snapshots.
const (
	StatusCreated   = "CREATED"
	StatusConfirmed = "CONFIRMED"
	StatusCanceled  = "CANCELED"
)

// ErrCustomerNotFound answers a customer report for a customer with no order in the projection, and
// for a customer other than the one a caller is bound to.
var ErrCustomerNotFound = apperr.NotFound("CUSTOMER_NOT_FOUND", "no orders recorded for this customer")

// ErrOperatorsOnly refuses the reports across every customer (daily sales, top products) to a caller
// bound to one customer: they are the backoffice's figures, made of other customers' orders.
var ErrOperatorsOnly = apperr.Forbidden("FORBIDDEN", "reports across all customers are for the backoffice; an access token bound to a customer reads only its own customer report")

// Order is the projection's copy of one order: its snapshot at Version.
type Order struct {
	ID          int64
	CustomerID  int64
	Status      string
	TotalCents  int64
	Items       []Item
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	CanceledAt  *time.Time
	// Version is the aggregate_version of the event that carried the snapshot.
	Version int
}

// Item is one line of an order.
type Item struct {
	ProductID      int64
	Qty            int
	UnitPriceCents int64
	SubtotalCents  int64
}

// Units is the number of units the order holds, over all its lines.
func (o Order) Units() int64 {
	var n int64
	for _, it := range o.Items {
		n += int64(it.Qty)
	}
	return n
}

// Replaces reports whether o takes the place of a stored snapshot of the same order at version stored.
// Only a strictly newer version does: a replayed event (equal version) and a late one (lower version)
// change nothing, which is what makes the projection indifferent to duplicates and delivery order.
func (o Order) Replaces(stored int) bool { return o.Version > stored }

// Event is an order event as reporting applies it (see Decode).
type Event struct {
	ID               string
	Type             string
	AggregateType    string
	AggregateID      string
	AggregateVersion int
	OccurredAt       time.Time
	CorrelationID    string
	// Order is the snapshot carried by order.created, order.confirmed and order.canceled. It is nil for
	// events that are recorded without changing the projection (order.rejected: no order exists).
	Order *Order
}

// Outcome says what applying an event did.
type Outcome string

// Outcomes of Apply.
const (
	// Applied: the event's snapshot is now the projection's copy of the order.
	Applied Outcome = "applied"
	// Stale: the projection already held this version of the order or a newer one; only the inbox changed.
	Stale Outcome = "stale"
	// Recorded: an event without a snapshot (order.rejected), recorded in the inbox.
	Recorded Outcome = "recorded"
	// Duplicate: the event had been processed before; nothing changed.
	Duplicate Outcome = "duplicate"
)

// Day is one row of the daily sales report: the activity of one UTC day.
type Day struct {
	// Date is the day, at 00:00 UTC.
	Date time.Time
	// OrdersConfirmed counts the orders confirmed that day, including those canceled since.
	OrdersConfirmed int
	// OrdersCanceled counts the orders canceled that day, whether they had been confirmed or not.
	OrdersCanceled int
	// Units and RevenueCents are those of the orders confirmed that day and not canceled since.
	Units        int64
	RevenueCents int64
}

// ProductSales is one row of the top products report.
type ProductSales struct {
	ProductID    int64
	Units        int64
	RevenueCents int64
	// Orders counts the orders holding the product.
	Orders int
}

// CustomerSummary is the customer report: every order of the customer the projection knows.
type CustomerSummary struct {
	CustomerID int64
	// Orders counts all orders, whatever their status.
	Orders int
	// OrdersConfirmed counts the orders that were confirmed, including those canceled since;
	// OrdersCanceled the orders canceled, whether they had been confirmed or not.
	OrdersConfirmed int
	OrdersCanceled  int
	// Units and RevenueCents are those of the orders confirmed and not canceled.
	Units        int64
	RevenueCents int64
	// FirstOrderAt and LastOrderAt are the creation times of the customer's first and last order.
	FirstOrderAt time.Time
	LastOrderAt  time.Time
}

// Store keeps the projection and answers the reports. Every report comes with the time of the newest
// event applied (nil before the first), read in the same consistent snapshot as the report.
type Store interface {
	// Apply processes ev exactly once: unless ev.ID is in the inbox already (Duplicate), it stores
	// ev.Order when ev.Order.Replaces the stored snapshot and records ev.ID in the inbox, in one
	// transaction, so a failure at any point leaves neither the effect nor the inbox row.
	Apply(ctx context.Context, ev Event) (Outcome, error)
	DailySales(ctx context.Context, r Range) ([]Day, *time.Time, error)
	TopProducts(ctx context.Context, r Range, limit int) ([]ProductSales, *time.Time, error)
	// Customer returns ErrCustomerNotFound when the customer has no order.
	Customer(ctx context.Context, customerID int64) (CustomerSummary, *time.Time, error)
}

// Service runs the use cases of reporting: applying events and answering reports.
type Service struct {
	store Store
}

// NewService returns a Service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// Apply applies one decoded event to the projection.
func (s *Service) Apply(ctx context.Context, ev Event) (Outcome, error) {
	return s.store.Apply(ctx, ev)
}

// DailySales is the daily sales report over a range.
type DailySales struct {
	Range Range
	AsOf  *time.Time
	Days  []Day
}

// DailySales answers the daily sales report for the UTC dates from..to (YYYY-MM-DD, inclusive), to an
// operator.
func (s *Service) DailySales(ctx context.Context, who identity.Caller, from, to string) (DailySales, error) {
	if !who.Operator() {
		return DailySales{}, ErrOperatorsOnly
	}
	r, err := NewRange(from, to)
	if err != nil {
		return DailySales{}, err
	}
	days, asOf, err := s.store.DailySales(ctx, r)
	if err != nil {
		return DailySales{}, err
	}
	return DailySales{Range: r, AsOf: asOf, Days: days}, nil
}

// TopProducts is the top products report over a range.
type TopProducts struct {
	Range    Range
	Limit    int
	AsOf     *time.Time
	Products []ProductSales
}

// TopProducts answers the best-selling products of the orders confirmed from..to and not canceled, by
// units and then revenue; limit is "" (DefaultLimit) or 1..MaxLimit. Only an operator may ask.
func (s *Service) TopProducts(ctx context.Context, who identity.Caller, from, to, limit string) (TopProducts, error) {
	if !who.Operator() {
		return TopProducts{}, ErrOperatorsOnly
	}
	r, rangeErr := NewRange(from, to)
	n, limitErr := ParseLimit(limit)
	if err := joinValidation(rangeErr, limitErr); err != nil {
		return TopProducts{}, err
	}
	rows, asOf, err := s.store.TopProducts(ctx, r, n)
	if err != nil {
		return TopProducts{}, err
	}
	return TopProducts{Range: r, Limit: n, AsOf: asOf, Products: rows}, nil
}

// Customer answers the customer report, if who may see that customer: another customer than the one a
// caller is bound to is ErrCustomerNotFound, as a customer without orders is.
func (s *Service) Customer(ctx context.Context, who identity.Caller, customerID int64) (CustomerSummary, *time.Time, error) {
	if !who.Sees(customerID) {
		return CustomerSummary{}, nil, ErrCustomerNotFound
	}
	return s.store.Customer(ctx, customerID)
}
