package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/apperr"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/logging"
)

// Defaults of the Service's settings.
const (
	DefaultCancelWindow   = 10 * time.Minute
	DefaultIdempotencyTTL = 24 * time.Hour
)

// Config tunes a Service. Zero values take the defaults.
type Config struct {
	// CancelWindow is how long after its confirmation an order may still be canceled.
	CancelWindow time.Duration
	// IdempotencyTTL is how long an idempotency key is remembered.
	IdempotencyTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Observer is told what committed (nothing when nil).
	Observer Observer
}

// Observer learns of the changes that committed, to count them. It is called after the commit, never
// for a transaction that rolled back, nor for a replayed answer; it must be quick and cannot fail.
type Observer interface {
	// Committed is told the events a committed transaction wrote to the outbox: order.created,
	// order.confirmed, order.canceled, order.rejected (with the error in its data).
	Committed(evs []events.Envelope)
	// StockConflict is told that a new order was refused for lack of stock (ErrInsufficientStock).
	StockConflict()
}

// Service runs the use cases of orders-api, and the transactions of the orders-worker's PlaceOrder.
type Service struct {
	store     Store
	customers Customers
	cfg       Config
}

// NewService returns the use cases over store, checking customers with customers.
func NewService(store Store, customers Customers, cfg Config) *Service {
	if cfg.CancelWindow <= 0 {
		cfg.CancelWindow = DefaultCancelWindow
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	return &Service{store: store, customers: customers, cfg: cfg}
}

type noObserver struct{}

func (noObserver) Committed([]events.Envelope) {}
func (noObserver) StockConflict()              {}

// inTx runs fn in a transaction of the store and, once it committed, tells the Observer the events fn
// published. fn may run more than once (deadlock retries): only the last run's events committed.
func (s *Service) inTx(ctx context.Context, fn func(Tx) error) error {
	var published []events.Envelope
	err := s.store.InTx(ctx, func(tx Tx) error {
		published = published[:0]
		return fn(publishedTx{Tx: tx, evs: &published})
	})
	if err == nil && len(published) > 0 {
		s.cfg.Observer.Committed(published)
	}
	return err
}

// publishedTx remembers the events published through it.
type publishedTx struct {
	Tx
	evs *[]events.Envelope
}

func (t publishedTx) Publish(ctx context.Context, evs ...events.Envelope) error {
	if err := t.Tx.Publish(ctx, evs...); err != nil {
		return err
	}
	*t.evs = append(*t.evs, evs...)
	return nil
}

// Render encodes an order as the body of an answer. Idempotent operations store that body with their
// key, in the transaction of the change, so that a replay is byte for byte the first answer; the caller
// (the api) says how an order is rendered.
type Render func(Order) ([]byte, error)

// Outcome is the answer of an idempotent operation. A fresh one has the order; a replay has only the
// target's id and the stored body.
type Outcome struct {
	ID       int64
	Order    Order
	Body     []byte
	Replayed bool
}

func (s *Service) now() time.Time {
	// The database keeps microseconds: truncating here makes an answer equal to a later read.
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// origin is the origin of a change made by who for the request in ctx. Every change records its actor,
// so a caller without one is refused (identity.ErrNoActor) before anything is written.
func (s *Service) origin(ctx context.Context, who identity.Caller) (Origin, error) {
	if err := who.CheckActor(); err != nil {
		return Origin{}, err
	}
	return Origin{At: s.now(), CorrelationID: logging.CorrelationID(ctx), Actor: who.Actor, ActorCustomerID: who.CustomerID}, nil
}

// productChange returns the origin of a product change by who, an operator: a caller bound to a
// customer may read products, never change them.
func (s *Service) productChange(ctx context.Context, who identity.Caller) (Origin, error) {
	if !who.Operator() {
		return Origin{}, ErrProductsReadOnly
	}
	return s.origin(ctx, who)
}

// CheckCustomer refuses (ErrOtherCustomer) an order for customerID by a caller bound to another
// customer.
func CheckCustomer(who identity.Caller, customerID int64) error {
	if !who.Sees(customerID) {
		return ErrOtherCustomer
	}
	return nil
}

// CreateProduct adds a product made by who, an operator; its sku and name are trimmed of spaces.
func (s *Service) CreateProduct(ctx context.Context, who identity.Caller, p Product) (Product, error) {
	by, err := s.productChange(ctx, who)
	if err != nil {
		return Product{}, err
	}
	var fe []apperr.FieldError
	for _, f := range []struct {
		name  string
		value *string
		max   int
	}{{"sku", &p.SKU, MaxSKULen}, {"name", &p.Name, MaxNameLen}} {
		if !ValidText(*f.value) {
			fe = append(fe, apperr.FieldError{Field: f.name, Message: textMessage})
			continue
		}
		*f.value = strings.TrimSpace(*f.value)
		// Both columns count characters, not bytes.
		if n := utf8.RuneCountInString(*f.value); n < 1 || n > f.max {
			fe = append(fe, apperr.FieldError{Field: f.name, Message: fmt.Sprintf("must be 1 to %d characters", f.max)})
		}
	}
	fe = checkPriceStock(fe, &p.PriceCents, &p.Stock)
	if len(fe) > 0 {
		return Product{}, apperr.Validation(fe...)
	}
	p.CreatedAt = by.At
	p.UpdatedAt = p.CreatedAt
	return s.store.CreateProduct(ctx, p, Audit{Entity: EntityProduct, Action: ActionProductCreated, By: by})
}

// Product returns one product.
func (s *Service) Product(ctx context.Context, id int64) (Product, error) {
	return s.store.Product(ctx, id)
}

// Products returns a page of products (q.Limit rows plus one to tell whether more exist). The search is
// trimmed of spaces.
func (s *Service) Products(ctx context.Context, q ProductQuery) ([]Product, error) {
	if !ValidText(q.Search) {
		return nil, apperr.Validation(apperr.FieldError{Field: "search", Message: textMessage})
	}
	q.Search = strings.TrimSpace(q.Search)
	if utf8.RuneCountInString(q.Search) > MaxSearchLen {
		return nil, apperr.Validation(apperr.FieldError{Field: "search", Message: fmt.Sprintf("must be at most %d characters", MaxSearchLen)})
	}
	return s.store.Products(ctx, q)
}

// ValidText reports whether s is text a product field or a search may hold: valid UTF-8 without control
// characters (C0, DEL, C1: NUL, tab, newline, escape and the like).
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

const textMessage = "must be valid UTF-8 without control characters"

// PatchProduct changes a product's price and/or stock, for who, an operator.
func (s *Service) PatchProduct(ctx context.Context, who identity.Caller, id int64, p ProductPatch) (Product, error) {
	by, err := s.productChange(ctx, who)
	if err != nil {
		return Product{}, err
	}
	if p.PriceCents == nil && p.Stock == nil {
		return Product{}, apperr.Validation(apperr.FieldError{Field: "body", Message: "must set price_cents or stock"})
	}
	if fe := checkPriceStock(nil, p.PriceCents, p.Stock); len(fe) > 0 {
		return Product{}, apperr.Validation(fe...)
	}
	return s.store.PatchProduct(ctx, id, p, Audit{Entity: EntityProduct, ID: id, Action: ActionProductUpdated, By: by})
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

// ValidateRequest checks a new order's customer and lines and returns the lines merged and sorted.
// Every problem is reported at once.
func ValidateRequest(customerID int64, items []events.LineItem) ([]events.LineItem, error) {
	lines, err := ValidateLines(items)
	if customerID <= 0 {
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

// CreateOrder creates an order made by who: the customer is checked in customers-api first (never
// while holding row locks), then one transaction records the order with order.created and its audit
// record, and takes the stock (see inStockTx). A caller bound to a customer orders for that customer
// only (ErrOtherCustomer, before anything is looked up). A non-empty key makes it idempotent: the same
// key and body replay the first answer.
func (s *Service) CreateOrder(ctx context.Context, who identity.Caller, customerID int64, items []events.LineItem, key string, render Render) (Outcome, error) {
	lines, err := ValidateRequest(customerID, items)
	if err != nil {
		return Outcome{}, err
	}
	if err := CheckCustomer(who, customerID); err != nil {
		return Outcome{}, err
	}
	by, err := s.origin(ctx, who)
	if err != nil {
		return Outcome{}, err
	}
	var k *Key
	if key != "" {
		if !events.ValidKey(key) {
			return Outcome{}, ErrIdempotencyKeyInvalid
		}
		k = &Key{Scope: ScopeCreate, Value: key, Hash: events.RequestHash(customerID, lines), At: by.At, ExpiresAt: by.At.Add(s.cfg.IdempotencyTTL)}
		// A completed key answers without asking customers-api again.
		if a, ok, err := s.store.Answer(ctx, *k); err != nil || ok {
			if err != nil {
				return Outcome{}, err
			}
			return k.replay(a)
		}
	}
	if err := s.customers.Verify(ctx, customerID); err != nil {
		return Outcome{}, err
	}
	return withKeyRace(func() (Outcome, error) {
		var out Outcome
		err := s.inStockTx(ctx, func(tx Tx, lock bool) error {
			out = Outcome{}
			if k != nil {
				// The key before anything else: a concurrent request with the same key waits here and
				// then replays, instead of taking stock a second time.
				a, ok, err := tx.ClaimKey(ctx, *k)
				if err != nil {
					return err
				}
				if ok {
					out, err = k.replay(a)
					return err
				}
			}
			o, err := newOrder(ctx, tx, customerID, lines, by, lock)
			if err != nil {
				return err
			}
			body, err := render(o)
			if err != nil {
				return err
			}
			if k != nil {
				if err := tx.CompleteKey(ctx, *k, o.ID, body); err != nil {
					return err
				}
			}
			if err := recordCreation(ctx, tx, o, by); err != nil {
				return err
			}
			if err := takeStock(ctx, tx, o, by.At, lock); err != nil {
				return err
			}
			out = Outcome{ID: o.ID, Order: o, Body: body}
			return nil
		})
		return out, err
	})
}

// recordCreation records the creation of o: its audit record and order.created.
func recordCreation(ctx context.Context, tx Tx, o Order, by Origin) error {
	ev, err := o.Created(by)
	if err != nil {
		return err
	}
	if err := tx.Audit(ctx, Audit{Entity: EntityOrder, ID: o.ID, Action: events.OrderCreated, By: by}); err != nil {
		return err
	}
	return tx.Publish(ctx, ev)
}

// recordChange records the change of o that made evs, if any: its audit record and the events.
func recordChange(ctx context.Context, tx Tx, o Order, by Origin, evs []events.Envelope) error {
	for _, ev := range evs {
		if err := tx.Audit(ctx, Audit{Entity: EntityOrder, ID: o.ID, Action: ev.Type, By: by}); err != nil {
			return err
		}
	}
	return tx.Publish(ctx, evs...)
}

// errStockChanged means a product's stock or price changed between an optimistic creation's read and
// its decrement; the creation runs again, locking the products first.
var errStockChanged = errors.New("stock or price changed since it was read")

// inStockTx runs a creation, fn, in a transaction that takes stock optimistically (lock false): the
// products are read without locks, and their rows are locked only by the decrement, the transaction's
// last statement, so a product every order wants stays locked for one round trip and the commit. When
// the decrement finds the stock or the price changed since the read, it runs fn again in a new
// transaction that locks the products first (lock true), which cannot fail that way and reports a
// shortage exactly.
func (s *Service) inStockTx(ctx context.Context, fn func(tx Tx, lock bool) error) error {
	err := s.inTx(ctx, func(tx Tx) error { return fn(tx, false) })
	if errors.Is(err, errStockChanged) {
		err = s.inTx(ctx, func(tx Tx) error { return fn(tx, true) })
	}
	if errors.Is(err, ErrInsufficientStock) {
		s.cfg.Observer.StockConflict()
	}
	return err
}

// newOrder reads the products (locking them when lock is set), checks the lines against them and
// inserts the order.
func newOrder(ctx context.Context, tx Tx, customerID int64, lines []events.LineItem, by Origin, lock bool) (Order, error) {
	ids := make([]int64, len(lines))
	for i, l := range lines {
		ids[i] = l.ProductID
	}
	read := tx.Products
	if lock {
		read = tx.LockProducts
	}
	products, err := read(ctx, ids)
	if err != nil {
		return Order{}, err
	}
	o, err := Build(customerID, lines, products, by.At)
	if err != nil {
		return Order{}, err
	}
	if err := tx.InsertOrder(ctx, &o); err != nil {
		return Order{}, err
	}
	return o, nil
}

// takeStock takes the order's items from stock, on condition that nothing changed since newOrder read
// the products: the last statement of a creation.
func takeStock(ctx context.Context, tx Tx, o Order, at time.Time, locked bool) error {
	ok, err := tx.TakeStock(ctx, o.Items, at)
	switch {
	case err != nil:
		return err
	case ok:
		return nil
	case locked:
		return fmt.Errorf("order %d: locked products changed under their lock", o.ID)
	default:
		return errStockChanged
	}
}

// replay turns a completed key's answer into the outcome, or refuses a key used for something else.
func (k Key) replay(a Answer) (Outcome, error) {
	if a.Hash != k.Hash || (k.TargetID != 0 && a.TargetID != k.TargetID) {
		return Outcome{}, ErrIdempotencyKeyReused
	}
	return Outcome{ID: a.TargetID, Body: a.Body, Replayed: true}, nil
}

// keyRaceAttempts bounds how often an operation is run again after losing a key race; the second run
// sees the winner's committed answer, so more than one retry means something else is wrong.
const keyRaceAttempts = 3

func withKeyRace(run func() (Outcome, error)) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		out, err := run()
		if !errors.Is(err, ErrKeyRace) {
			return out, err
		}
		if attempt == keyRaceAttempts {
			return Outcome{}, ErrIdempotencyKeyInUse
		}
	}
}

// Order returns an order with its items, if who may see it: the order of another customer than the one
// a caller is bound to is ErrNotFound, like an order that does not exist, so that its existence is not
// told.
func (s *Service) Order(ctx context.Context, who identity.Caller, id int64) (Order, error) {
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if !who.Sees(o.CustomerID) {
		return Order{}, ErrNotFound
	}
	return o, nil
}

// Orders returns a page of the orders who may see, without items (q.Limit rows). The list of a caller
// bound to a customer is that customer's orders whatever the query asks: a filter on another customer
// selects nothing, as it would for a customer without orders.
func (s *Service) Orders(ctx context.Context, who identity.Caller, q Query) ([]Order, error) {
	if q.Status != "" && !ValidStatus(q.Status) {
		return nil, apperr.Validation(apperr.FieldError{Field: "status", Message: "must be one of CREATED, CONFIRMED, CANCELED"})
	}
	if !who.Operator() {
		if q.CustomerID != 0 && q.CustomerID != who.CustomerID {
			return nil, nil
		}
		q.CustomerID = who.CustomerID
	}
	return s.store.Orders(ctx, q)
}

// ownOrder checks, for a caller bound to a customer, that order id is that customer's before the order
// is changed or an answer replayed; ErrNotFound otherwise, as for an order that does not exist. An
// order's customer never changes, so this read outside the change's transaction stays true in it.
func (s *Service) ownOrder(ctx context.Context, who identity.Caller, id int64) error {
	if who.Operator() {
		return nil
	}
	_, err := s.Order(ctx, who, id)
	return err
}

// Confirm confirms an order for who under an idempotency key: the key, the change, the stored answer,
// the audit record and order.confirmed commit together. body is the request body, part of what the key
// stands for. A caller bound to a customer confirms only that customer's orders (others are
// ErrNotFound, replays included).
func (s *Service) Confirm(ctx context.Context, who identity.Caller, id int64, key string, body []byte, render Render) (Outcome, error) {
	if key == "" {
		return Outcome{}, ErrIdempotencyKeyRequired
	}
	if !events.ValidKey(key) {
		return Outcome{}, ErrIdempotencyKeyInvalid
	}
	by, err := s.origin(ctx, who)
	if err != nil {
		return Outcome{}, err
	}
	if err := s.ownOrder(ctx, who, id); err != nil {
		return Outcome{}, err
	}
	sum := sha256.Sum256(body)
	k := Key{Scope: ScopeConfirm, Value: key, Hash: hex.EncodeToString(sum[:]), TargetID: id, At: by.At, ExpiresAt: by.At.Add(s.cfg.IdempotencyTTL)}
	return withKeyRace(func() (Outcome, error) {
		var out Outcome
		err := s.inTx(ctx, func(tx Tx) error {
			out = Outcome{}
			// The key before the order's lock: a concurrent request with the same key waits on the key
			// and then replays instead of changing the order again.
			a, ok, err := tx.ClaimKey(ctx, k)
			if err != nil {
				return err
			}
			if ok {
				out, err = k.replay(a)
				return err
			}
			o, err := tx.LockOrder(ctx, id)
			if err != nil {
				return err
			}
			evs, err := o.Confirm(by)
			if err != nil {
				return err
			}
			if len(evs) > 0 {
				if err := tx.SaveOrder(ctx, o); err != nil {
					return err
				}
			}
			b, err := render(o)
			if err != nil {
				return err
			}
			if err := tx.CompleteKey(ctx, k, o.ID, b); err != nil {
				return err
			}
			if err := recordChange(ctx, tx, o, by, evs); err != nil {
				return err
			}
			out = Outcome{ID: o.ID, Order: o, Body: b}
			return nil
		})
		return out, err
	})
}

// Cancel cancels an order for who and restores its stock, exactly once. A caller bound to a customer
// cancels only that customer's orders (others are ErrNotFound).
func (s *Service) Cancel(ctx context.Context, who identity.Caller, id int64) (Order, error) {
	by, err := s.origin(ctx, who)
	if err != nil {
		return Order{}, err
	}
	var o Order
	err = s.inTx(ctx, func(tx Tx) error {
		var err error
		if o, err = tx.LockOrder(ctx, id); err != nil {
			return err
		}
		if !who.Sees(o.CustomerID) {
			return ErrNotFound
		}
		evs, err := o.Cancel(by, s.cfg.CancelWindow)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := tx.RestoreStock(ctx, o.Items, by.At); err != nil {
			return err
		}
		if err := tx.SaveOrder(ctx, o); err != nil {
			return err
		}
		return recordChange(ctx, tx, o, by, evs)
	})
	if err != nil {
		return Order{}, err
	}
	return o, nil
}

// PurgeKeys deletes expired idempotency keys; after that they count as new.
func (s *Service) PurgeKeys(ctx context.Context) (int64, error) {
	return s.store.PurgeKeys(ctx, s.now())
}

// OrderRequest returns the state of a create-and-confirm request, with its order (and items) when one
// exists.
func (s *Service) OrderRequest(ctx context.Context, key string) (events.OrderRequest, error) {
	if !events.ValidKey(key) {
		return events.OrderRequest{}, ErrRequestNotFound
	}
	r, err := s.store.Request(ctx, key)
	if err != nil {
		return events.OrderRequest{}, err
	}
	if r.OrderID == 0 {
		return r.View(nil), nil
	}
	o, err := s.store.Order(ctx, r.OrderID)
	if err != nil {
		return events.OrderRequest{}, fmt.Errorf("order of request %s: %w", key, err)
	}
	return r.View(&o), nil
}

// MaxRequestWait bounds how long AwaitOrderRequest waits for a final answer.
const MaxRequestWait = 20 * time.Second

// AwaitOrderRequest is OrderRequest for a caller that wants the final answer as soon as there is one:
// a request not final yet (or not recorded yet: its command may still be on the queue) is read again,
// every few milliseconds, until it is final, wait has passed or ctx ends, and what was read last is
// returned. The worker that finishes a request runs in another process, so the database is where the
// answer shows up; the reads are primary-key lookups of one row.
//
// The pause between reads doubles from 1 ms to 8 ms: a worker records its answer within tens of
// milliseconds of the command's delivery. A request still open after a second waits on a slow or stalled
// worker (or a command still on the queue); it is then read every 50 ms, so that many callers waiting
// through a worker outage do not keep the database busy with reads.
func (s *Service) AwaitOrderRequest(ctx context.Context, key string, wait time.Duration) (events.OrderRequest, error) {
	if !events.ValidKey(key) {
		return events.OrderRequest{}, ErrRequestNotFound
	}
	start := time.Now()
	deadline := start.Add(min(wait, MaxRequestWait))
	interval := time.Millisecond
	for {
		r, err := s.store.Request(ctx, key)
		if err != nil && !errors.Is(err, ErrRequestNotFound) {
			return events.OrderRequest{}, err
		}
		final := err == nil && (r.Status == events.RequestConfirmed || r.Status == events.RequestRejected)
		left := time.Until(deadline)
		if final || left <= 0 {
			return s.OrderRequest(ctx, key)
		}
		select {
		case <-ctx.Done():
			return s.OrderRequest(context.WithoutCancel(ctx), key)
		case <-time.After(min(interval, left)):
		}
		if time.Since(start) < time.Second {
			interval = min(2*interval, 8*time.Millisecond)
		} else {
			interval = 50 * time.Millisecond
		}
	}
}

// Request returns the recorded order request with key (ErrRequestNotFound when none).
func (s *Service) Request(ctx context.Context, key string) (Request, error) {
	return s.store.Request(ctx, key)
}

// VerifyCustomer asks customers-api whether the customer exists (see Customers.Verify).
func (s *Service) VerifyCustomer(ctx context.Context, id int64) error {
	return s.customers.Verify(ctx, id)
}

// CreateForRequest is the first transaction of a PlaceOrder: it records r PROCESSING, creates the order
// with order.created and takes the stock (see inStockTx). The request row comes first, so a concurrent
// delivery of the same command waits on it and then fails with ErrRequestExists instead of taking stock
// twice.
func (s *Service) CreateForRequest(ctx context.Context, r Request, lines []events.LineItem) (Order, error) {
	if err := CheckCustomer(r.Caller(), r.CustomerID); err != nil {
		return Order{}, err
	}
	by := r.Origin(s.now())
	var o Order
	err := s.inStockTx(ctx, func(tx Tx, lock bool) error {
		if err := tx.InsertRequest(ctx, r, by.At); err != nil {
			return err
		}
		var err error
		if o, err = newOrder(ctx, tx, r.CustomerID, lines, by, lock); err != nil {
			return err
		}
		if err := tx.LinkRequest(ctx, r.IdempotencyKey, o.ID, by.At); err != nil {
			return err
		}
		if err := recordCreation(ctx, tx, o, by); err != nil {
			return err
		}
		return takeStock(ctx, tx, o, by.At, lock)
	})
	if err != nil {
		return Order{}, err
	}
	return o, nil
}

// ConfirmRequest is the second transaction of a PlaceOrder: the order r made goes CREATED→CONFIRMED
// with order.confirmed, and r CONFIRMED. An order canceled in between can not be confirmed: r is
// rejected with that error and order.rejected instead, in the same transaction. It returns the final
// request.
func (s *Service) ConfirmRequest(ctx context.Context, r Request) (Request, error) {
	by := r.Origin(s.now())
	final := r
	err := s.inTx(ctx, func(tx Tx) error {
		final = r
		o, err := tx.LockOrder(ctx, r.OrderID)
		if err != nil {
			return err
		}
		evs, err := o.Confirm(by)
		if errors.Is(err, ErrNotConfirmable) {
			rejected, ev, err := r.Reject(err, o.Lines(), by)
			if err != nil {
				return err
			}
			changed, err := tx.FinishRequest(ctx, r.IdempotencyKey, events.RequestRejected, rejected.Error, by.At)
			if err != nil || !changed {
				return err
			}
			final = rejected
			return tx.Publish(ctx, ev)
		}
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			if err := tx.SaveOrder(ctx, o); err != nil {
				return err
			}
		}
		changed, err := tx.FinishRequest(ctx, r.IdempotencyKey, events.RequestConfirmed, nil, by.At)
		if err != nil {
			return err
		}
		if changed {
			final.Status = events.RequestConfirmed
		}
		return recordChange(ctx, tx, o, by, evs)
	})
	return final, err
}

// RejectRequest records r REJECTED for cause (a business error) with order.rejected, atomically;
// ErrRequestExists when the key is already recorded (a concurrent delivery decided first).
func (s *Service) RejectRequest(ctx context.Context, r Request, items []events.LineItem, cause error) (Request, error) {
	by := r.Origin(s.now())
	rejected, ev, err := r.Reject(cause, items, by)
	if err != nil {
		return Request{}, err
	}
	err = s.inTx(ctx, func(tx Tx) error {
		if err := tx.InsertRequest(ctx, rejected, by.At); err != nil {
			return err
		}
		return tx.Publish(ctx, ev)
	})
	if err != nil {
		return Request{}, err
	}
	return rejected, nil
}
