package orderdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

type storedKey struct {
	answer    order.Answer
	expiresAt time.Time
}

func readKey(ctx context.Context, q querier, k order.Key) (storedKey, bool, error) {
	var sk storedKey
	err := q.QueryRowContext(ctx,
		`SELECT request_hash, target_id, response_body, expires_at FROM idempotency_keys WHERE scope = ? AND idem_key = ?`,
		k.Scope, k.Value).Scan(&sk.answer.Hash, &sk.answer.TargetID, &sk.answer.Body, &sk.expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return storedKey{}, false, nil
	}
	if err != nil {
		return storedKey{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return sk, true, nil
}

// Answer returns the stored answer of a completed key unexpired at k.At.
func (s *Store) Answer(ctx context.Context, k order.Key) (order.Answer, bool, error) {
	sk, ok, err := readKey(ctx, s.db, k)
	if err != nil || !ok || !sk.expiresAt.After(k.At) {
		return order.Answer{}, false, sqldb.Translate(err)
	}
	return sk.answer, true, nil
}

// ClaimKey makes k this transaction's (see order.Tx). The insert is what serialises requests with one
// key: a concurrent transaction that inserted it first makes ours wait, and its commit makes ours fail
// as a duplicate, reported as order.ErrKeyRace.
func (t tx) ClaimKey(ctx context.Context, k order.Key) (order.Answer, bool, error) {
	sk, found, err := readKey(ctx, t.tx, k)
	if err != nil {
		return order.Answer{}, false, err
	}
	if found && sk.expiresAt.After(k.At) {
		return sk.answer, true, nil
	}
	if found {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND expires_at <= ?`,
			k.Scope, k.Value, k.At); err != nil {
			return order.Answer{}, false, fmt.Errorf("forget expired idempotency key: %w", err)
		}
	}
	_, err = t.tx.ExecContext(ctx,
		`INSERT INTO idempotency_keys (scope, idem_key, request_hash, target_id, response_body, created_at, expires_at)
		 VALUES (?, ?, ?, ?, '', ?, ?)`, k.Scope, k.Value, k.Hash, k.TargetID, k.At, k.ExpiresAt)
	if sqldb.IsDuplicate(err) {
		return order.Answer{}, false, order.ErrKeyRace
	}
	if err != nil {
		return order.Answer{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return order.Answer{}, false, nil
}

// CompleteKey stores the answer with the key claimed by this transaction.
func (t tx) CompleteKey(ctx context.Context, k order.Key, targetID int64, body []byte) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE idempotency_keys SET target_id = ?, response_body = ? WHERE scope = ? AND idem_key = ?`,
		targetID, body, k.Scope, k.Value)
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// PurgeKeys deletes keys expired at now, in small batches so no long lock is held; it returns how many.
func (s *Store) PurgeKeys(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= ? LIMIT 1000`, now)
		if err != nil {
			return total, sqldb.Translate(fmt.Errorf("purge idempotency keys: %w", err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, sqldb.Translate(fmt.Errorf("purge idempotency keys: %w", err))
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
