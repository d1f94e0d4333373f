package orderdb

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/identity"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

// InsertRequest records a new order request; a recorded key is order.ErrRequestExists.
func (t tx) InsertRequest(ctx context.Context, r order.Request, at time.Time) error {
	errJSON, err := encodeError(r.Error)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx,
		`INSERT INTO order_requests (idempotency_key, request_hash, customer_id, status, error, correlation_id, actor, actor_customer_id, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.IdempotencyKey, r.RequestHash, r.CustomerID, r.Status, errJSON, nullString(r.CorrelationID), nullString(r.Actor), nullID(r.ActorCustomerID), at, at)
	if sqldb.IsDuplicate(err) {
		return order.ErrRequestExists
	}
	if err != nil {
		return fmt.Errorf("insert order request: %w", err)
	}
	return nil
}

// LinkRequest records the order made for a PROCESSING request.
func (t tx) LinkRequest(ctx context.Context, key string, orderID int64, at time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE order_requests SET order_id = ?, updated_at = ? WHERE idempotency_key = ?`,
		orderID, at, key); err != nil {
		return fmt.Errorf("link order request: %w", err)
	}
	return nil
}

// FinishRequest moves a PROCESSING request to its final status.
func (t tx) FinishRequest(ctx context.Context, key, status string, e *events.Error, at time.Time) (bool, error) {
	errJSON, err := encodeError(e)
	if err != nil {
		return false, err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE order_requests SET status = ?, error = ?, updated_at = ? WHERE idempotency_key = ? AND status = ?`,
		status, errJSON, at, key, events.RequestProcessing)
	if err != nil {
		return false, fmt.Errorf("finish order request: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("finish order request: %w", err)
	}
	return n == 1, nil
}

func encodeError(e *events.Error) (any, error) {
	if e == nil {
		return nil, nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode request error: %w", err)
	}
	return string(b), nil
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
		actor   sql.NullString
		actorOf sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT idempotency_key, request_hash, customer_id, status, order_id, error, correlation_id, actor, actor_customer_id FROM order_requests WHERE idempotency_key = ?`, key).
		Scan(&r.IdempotencyKey, &r.RequestHash, &r.CustomerID, &r.Status, &orderID, &errJSON, &corr, &actor, &actorOf)
	if errors.Is(err, sql.ErrNoRows) {
		return order.Request{}, order.ErrRequestNotFound
	}
	if err != nil {
		return order.Request{}, sqldb.Translate(fmt.Errorf("get order request: %w", err))
	}
	r.OrderID, r.CorrelationID = orderID.Int64, corr.String
	// A request recorded before requests had an actor was made by nobody authenticated.
	r.Actor, r.ActorCustomerID = cmp.Or(actor.String, identity.Anonymous), actorOf.Int64
	if errJSON.Valid {
		r.Error = &events.Error{}
		if err := json.Unmarshal([]byte(errJSON.String), r.Error); err != nil {
			return order.Request{}, fmt.Errorf("decode order request error: %w", err)
		}
	}
	return r, nil
}
