package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/logging"
)

// Idempotency scopes: a key is unique within its operation.
const (
	ScopeCreate  = "create"
	ScopeConfirm = "confirm"
)

// Key is an idempotency key as the store records it: the key, what it was used for (hash of the
// request and, for confirm, the target order) and when it expires.
type Key struct {
	Scope     string
	Value     string
	Hash      string
	TargetID  int64 // 0 when the operation makes the target (create)
	At        time.Time
	ExpiresAt time.Time
}

// Outcome is the answer of an idempotent operation: the order and the exact response body stored with
// the key, so a replay is byte for byte the first answer.
type Outcome struct {
	Order    Order
	Body     []byte
	Replayed bool
}

// NewOrder is everything the store needs to create an order in one transaction.
type NewOrder struct {
	CustomerID    int64
	Lines         []events.LineItem // merged and sorted by ValidateLines
	At            time.Time
	CorrelationID string
	// Key, when set, is the REST Idempotency-Key recorded with the order.
	Key *Key
	// Request, when set, is the PlaceOrder request recorded PROCESSING with the order.
	Request *Request
}

// Change is one state change of an existing order, applied under its row lock.
type Change struct {
	OrderID       int64
	At            time.Time
	CorrelationID string
	// Apply runs the domain rule on the locked order and reports whether it changed it. A change to
	// CANCELED restores the stock of the order's items.
	Apply func(*Order) (bool, error)
	// Event is the type of the event published when Apply reports a change.
	Event string
	// Key, when set, is the idempotency key recorded with the answer.
	Key *Key
	// RequestKey, when set, is the order request marked CONFIRMED in the same transaction.
	RequestKey string
}

// Query filters and pages a list of orders.
type Query struct {
	Status     string
	CustomerID int64
	From       *time.Time // created_at >= From
	Before     *time.Time // created_at < Before
	AfterID    int64
	Limit      int // rows to fetch
}

// ProductQuery filters and pages a list of products.
type ProductQuery struct {
	Search  string // case-insensitive substring of sku or name
	AfterID int64
	Limit   int
}

// ProductPatch changes a product's price and/or stock.
type ProductPatch struct {
	PriceCents *int64 `json:"price_cents"`
	Stock      *int   `json:"stock"`
}

// Store keeps products, orders, idempotency keys, order requests and the outbox. Every method that
// changes an order publishes its event to the outbox in the same transaction.
type Store interface {
	CreateProduct(ctx context.Context, p Product) (Product, error)
	Product(ctx context.Context, id int64) (Product, error)
	Products(ctx context.Context, q ProductQuery) ([]Product, error)
	PatchProduct(ctx context.Context, id int64, p ProductPatch, at time.Time) (Product, error)

	// Create locks the products of n in ascending id order, checks them with Build, decrements the stock
	// and inserts the order, its items, n.Key or n.Request and order.created, atomically. With a key
	// already completed it returns the stored answer (Replayed). With a request that already exists it
	// returns ErrRequestExists.
	Create(ctx context.Context, n NewOrder) (Outcome, error)
	// Replay returns the stored answer of a completed, unexpired key, or ok false.
	Replay(ctx context.Context, k Key) (Outcome, bool, error)
	Order(ctx context.Context, id int64) (Order, error)
	Orders(ctx context.Context, q Query) ([]Order, error)
	Update(ctx context.Context, c Change) (Outcome, error)
	PurgeKeys(ctx context.Context, now time.Time) (int64, error)

	Request(ctx context.Context, key string) (Request, error)
	// Reject records a new request REJECTED with order.rejected; ErrRequestExists when it is known.
	Reject(ctx context.Context, r Request, items []events.LineItem, at time.Time) error
	// RejectProcessing turns a PROCESSING request REJECTED with order.rejected.
	RejectProcessing(ctx context.Context, r Request, items []events.LineItem, at time.Time) error
}

// Customers checks customers in customers-api.
type Customers interface {
	// Verify returns nil when the customer exists, a business error (an apperr 4xx such as
	// CUSTOMER_NOT_FOUND) when it does not, and any other error when the answer could not be had.
	Verify(ctx context.Context, id int64) error
}

