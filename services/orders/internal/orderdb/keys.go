package orderdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/services/orders/internal/order"
)

type storedKey struct {
	hash      string
	targetID  int64
	status    int
	body      []byte
	expiresAt time.Time
}

func readKey(ctx context.Context, q querier, k order.Key) (storedKey, bool, error) {
	var sk storedKey
	err := q.QueryRowContext(ctx,
		`SELECT request_hash, target_id, status_code, response_body, expires_at FROM idempotency_keys WHERE scope = ? AND idem_key = ?`,
		k.Scope, k.Value).Scan(&sk.hash, &sk.targetID, &sk.status, &sk.body, &sk.expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return storedKey{}, false, nil
	}
	if err != nil {
		return storedKey{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return sk, true, nil
}

// replay turns a completed, unexpired key into its stored answer, or refuses a key used for something
// else.
func (sk storedKey) replay(k order.Key) (order.Outcome, error) {
	if sk.hash != k.Hash || (k.TargetID != 0 && sk.targetID != k.TargetID) {
		return order.Outcome{}, order.ErrIdempotencyKeyReused
	}
	out := order.Outcome{Body: sk.body, Replayed: true}
	if err := json.Unmarshal(sk.body, &out.Order); err != nil {
		return order.Outcome{}, fmt.Errorf("decode stored answer: %w", err)
	}
	return out, nil
}

// Replay returns the stored answer of a completed, unexpired key.
func (s *Store) Replay(ctx context.Context, k order.Key) (order.Outcome, bool, error) {
	sk, ok, err := readKey(ctx, s.db, k)
	if err != nil || !ok || !sk.expiresAt.After(k.At) {
		return order.Outcome{}, false, err
	}
	out, err := sk.replay(k)
	return out, err == nil, err
}

// claimKey makes k this transaction's: a completed key is replayed (ok true), an expired one is
// forgotten, a new one is inserted. The insert is what serialises requests with one key: a concurrent
// transaction that inserted it first makes ours wait, and its commit makes ours fail as a duplicate,
// reported as errKeyRace so the caller runs again and replays.
func claimKey(ctx context.Context, tx *sql.Tx, k order.Key) (order.Outcome, bool, error) {
	sk, found, err := readKey(ctx, tx, k)
	if err != nil {
		return order.Outcome{}, false, err
	}
	if found && sk.expiresAt.After(k.At) {
		out, err := sk.replay(k)
		return out, err == nil, err
	}
	if found {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ? AND expires_at <= ?`,
			k.Scope, k.Value, k.At); err != nil {
			return order.Outcome{}, false, fmt.Errorf("forget expired idempotency key: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO idempotency_keys (scope, idem_key, request_hash, target_id, status_code, response_body, created_at, expires_at)
		 VALUES (?, ?, ?, ?, 0, '', ?, ?)`, k.Scope, k.Value, k.Hash, k.TargetID, k.At, k.ExpiresAt)
	if sqldb.IsDuplicate(err) {
		return order.Outcome{}, false, errKeyRace
	}
	if err != nil {
		return order.Outcome{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return order.Outcome{}, false, nil
}

// completeKey stores the answer with the key claimed by this transaction.
func completeKey(ctx context.Context, tx *sql.Tx, k order.Key, targetID int64, status int, body []byte) error {
	_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET target_id = ?, status_code = ?, response_body = ? WHERE scope = ? AND idem_key = ?`,
		targetID, status, body, k.Scope, k.Value)
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
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
