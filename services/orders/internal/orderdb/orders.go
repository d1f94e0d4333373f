package orderdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// Create takes the stock and records a new order with order.created in one transaction (see
// order.Store). Statement order matters: the request row first (a concurrent delivery of the same
// command waits on it instead of taking stock), the key, the product locks in one ascending statement
// (every creator locks in the same order, so creators do not deadlock each other), and the outbox row
// last.
func (s *Store) Create(ctx context.Context, n order.NewOrder) (order.Outcome, error) {
	return withKeyRace(func() (order.Outcome, error) {
		var out order.Outcome
		err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
			out = order.Outcome{}
			if n.Request != nil {
				if err := insertRequest(ctx, tx, *n.Request, n.At); err != nil {
					return err
				}
			}
			if n.Key != nil {
				replay, ok, err := claimKey(ctx, tx, *n.Key)
				if err != nil || ok {
					out = replay
					return err
				}
			}
			o, err := takeStock(ctx, tx, n)
			if err != nil {
				return err
			}
			if o.ID, err = insertOrder(ctx, tx, o); err != nil {
				return err
			}
			if n.Request != nil {
				if _, err := tx.ExecContext(ctx, `UPDATE order_requests SET order_id = ?, updated_at = ? WHERE idempotency_key = ?`,
					o.ID, n.At, n.Request.IdempotencyKey); err != nil {
					return fmt.Errorf("link order request: %w", err)
				}
			}
			body, err := order.Body(o)
			if err != nil {
				return err
			}
			if n.Key != nil {
				if err := completeKey(ctx, tx, *n.Key, o.ID, statusCreated, body); err != nil {
					return err
				}
			}
			ev, err := o.Event(events.OrderCreated, n.CorrelationID, n.At)
			if err != nil {
				return err
			}
			if err := outbox.Publish(ctx, tx, ev); err != nil {
				return err
			}
			out = order.Outcome{Order: o, Body: body}
			return nil
		})
		return out, err
	})
}

func withKeyRace(run func() (order.Outcome, error)) (order.Outcome, error) {
	for attempt := 1; ; attempt++ {
		out, err := run()
		if errors.Is(err, errKeyRace) && attempt < keyRaceAttempts {
			continue
		}
		if errors.Is(err, errKeyRace) {
			return order.Outcome{}, order.ErrIdempotencyKeyInUse
		}
		return out, err
	}
}

// takeStock locks the products of n, checks the lines against them and decrements the stock.
func takeStock(ctx context.Context, tx *sql.Tx, n order.NewOrder) (order.Order, error) {
	ids := make([]any, len(n.Lines))
	for i, l := range n.Lines {
		ids[i] = l.ProductID
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+productCols+` FROM products WHERE id IN (`+placeholders(len(ids))+`) ORDER BY id FOR UPDATE`, ids...)
	if err != nil {
		return order.Order{}, fmt.Errorf("lock products: %w", err)
	}
	products := make(map[int64]order.Product, len(ids))
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			rows.Close()
			return order.Order{}, fmt.Errorf("lock products: %w", err)
		}
		products[p.ID] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return order.Order{}, fmt.Errorf("lock products: %w", err)
	}
	o, err := order.Build(n.CustomerID, n.Lines, products, n.At)
	if err != nil {
		return order.Order{}, err
	}
	for _, l := range n.Lines {
		if _, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock - ?, updated_at = ? WHERE id = ?`, l.Qty, n.At, l.ProductID); err != nil {
			return order.Order{}, fmt.Errorf("take stock of product %d: %w", l.ProductID, err)
		}
	}
	return o, nil
}

func insertOrder(ctx context.Context, tx *sql.Tx, o order.Order) (int64, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO orders (customer_id, status, total_cents, version, created_at) VALUES (?, ?, ?, ?, ?)`,
		o.CustomerID, o.Status, o.TotalCents, o.Version, o.CreatedAt)
	if err != nil {
		return 0, fmt.Errorf("insert order: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("insert order: %w", err)
	}
	args := make([]any, 0, len(o.Items)*5)
	for _, it := range o.Items {
		args = append(args, id, it.ProductID, it.Qty, it.UnitPriceCents, it.SubtotalCents)
	}
	q := `INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(o.Items)), ", ")
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return 0, fmt.Errorf("insert order items: %w", err)
	}
	return id, nil
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
	return getOrder(ctx, s.db, id, "")
}

// Orders returns orders (without items) matching q, in id order.
func (s *Store) Orders(ctx context.Context, q order.Query) ([]order.Order, error) {
	query, args := ordersQuery(q)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []order.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
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

// Update applies c to the locked order and writes the change, the key's answer, the request's status
// and the event in one transaction. The key is claimed before the order is locked, so a concurrent
// request with the same key waits on the key and then replays instead of changing the order again.
func (s *Store) Update(ctx context.Context, c order.Change) (order.Outcome, error) {
	return withKeyRace(func() (order.Outcome, error) {
		var out order.Outcome
		err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
			out = order.Outcome{}
			if c.Key != nil {
				replay, ok, err := claimKey(ctx, tx, *c.Key)
				if err != nil || ok {
					out = replay
					return err
				}
			}
			o, err := getOrder(ctx, tx, c.OrderID, " FOR UPDATE")
			if err != nil {
				return err
			}
			changed, err := c.Apply(&o)
			if err != nil {
				return err
			}
			if changed {
				if err := saveChange(ctx, tx, o); err != nil {
					return err
				}
			}
			if c.RequestKey != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE order_requests SET status = ?, updated_at = ? WHERE idempotency_key = ? AND status = ?`,
					order.RequestConfirmed, c.At, c.RequestKey, order.RequestProcessing); err != nil {
					return fmt.Errorf("confirm order request: %w", err)
				}
			}
			body, err := order.Body(o)
			if err != nil {
				return err
			}
			if c.Key != nil {
				if err := completeKey(ctx, tx, *c.Key, o.ID, statusOK, body); err != nil {
					return err
				}
			}
			if changed {
				ev, err := o.Event(c.Event, c.CorrelationID, c.At)
				if err != nil {
					return err
				}
				if err := outbox.Publish(ctx, tx, ev); err != nil {
					return err
				}
			}
			out = order.Outcome{Order: o, Body: body}
			return nil
		})
		return out, err
	})
}

// saveChange writes the order's new state; a cancellation gives the items' stock back, in ascending
// product order like every other stock writer.
func saveChange(ctx context.Context, tx *sql.Tx, o order.Order) error {
	if o.Status == order.StatusCanceled {
		for _, it := range o.Items {
			if _, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock + ?, updated_at = ? WHERE id = ?`,
				it.Qty, *o.CanceledAt, it.ProductID); err != nil {
				return fmt.Errorf("restore stock of product %d: %w", it.ProductID, err)
			}
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, version = ?, confirmed_at = ?, canceled_at = ? WHERE id = ?`,
		o.Status, o.Version, o.ConfirmedAt, o.CanceledAt, o.ID)
	if err != nil {
		return fmt.Errorf("update order %d: %w", o.ID, err)
	}
	return nil
}
