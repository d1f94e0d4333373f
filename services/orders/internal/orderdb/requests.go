package orderdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

func insertRequest(ctx context.Context, tx *sql.Tx, r order.Request, at time.Time) error {
	var errJSON []byte
	if r.Error != nil {
		var err error
		if errJSON, err = json.Marshal(r.Error); err != nil {
			return fmt.Errorf("encode request error: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO order_requests (idempotency_key, request_hash, customer_id, status, error, correlation_id, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.IdempotencyKey, r.RequestHash, r.CustomerID, r.Status, nullBytes(errJSON), nullString(r.CorrelationID), at, at)
	if sqldb.IsDuplicate(err) {
		return order.ErrRequestExists
	}
	if err != nil {
		return fmt.Errorf("insert order request: %w", err)
	}
	return nil
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Request returns an order request.
func (s *Store) Request(ctx context.Context, key string) (order.Request, error) {
	var (
		r       order.Request
		orderID sql.NullInt64
		errJSON sql.NullString
		corr    sql.NullString
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT idempotency_key, request_hash, customer_id, status, order_id, error, correlation_id FROM order_requests WHERE idempotency_key = ?`, key).
		Scan(&r.IdempotencyKey, &r.RequestHash, &r.CustomerID, &r.Status, &orderID, &errJSON, &corr)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Request{}, order.ErrRequestNotFound
	}
	if err != nil {
		return order.Request{}, fmt.Errorf("get order request: %w", err)
	}
	r.OrderID, r.CorrelationID = orderID.Int64, corr.String
	if errJSON.Valid {
		r.Error = &events.Error{}
		if err := json.Unmarshal([]byte(errJSON.String), r.Error); err != nil {
			return order.Request{}, fmt.Errorf("decode order request error: %w", err)
		}
	}
	return r, nil
}

func rejectedEvent(r order.Request, items []events.LineItem, at time.Time) (events.Envelope, error) {
	return events.New(events.OrderRejected, events.AggregateOrderRequest, r.IdempotencyKey, 1, r.CorrelationID,
		events.Rejected{IdempotencyKey: r.IdempotencyKey, RequestHash: r.RequestHash, CustomerID: r.CustomerID,
			Items: items, Error: *r.Error}, at)
}

// Reject records a new order request as REJECTED and publishes order.rejected, atomically.
func (s *Store) Reject(ctx context.Context, r order.Request, items []events.LineItem, at time.Time) error {
	ev, err := rejectedEvent(r, items, at)
	if err != nil {
		return err
	}
	return sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := insertRequest(ctx, tx, r, at); err != nil {
			return err
		}
		return outbox.Publish(ctx, tx, ev)
	})
}

// RejectProcessing turns a PROCESSING order request REJECTED and publishes order.rejected, atomically;
// a request no longer PROCESSING is left alone.
func (s *Store) RejectProcessing(ctx context.Context, r order.Request, items []events.LineItem, at time.Time) error {
	ev, err := rejectedEvent(r, items, at)
	if err != nil {
		return err
	}
	errJSON, err := json.Marshal(r.Error)
	if err != nil {
		return fmt.Errorf("encode request error: %w", err)
	}
	return sqldb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE order_requests SET status = ?, error = ?, updated_at = ? WHERE idempotency_key = ? AND status = ?`,
			order.RequestRejected, string(errJSON), at, r.IdempotencyKey, order.RequestProcessing)
		if err != nil {
			return fmt.Errorf("reject order request: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return outbox.Publish(ctx, tx, ev)
	})
}
