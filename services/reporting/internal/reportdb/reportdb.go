// Package reportdb keeps reporting's order projection in MySQL/MariaDB: the inbox of processed events
// written in the same transaction as their effect, the latest snapshot of each order, and the report
// queries computed from the snapshots.
package reportdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/reporting/internal/report"
)

// Store is the MySQL report.Store. Every method passes the error it returns through sqldb.Translate,
// so that an unreachable database is answered with 503 DATABASE_UNAVAILABLE rather than 500.
type Store struct {
	db          *sql.DB
	afterEffect func() error
}

var _ report.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// AfterEffect makes fn run inside Apply's transaction, after the effect on the projection and before
// the inbox row; an error from fn rolls both back. It is a test seam: the crash tests stop the process
// there, or fail the transaction, to show the effect never commits without its inbox row.
func AfterEffect(fn func() error) Option { return func(s *Store) { s.afterEffect = fn } }

// New returns a Store on db.
func New(db *sql.DB, opts ...Option) *Store {
	s := &Store{db: db}
	for _, o := range opts {
		o(s)
	}
	return s
}

// errDuplicate ends a transaction that found the event processed by a concurrent delivery.
var errDuplicate = errors.New("event already processed")

// Apply processes ev exactly once. The inbox is read first (a processed event changes nothing and
// takes no lock); the effect follows, under the order's row lock; the inbox row is inserted last, in
// the same transaction. Two deliveries of one event processed at once both get that far, but the
// second inbox insert waits for the first transaction and then fails on the primary key, which rolls
// the second effect back: Duplicate.
func (s *Store) Apply(ctx context.Context, ev report.Event) (report.Outcome, error) {
	var out report.Outcome
	err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM processed_events WHERE event_id = ?", ev.ID).Scan(&one)
		if err == nil {
			out = report.Duplicate
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		out = report.Recorded
		if ev.Order != nil {
			if out, err = applyOrder(ctx, tx, *ev.Order); err != nil {
				return err
			}
		}
		if s.afterEffect != nil {
			if err := s.afterEffect(); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO processed_events
			(event_id, event_type, aggregate_type, aggregate_id, aggregate_version, occurred_at, processed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			ev.ID, ev.Type, ev.AggregateType, ev.AggregateID, ev.AggregateVersion, ev.OccurredAt,
			time.Now().UTC().Truncate(time.Microsecond))
		if sqldb.IsDuplicate(err) {
			return errDuplicate
		}
		return err
	})
	switch {
	case errors.Is(err, errDuplicate):
		return report.Duplicate, nil
	case err != nil:
		return "", sqldb.Translate(fmt.Errorf("apply event %s (%s of %s %s v%d): %w", ev.ID, ev.Type, ev.AggregateType, ev.AggregateID, ev.AggregateVersion, err))
	}
	return out, nil
}

