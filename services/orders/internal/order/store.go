package order

import (
	"context"
	"errors"
	"time"

	"github.com/b2b/backoffice/events"
)

// Store keeps products, orders, idempotency keys and order requests. Reads and the product writes are
// methods of their own; every change of an order runs as a transaction of Tx steps (InTx) that a use
// case composes, so the use case, not the store, decides what a change writes and which events it
// publishes.
type Store interface {
	// InTx runs fn in one transaction and commits it. fn may run more than once (a deadlock is retried
	// from the start), so it keeps no state across runs.
	InTx(ctx context.Context, fn func(Tx) error) error

	// CreateProduct inserts p and the audit record of its creation (a, without the id) atomically.
	CreateProduct(ctx context.Context, p Product, a Audit) (Product, error)
	Product(ctx context.Context, id int64) (Product, error)
	Products(ctx context.Context, q ProductQuery) ([]Product, error)
	// PatchProduct applies p to product id at a.By.At and writes the audit record a atomically.
	PatchProduct(ctx context.Context, id int64, p ProductPatch, a Audit) (Product, error)

	Order(ctx context.Context, id int64) (Order, error)
	Orders(ctx context.Context, q Query) ([]Order, error)
	Request(ctx context.Context, key string) (Request, error)
	// Answer returns the stored answer of key, completed and unexpired at k.At; ok is false otherwise.
	Answer(ctx context.Context, k Key) (a Answer, ok bool, err error)
	// PurgeKeys deletes the keys expired at now and returns how many.
	PurgeKeys(ctx context.Context, now time.Time) (int64, error)
}

// Tx is the steps of one transaction. Steps that lock rows say so; locks are held until the end of
// the transaction, so a use case takes them as late as it can and never across a network call.
type Tx interface {
	// ClaimKey makes k this transaction's. A completed, unexpired key returns its answer (ok true) —
	// or ErrIdempotencyKeyReused when it was used for another request or target; an expired one is
	// forgotten and claimed anew. A concurrent transaction that claimed the same key makes this one
	// wait, and its commit makes ClaimKey fail with ErrKeyRace: run the transaction again to replay.
	ClaimKey(ctx context.Context, k Key) (a Answer, ok bool, err error)
	// CompleteKey stores the answer of the key this transaction claimed.
	CompleteKey(ctx context.Context, k Key, targetID int64, body []byte) error

	// Products returns the products with ids (those that exist), without locking them.
	Products(ctx context.Context, ids []int64) (map[int64]Product, error)
	// LockProducts returns the products with ids (those that exist), locked in ascending id order in one
	// statement: every stock writer locks in that order, so they never deadlock each other.
	LockProducts(ctx context.Context, ids []int64) (map[int64]Product, error)
	// TakeStock takes each item's quantity from its product, in the items' (ascending product) order, on
	// condition that the product still has that much stock and still sells at the item's unit price. ok
	// is false, and nothing is taken that the transaction keeps, when a condition failed: the products
	// changed since they were read.
	TakeStock(ctx context.Context, items []Item, at time.Time) (ok bool, err error)
	// RestoreStock gives the items' quantities back to their products.
	RestoreStock(ctx context.Context, items []Item, at time.Time) error

	// InsertOrder inserts o and its items and sets o.ID.
	InsertOrder(ctx context.Context, o *Order) error
	// LockOrder returns an order with its items, its row locked.
	LockOrder(ctx context.Context, id int64) (Order, error)
	// SaveOrder writes the status, version and timestamps of a locked order.
	SaveOrder(ctx context.Context, o Order) error

	// InsertRequest records a new order request; ErrRequestExists when one with its key is recorded.
	InsertRequest(ctx context.Context, r Request, at time.Time) error
	// LinkRequest records the order made for the PROCESSING request key.
	LinkRequest(ctx context.Context, key string, orderID int64, at time.Time) error
	// FinishRequest moves the request key from PROCESSING to status (CONFIRMED, or REJECTED with e);
	// changed is false when it was not PROCESSING.
	FinishRequest(ctx context.Context, key, status string, e *events.Error, at time.Time) (changed bool, err error)

	// Publish writes events to the outbox. Call it last, after the row that locks the aggregate, so
	// an aggregate's events leave in the order they were committed.
	Publish(ctx context.Context, evs ...events.Envelope) error

	// Audit writes the record of a change.
	Audit(ctx context.Context, a Audit) error
}

// What the audit log records changes of.
const (
	EntityProduct = "product"
	EntityOrder   = "order"
)

// Audit actions of products. Orders' are their event types (events.OrderCreated, ...).
const (
	ActionProductCreated = "product.created"
	ActionProductUpdated = "product.updated"
)

// Audit is the record of one change: Action on the Entity with ID, made as By says (who, when, under
// which correlation id).
type Audit struct {
	Entity string
	ID     int64
	Action string
	By     Origin
}

// ErrKeyRace means a concurrent transaction committed the same idempotency key while this one ran:
// running this one again replays the answer the other stored.
var ErrKeyRace = errors.New("idempotency key claimed concurrently")

// ErrRequestExists is returned when an order request with the key is already recorded (typically by a
// concurrent delivery of the same command).
var ErrRequestExists = errors.New("order request already recorded")

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

// Answer is what a completed key stored: the hash of the request it was used for, the target it acted
// on and the exact response body.
type Answer struct {
	Hash     string
	TargetID int64
	Body     []byte
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
	PriceCents *int64
	Stock      *int
}

// Customers checks customers in customers-api.
type Customers interface {
	// Verify returns nil when the customer exists, a business error (an apperr 4xx such as
	// CUSTOMER_NOT_FOUND) when it does not, and any other error when the answer could not be had.
	Verify(ctx context.Context, id int64) error
}
