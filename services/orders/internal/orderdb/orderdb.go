// Package orderdb stores products, orders, idempotency keys and order requests in MySQL/MariaDB. It
// implements order.Store: reads and product writes as methods, and the steps of an order's transaction
// as order.Tx, whose Publish writes the outbox in the same transaction.
package orderdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Store implements order.Store on a database migrated with db/migrations/orders.
type Store struct {
	db *sql.DB
}

// New returns a Store on db.
func New(db *sql.DB) *Store { return &Store{db: db} }

var (
	_ order.Store = (*Store)(nil)
	_ order.Tx    = tx{}
)

// Ping checks that the orders table answers. A plain connection ping is not enough: pooled
// connections keep answering it after the database was dropped.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "SELECT 1 FROM orders LIMIT 1")
	return err
}

// InTx runs fn in one transaction (sqldb.InTx: committed, deadlocks retried from the start).
//
// Every Store method passes the error it returns through sqldb.Translate, so that an unreachable
// database is sqldb.ErrUnavailable (503), whichever step met it.
func (s *Store) InTx(ctx context.Context, fn func(order.Tx) error) error {
	return sqldb.Translate(sqldb.InTx(ctx, s.db, func(t *sql.Tx) error { return fn(tx{t}) }))
}

// tx is the order.Tx of one database transaction.
type tx struct{ tx *sql.Tx }

func (t tx) Publish(ctx context.Context, evs ...events.Envelope) error {
	return outbox.Publish(ctx, t.tx, evs...)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type scanner interface{ Scan(dest ...any) error }

// CreateProduct inserts a product and the audit record of its creation in one transaction; a taken
// sku is SKU_TAKEN.
func (s *Store) CreateProduct(ctx context.Context, p order.Product, a order.Audit) (order.Product, error) {
	err := sqldb.InTx(ctx, s.db, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx,
			`INSERT INTO products (sku, name, price_cents, stock, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.SKU, p.Name, p.PriceCents, p.Stock, p.CreatedAt, p.UpdatedAt)
		if sqldb.IsDuplicate(err) {
			return order.ErrSKUTaken
		}
		if err != nil {
			return fmt.Errorf("insert product: %w", err)
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("insert product: %w", err)
		}
		a.ID = p.ID
		return tx{t}.Audit(ctx, a)
	})
	if err != nil {
		return order.Product{}, sqldb.Translate(err)
	}
	return p, nil
}

const productCols = `id, sku, name, price_cents, stock, created_at, updated_at`

func scanProduct(r scanner) (order.Product, error) {
	var p order.Product
	err := r.Scan(&p.ID, &p.SKU, &p.Name, &p.PriceCents, &p.Stock, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// Product returns one product.
func (s *Store) Product(ctx context.Context, id int64) (order.Product, error) {
	p, err := getProduct(ctx, s.db, id, "")
	return p, sqldb.Translate(err)
}

func getProduct(ctx context.Context, q querier, id int64, lock string) (order.Product, error) {
	p, err := scanProduct(q.QueryRowContext(ctx, `SELECT `+productCols+` FROM products WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return order.Product{}, order.ErrProductNotFound.WithDetails(order.MissingProduct{ProductID: id})
	}
	if err != nil {
		return order.Product{}, fmt.Errorf("get product %d: %w", id, err)
	}
	return p, nil
}

// Products returns products after q.AfterID, filtered by q.Search, in id order.
func (s *Store) Products(ctx context.Context, q order.ProductQuery) ([]order.Product, error) {
	query, args := `SELECT `+productCols+` FROM products WHERE id > ?`, []any{q.AfterID}
	if q.Search != "" {
		// The column collation is case-insensitive; wildcards in the search are literal.
		like := "%" + sqldb.EscapeLike(q.Search) + "%"
		query += ` AND (sku LIKE ? ESCAPE '!' OR name LIKE ? ESCAPE '!')`
		args = append(args, like, like)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, sqldb.Translate(fmt.Errorf("list products: %w", err))
	}
	defer rows.Close()
	var out []order.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, sqldb.Translate(fmt.Errorf("list products: %w", err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, sqldb.Translate(fmt.Errorf("list products: %w", err))
	}
	return out, nil
}

// PatchProduct sets a product's price and/or stock, and writes the audit record a, in one transaction.
func (s *Store) PatchProduct(ctx context.Context, id int64, patch order.ProductPatch, a order.Audit) (order.Product, error) {
	var p order.Product
	err := sqldb.InTx(ctx, s.db, func(t *sql.Tx) error {
		var err error
		if p, err = getProduct(ctx, t, id, " FOR UPDATE"); err != nil {
			return err
		}
		if patch.PriceCents != nil {
			p.PriceCents = *patch.PriceCents
		}
		if patch.Stock != nil {
			p.Stock = *patch.Stock
		}
		p.UpdatedAt = a.By.At
		_, err = t.ExecContext(ctx, `UPDATE products SET price_cents = ?, stock = ?, updated_at = ? WHERE id = ?`,
			p.PriceCents, p.Stock, p.UpdatedAt, id)
		if err != nil {
			return fmt.Errorf("update product %d: %w", id, err)
		}
		return tx{t}.Audit(ctx, a)
	})
	return p, sqldb.Translate(err)
}