// applyOrder stores o unless the projection holds the same or a newer version of the order. The
// insert of a first snapshot takes the row lock at once; for a known order the row is locked before its
// version is compared, so concurrent snapshots of one order are applied one after the other.
func applyOrder(ctx context.Context, tx *sql.Tx, o report.Order) (report.Outcome, error) {
	// "ON DUPLICATE KEY UPDATE order_id = order_id" changes nothing on an existing row, which then
	// reports 0 rows affected (the driver does not ask for found rows): 1 means the order is new.
	res, err := tx.ExecContext(ctx, `INSERT INTO orders
		(order_id, customer_id, status, total_cents, units, created_at, confirmed_at, canceled_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE order_id = order_id`,
		o.ID, o.CustomerID, o.Status, o.TotalCents, o.Units(), o.CreatedAt, o.ConfirmedAt, o.CanceledAt, o.Version)
	if err != nil {
		return "", err
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", err
	} else if n == 1 {
		return report.Applied, insertItems(ctx, tx, o)
	}
	var stored int
	if err := tx.QueryRowContext(ctx, "SELECT version FROM orders WHERE order_id = ? FOR UPDATE", o.ID).Scan(&stored); err != nil {
		return "", err
	}
	if !o.Replaces(stored) {
		return report.Stale, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE orders SET customer_id = ?, status = ?, total_cents = ?, units = ?,
		created_at = ?, confirmed_at = ?, canceled_at = ?, version = ? WHERE order_id = ?`,
		o.CustomerID, o.Status, o.TotalCents, o.Units(), o.CreatedAt, o.ConfirmedAt, o.CanceledAt, o.Version, o.ID); err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM order_items WHERE order_id = ?", o.ID); err != nil {
		return "", err
	}
	return report.Applied, insertItems(ctx, tx, o)
}

func insertItems(ctx context.Context, tx *sql.Tx, o report.Order) error {
	if len(o.Items) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(o.Items))
	for _, it := range o.Items {
		args = append(args, o.ID, it.ProductID, it.Qty, it.UnitPriceCents, it.SubtotalCents)
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES "+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(o.Items)), ", "), args...)
	return err
}

// read runs fn in one transaction, so a report and its as-of time come from one consistent snapshot
// (InnoDB's REPEATABLE READ), never from two moments between which events were applied.
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) (*time.Time, error) {
	var asOf *time.Time
	err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var t sql.NullTime
		if err := tx.QueryRowContext(ctx, "SELECT MAX(occurred_at) FROM processed_events").Scan(&t); err != nil {
			return err
		}
		asOf = nil
		if t.Valid {
			u := t.Time.UTC()
			asOf = &u
		}
		return fn(tx)
	})
	if err != nil {
		if errors.Is(err, report.ErrCustomerNotFound) {
			return nil, err
		}
		return nil, sqldb.Translate(fmt.Errorf("%s: %w", op, err))
	}
	return asOf, nil
}

// DailySales returns a row per day of r with a confirmation or a cancellation. A confirmation counts on
// the day of confirmed_at, and its units and revenue with it unless the order is canceled now; a
// cancellation counts on the day of canceled_at.
func (s *Store) DailySales(ctx context.Context, r report.Range) ([]report.Day, *time.Time, error) {
	var days []report.Day
	asOf, err := s.read(ctx, "daily sales", func(tx *sql.Tx) error {
		days = nil
		rows, err := tx.QueryContext(ctx, `
			SELECT day, SUM(confirmed), SUM(canceled), SUM(units), SUM(revenue) FROM (
				SELECT DATE(confirmed_at) AS day, 1 AS confirmed, 0 AS canceled,
				       IF(status = 'CONFIRMED', units, 0) AS units, IF(status = 'CONFIRMED', total_cents, 0) AS revenue
				  FROM orders WHERE confirmed_at >= ? AND confirmed_at < ?
				UNION ALL
				SELECT DATE(canceled_at), 0, 1, 0, 0
				  FROM orders WHERE canceled_at >= ? AND canceled_at < ?
			) AS activity
			GROUP BY day ORDER BY day`, r.From, r.End(), r.From, r.End())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d report.Day
			if err := rows.Scan(&d.Date, &d.OrdersConfirmed, &d.OrdersCanceled, &d.Units, &d.RevenueCents); err != nil {
				return err
			}
			d.Date = d.Date.UTC()
			days = append(days, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	return days, asOf, nil
}

// TopProducts returns the products of the orders confirmed in r and not canceled, by units, then
// revenue, then product id, at most limit rows.
func (s *Store) TopProducts(ctx context.Context, r report.Range, limit int) ([]report.ProductSales, *time.Time, error) {
	var out []report.ProductSales
	asOf, err := s.read(ctx, "top products", func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `
			SELECT i.product_id, SUM(i.qty) AS units, SUM(i.subtotal_cents) AS revenue, COUNT(*)
			  FROM orders o JOIN order_items i ON i.order_id = o.order_id
			 WHERE o.status = 'CONFIRMED' AND o.confirmed_at >= ? AND o.confirmed_at < ?
			 GROUP BY i.product_id
			 ORDER BY units DESC, revenue DESC, i.product_id
			 LIMIT ?`, r.From, r.End(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p report.ProductSales
			if err := rows.Scan(&p.ProductID, &p.Units, &p.RevenueCents, &p.Orders); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	return out, asOf, nil
}

// Customer returns the totals of every order of the customer.
func (s *Store) Customer(ctx context.Context, customerID int64) (report.CustomerSummary, *time.Time, error) {
	c := report.CustomerSummary{CustomerID: customerID}
	asOf, err := s.read(ctx, fmt.Sprintf("customer %d", customerID), func(tx *sql.Tx) error {
		var first, last sql.NullTime
		err := tx.QueryRowContext(ctx, `
			SELECT COUNT(*),
			       COALESCE(SUM(confirmed_at IS NOT NULL), 0), COALESCE(SUM(canceled_at IS NOT NULL), 0),
			       COALESCE(SUM(IF(status = 'CONFIRMED', units, 0)), 0),
			       COALESCE(SUM(IF(status = 'CONFIRMED', total_cents, 0)), 0),
			       MIN(created_at), MAX(created_at)
			  FROM orders WHERE customer_id = ?`, customerID).
			Scan(&c.Orders, &c.OrdersConfirmed, &c.OrdersCanceled, &c.Units, &c.RevenueCents, &first, &last)
		if err != nil {
			return err
		}
		if c.Orders == 0 {
			return report.ErrCustomerNotFound
		}
		c.FirstOrderAt, c.LastOrderAt = first.Time.UTC(), last.Time.UTC()
		return nil
	})
	if err != nil {
		return report.CustomerSummary{}, nil, err
	}
	return c, asOf, nil
}

// Ping checks that the projection answers. A plain connection ping is not enough: pooled connections
// keep answering it after the database was dropped.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "SELECT 1 FROM processed_events LIMIT 1")
	return sqldb.Translate(err)
}
