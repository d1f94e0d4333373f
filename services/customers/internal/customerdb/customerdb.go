// Package customerdb stores customers in MySQL/MariaDB: soft delete, email uniqueness among live
// customers through the live_email unique key, keyset paging, and the audit log every change writes
// in its transaction.
package customerdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/customers/internal/customer"
)

// Store is the MySQL customer.Store.
type Store struct {
	db *sql.DB
}

var _ customer.Store = (*Store)(nil)

// New returns a Store on db.
func New(db *sql.DB) *Store { return &Store{db: db} }

const columns = "id, name, email, phone, created_at, updated_at"

// Create inserts c and its audit record in one transaction. Uniqueness is left to the live_email key
// rather than a prior SELECT, so two concurrent registrations of one email cannot both succeed.
func (s *Store) Create(ctx context.Context, c customer.Customer, a customer.Audit) (customer.Customer, error) {
	err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"INSERT INTO customers (name, email, phone, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			c.Name, c.Email, c.Phone, c.CreatedAt, c.UpdatedAt)
		if err != nil {
			return err
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return audit(ctx, tx, c.ID, a)
	})
	if err != nil {
		return customer.Customer{}, translate(err, "create customer")
	}
	return c, nil
}

// Get returns a live customer.
func (s *Store) Get(ctx context.Context, id int64) (customer.Customer, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+columns+" FROM customers WHERE id = ? AND deleted_at IS NULL", id)
	c, err := scan(row)
	if err != nil {
		return customer.Customer{}, translate(err, fmt.Sprintf("get customer %d", id))
	}
	return c, nil
}

// List returns up to q.Limit+1 live customers after q.AfterID in id order, filtered by q.Search.
func (s *Store) List(ctx context.Context, q customer.Query) ([]customer.Customer, error) {
	query := "SELECT " + columns + " FROM customers WHERE deleted_at IS NULL AND id > ?"
	args := []any{q.AfterID}
	if q.OnlyID != 0 {
		query += " AND id = ?"
		args = append(args, q.OnlyID)
	}
	if q.Search != "" {
		// '!' is the escape character so that a backslash in the search is an ordinary character,
		// whatever the server's NO_BACKSLASH_ESCAPES mode.
		query += " AND (LOWER(name) LIKE ? ESCAPE '!' OR LOWER(email) LIKE ? ESCAPE '!')"
		pattern := "%" + sqldb.EscapeLike(strings.ToLower(q.Search)) + "%"
		args = append(args, pattern, pattern)
	}
	query += " ORDER BY id LIMIT ?"
	args = append(args, q.Limit+1)

	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err, "list customers")
	}
	defer rows.Close()
	var out []customer.Customer
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, translate(err, "list customers")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err, "list customers")
	}
	return out, nil
}

// Update locks the live customer id, applies fn and writes the result and a's record in one transaction.
func (s *Store) Update(ctx context.Context, id int64, a customer.Audit, fn func(*customer.Customer) error) (customer.Customer, error) {
	var c customer.Customer
	err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var err error
		c, err = scan(tx.QueryRowContext(ctx,
			"SELECT "+columns+" FROM customers WHERE id = ? AND deleted_at IS NULL FOR UPDATE", id))
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx,
			"UPDATE customers SET name = ?, email = ?, phone = ?, updated_at = ? WHERE id = ?",
			c.Name, c.Email, c.Phone, c.UpdatedAt, c.ID); err != nil {
			return err
		}
		return audit(ctx, tx, c.ID, a)
	})
	if err != nil {
		return customer.Customer{}, translate(err, fmt.Sprintf("update customer %d", id))
	}
	return c, nil
}

// Delete marks the live customer id deleted at a.At, with a's record, in one transaction.
func (s *Store) Delete(ctx context.Context, id int64, a customer.Audit) error {
	err := sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE customers SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL", a.At, a.At, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return customer.ErrNotFound
		}
		return audit(ctx, tx, id, a)
	})
	if err != nil {
		return translate(err, fmt.Sprintf("delete customer %d", id))
	}
	return nil
}

// audit writes the record of a change of customer id, in the change's transaction.
func audit(ctx context.Context, tx *sql.Tx, id int64, a customer.Audit) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO audit_log (occurred_at, actor, actor_customer_id, action, entity_type, entity_id, correlation_id)
		 VALUES (?, ?, ?, ?, 'customer', ?, ?)`,
		a.At, a.Actor, nullID(a.ActorCustomerID), a.Action, id, nullString(a.CorrelationID))
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Action, err)
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Ping checks that the customers table answers. A plain connection ping is not enough: pooled
// connections keep answering it after the database was dropped.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "SELECT 1 FROM customers LIMIT 1")
	return err
}

type scanner interface{ Scan(dest ...any) error }

func scan(s scanner) (customer.Customer, error) {
	var (
		c     customer.Customer
		phone sql.NullString
	)
	if err := s.Scan(&c.ID, &c.Name, &c.Email, &phone, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return customer.Customer{}, err
	}
	if phone.Valid {
		c.Phone = &phone.String
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// translate turns driver errors into domain errors, an unreachable database into
// sqldb.ErrUnavailable, and wraps the rest with the operation. Every error a Store method returns passes
// through it.
func translate(err error, op string) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return customer.ErrNotFound
	case sqldb.IsDuplicate(err):
		return customer.ErrEmailTaken.Wrap(err)
	case errors.Is(err, customer.ErrNotFound), errors.Is(err, customer.ErrEmailTaken):
		return err
	}
	return sqldb.Translate(fmt.Errorf("%s: %w", op, err))
}