// Service runs the use cases of orders-api and the orders-worker.
type Service struct {
	Store     Store
	Customers Customers
	// CancelWindow is how long after its confirmation an order may still be canceled.
	CancelWindow time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered.
	IdempotencyTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// AfterCreate, when set, runs in PlaceOrder between the create and the confirm transaction. It is a
	// test seam: the crash-recovery tests stop the process there.
	AfterCreate func()
}

// Defaults of the Service's settings.
const (
	DefaultCancelWindow   = 10 * time.Minute
	DefaultIdempotencyTTL = 24 * time.Hour
)

func (s *Service) now() time.Time {
	n := time.Now
	if s.Now != nil {
		n = s.Now
	}
	// The database keeps microseconds: truncating here makes an answer equal to a later read.
	return n().UTC().Truncate(time.Microsecond)
}

func (s *Service) ttl() time.Duration {
	if s.IdempotencyTTL > 0 {
		return s.IdempotencyTTL
	}
	return DefaultIdempotencyTTL
}

func (s *Service) cancelWindow() time.Duration {
	if s.CancelWindow > 0 {
		return s.CancelWindow
	}
	return DefaultCancelWindow
}

// CreateProduct adds a product.
func (s *Service) CreateProduct(ctx context.Context, p Product) (Product, error) {
	var fe []apperr.FieldError
	// Both columns count characters, not bytes.
	if n := utf8.RuneCountInString(p.SKU); n < 1 || n > 64 {
		fe = append(fe, apperr.FieldError{Field: "sku", Message: "must be 1 to 64 characters"})
	}
	if n := utf8.RuneCountInString(p.Name); n < 1 || n > 200 {
		fe = append(fe, apperr.FieldError{Field: "name", Message: "must be 1 to 200 characters"})
	}
	fe = checkPriceStock(fe, &p.PriceCents, &p.Stock)
	if len(fe) > 0 {
		return Product{}, apperr.Validation(fe...)
	}
	p.CreatedAt = s.now()
	p.UpdatedAt = p.CreatedAt
	return s.Store.CreateProduct(ctx, p)
}

// Product returns one product.
func (s *Service) Product(ctx context.Context, id int64) (Product, error) {
	return s.Store.Product(ctx, id)
}

// Products returns a page of products (q.Limit rows plus one to tell whether more exist).
func (s *Service) Products(ctx context.Context, q ProductQuery) ([]Product, error) {
	return s.Store.Products(ctx, q)
}

// PatchProduct changes a product's price and/or stock.
func (s *Service) PatchProduct(ctx context.Context, id int64, p ProductPatch) (Product, error) {
	if p.PriceCents == nil && p.Stock == nil {
		return Product{}, errInvalidPatchEmptyFields
	}
	if fe := checkPriceStock(nil, p.PriceCents, p.Stock); len(fe) > 0 {
		return Product{}, apperr.Validation(fe...)
	}
	return s.Store.PatchProduct(ctx, id, p, s.now())
}

// checkPriceStock checks the price and the stock that are set (not nil) against their ranges.
func checkPriceStock(fe []apperr.FieldError, price *int64, stock *int) []apperr.FieldError {
	if price != nil && (*price < 0 || *price > MaxPriceCents) {
		fe = append(fe, apperr.FieldError{Field: "price_cents", Message: fmt.Sprintf("must be from 0 to %d", int64(MaxPriceCents))})
	}
	if stock != nil && (*stock < 0 || *stock > MaxStock) {
		fe = append(fe, apperr.FieldError{Field: "stock", Message: fmt.Sprintf("must be from 0 to %d", MaxStock)})
	}
	return fe
}

// CreateInput is a new order as a client asks for it.
type CreateInput struct {
	CustomerID int64             `json:"customer_id"`
	Items      []events.LineItem `json:"items"`
}

