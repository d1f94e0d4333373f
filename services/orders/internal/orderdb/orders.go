package orderdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Products reads the products with ids in one statement, without locks.
func (t tx) Products(ctx context.Context, ids []int64) (map[int64]order.Product, error) {
	return t.products(ctx, ids, "")
}

// LockProducts locks the products with ids in one statement, in ascending id order.
func (t tx) LockProducts(ctx context.Context, ids []int64) (map[int64]order.Product, error) {
	return t.products(ctx, ids, " FOR UPDATE")
}

func (t tx) products(ctx context.Context, ids []int64, lock string) (map[int64]order.Product, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT `+productCols+` FROM products WHERE id IN (`+placeholders(len(ids))+`) ORDER BY id`+lock, args...)
	if err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	defer rows.Close()
	products := make(map[int64]order.Product, len(ids))
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("lock products: %w", err)
		}
		products[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	return products, nil
}

// TakeStock decrements the stock of each item's product on condition, one primary-key statement each
// (an IN list over a table the optimizer takes for small runs as a scan that locks every product).
func (t tx) TakeStock(ctx context.Context, items []order.Item, at time.Time) (bool, error) {
	for _, it := range items {
		res, err := t.tx.ExecContext(ctx, `UPDATE products SET stock = stock - ?, updated_at = ? WHERE id = ? AND stock >= ? AND price_cents = ?`,
			it.Qty, at, it.ProductID, it.Qty, it.UnitPriceCents)
		if err != nil {
			return false, fmt.Errorf("take stock of product %d: %w", it.ProductID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("take stock of product %d: %w", it.ProductID, err)
		}
		if n != 1 {
			return false, nil
		}
	}
	return true, nil
}

// RestoreStock gives the items' stock back, in ascending product order like every other stock writer.
func (t tx) RestoreStock(ctx context.Context, items []order.Item, at time.Time) error {
	for _, it := range items {
		if _, err := t.tx.ExecContext(ctx, `UPDATE products SET stock = stock + ?, updated_at = ? WHERE id = ?`, it.Qty, at, it.ProductID); err != nil {
			return fmt.Errorf("restore stock of product %d: %w", it.ProductID, err)
		}
	}
	return nil
}

// InsertOrder inserts o and its items in two statements and sets o.ID.
func (t tx) InsertOrder(ctx context.Context, o *order.Order) error {
	res, err := t.tx.ExecContext(ctx,
		`INSERT INTO orders (customer_id, status, total_cents, version, created_at) VALUES (?, ?, ?, ?, ?)`,
		o.CustomerID, o.Status, o.TotalCents, o.Version, o.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	args := make([]any, 0, len(o.Items)*5)
	for _, it := range o.Items {
		args = append(args, id, it.ProductID, it.Qty, it.UnitPriceCents, it.SubtotalCents)
	}
	q := `INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(o.Items)), ", ")
	if _, err := t.tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("insert order items: %w", err)
	}
	o.ID = id
	return nil
}

// LockOrder returns an order with its items, its row locked.
func (t tx) LockOrder(ctx context.Context, id int64) (order.Order, error) {
	return getOrder(ctx, t.tx, id, " FOR UPDATE")
}

// SaveOrder writes the state of an order.
func (t tx) SaveOrder(ctx context.Context, o order.Order) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE orders SET status = ?, version = ?, confirmed_at = ?, canceled_at = ? WHERE id = ?`,
		o.Status, o.Version, o.ConfirmedAt, o.CanceledAt, o.ID)
	if err != nil {
		return fmt.Errorf("update order %d: %w", o.ID, err)
	}
	return nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

const orderCols = `id, customer_id, status, total_cents, version, created_at, confirmed_at, canceled_at`

func scanOrder(r scanner) (order.Order, error) {
	var (
		o        order.Order
		conf, cn sql.NullTime
	)
	if err := r.Scan(&o.ID, &o.CustomerID, &o.Status, &o.TotalCents, &o.Version, &o.CreatedAt, &conf, &cn); err != nil {
		return order.Order{}, err
	}
	if conf.Valid {
		o.ConfirmedAt = &conf.Time
	}
	if cn.Valid {
		o.CanceledAt = &cn.Time
	}
	return o, nil
}

func getOrder(ctx context.Context, q querier, id int64, lock string) (order.Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("get order %d: %w", id, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT product_id, qty, unit_price_cents, subtotal_cents FROM order_items WHERE order_id = ? ORDER BY product_id`, id)
	if err != nil {
		return order.Order{}, fmt.Errorf("get items of order %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var it order.Item
		if err := rows.Scan(&it.ProductID, &it.Qty, &it.UnitPriceCents, &it.SubtotalCents); err != nil {
			return order.Order{}, fmt.Errorf("get items of order %d: %w", id, err)
		}
		o.Items = append(o.Items, it)
	}
	return o, rows.Err()
}

// Order returns an order with its items.
func (s *Store) Order(ctx context.Context, id int64) (order.Order, error) {
	o, err := getOrder(ctx, s.db, id, "")
	return o, sqldb.Translate(err)
}

// Orders returns orders (without items) matching q, in id order.
func (s *Store) Orders(ctx context.Context, q order.Query) ([]order.Order, error) {
	query, args := ordersQuery(q)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, sqldb.Translate(fmt.Errorf("list orders: %w", err))
	}
	defer rows.Close()
	var out []order.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, sqldb.Translate(fmt.Errorf("list orders: %w", err))
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, sqldb.Translate(fmt.Errorf("list orders: %w", err))
	}
	return out, nil
}

// ordersQuery is the keyset query of a page of orders. Each filter shape is served by an index range
// (see the orders migrations and TestOrdersQueryPlans).
func ordersQuery(q order.Query) (string, []any) {
	query, args := `SELECT `+orderCols+` FROM orders WHERE id > ?`, []any{q.AfterID}
	if q.Status != "" {
		query += ` AND status = ?`
		args = append(args, q.Status)
	}
	if q.CustomerID != 0 {
		query += ` AND customer_id = ?`
		args = append(args, q.CustomerID)
	}
	if q.From != nil {
		query += ` AND created_at >= ?`
		args = append(args, *q.From)
	}
	if q.Before != nil {
		query += ` AND created_at < ?`
		args = append(args, *q.Before)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, q.Limit)
	return query, args
}