func (in CreateInput) validate() ([]events.LineItem, error) {
	lines, err := ValidateLines(in.Items)
	if in.CustomerID <= 0 {
		cust := apperr.FieldError{Field: "customer_id", Message: "must be a positive integer"}
		if e := apperr.As(err); e != nil {
			return nil, apperr.Validation(append([]apperr.FieldError{cust}, fieldErrors(e)...)...)
		}
		return nil, apperr.Validation(cust)
	}
	return lines, err
}

func fieldErrors(e *apperr.Error) []apperr.FieldError {
	out := make([]apperr.FieldError, 0, len(e.Details))
	for _, d := range e.Details {
		if f, ok := d.(apperr.FieldError); ok {
			out = append(out, f)
		}
	}
	return out
}

// CreateOrder creates an order: the customer is checked in customers-api first (never while holding
// row locks), then one transaction takes the stock and records the order with order.created. A
// non-empty key makes it idempotent: the same key and body replay the first answer.
func (s *Service) CreateOrder(ctx context.Context, in CreateInput, key string) (Outcome, error) {
	lines, err := in.validate()
	if err != nil {
		return Outcome{}, err
	}
	n := NewOrder{CustomerID: in.CustomerID, Lines: lines, At: s.now(), CorrelationID: logging.CorrelationID(ctx)}
	if key != "" {
		if !events.ValidKey(key) {
			return Outcome{}, ErrIdempotencyKeyInvalid
		}
		n.Key = &Key{Scope: ScopeCreate, Value: key, Hash: events.RequestHash(in.CustomerID, lines), At: n.At, ExpiresAt: n.At.Add(s.ttl())}
		// A completed key answers without asking customers-api again.
		if out, ok, err := s.Store.Replay(ctx, *n.Key); err != nil || ok {
			return out, err
		}
	}
	if err := s.Customers.Verify(ctx, in.CustomerID); err != nil {
		return Outcome{}, err
	}
	return s.Store.Create(ctx, n)
}

// Order returns an order with its items.
func (s *Service) Order(ctx context.Context, id int64) (Order, error) { return s.Store.Order(ctx, id) }

// Orders returns a page of orders without items (q.Limit rows).
func (s *Service) Orders(ctx context.Context, q Query) ([]Order, error) {
	if q.Status != "" && q.Status != StatusCreated && q.Status != StatusConfirmed && q.Status != StatusCanceled {
		return nil, ErrInvalidStatus
	}
	return s.Store.Orders(ctx, q)
}

// Confirm confirms an order under an idempotency key: the key, the change, the stored answer and
// order.confirmed commit together. body is the request body, part of what the key stands for.
func (s *Service) Confirm(ctx context.Context, id int64, key string, body []byte) (Outcome, error) {
	if key == "" {
		return Outcome{}, ErrIdempotencyKeyRequired
	}
	if !events.ValidKey(key) {
		return Outcome{}, ErrIdempotencyKeyInvalid
	}
	now := s.now()
	sum := sha256.Sum256(body)
	return s.Store.Update(ctx, Change{
		OrderID: id, At: now, CorrelationID: logging.CorrelationID(ctx),
		Apply: func(o *Order) (bool, error) { return o.Confirm(now) },
		Event: events.OrderConfirmed,
		Key:   &Key{Scope: ScopeConfirm, Value: key, Hash: hex.EncodeToString(sum[:]), TargetID: id, At: now, ExpiresAt: now.Add(s.ttl())},
	})
}

// Cancel cancels an order and restores its stock, exactly once.
func (s *Service) Cancel(ctx context.Context, id int64) (Order, error) {
	now := s.now()
	out, err := s.Store.Update(ctx, Change{
		OrderID: id, At: now, CorrelationID: logging.CorrelationID(ctx),
		Apply: func(o *Order) (bool, error) { return o.Cancel(now, s.cancelWindow()) },
		Event: events.OrderCanceled,
	})
	return out.Order, err
}

// PurgeKeys deletes expired idempotency keys; after that they count as new.
func (s *Service) PurgeKeys(ctx context.Context) (int64, error) {
	return s.Store.PurgeKeys(ctx, s.now())
}

// Body encodes an order as the body of an answer.
func Body(o Order) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode order %d: %w", o.ID, err)
	}
	return b, nil
}
