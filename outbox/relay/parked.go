package relay

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/sqldb"
)

// ParkedEvent is an event the relay set aside after MaxAttempts failed sends.
type ParkedEvent struct {
	Offset    int64
	EventID   string
	EventType string
	ParkedAt  time.Time
	Attempts  int
	LastError string
}

// Parked lists the parked events of the outbox in db, oldest first.
func Parked(ctx context.Context, db *sql.DB) ([]ParkedEvent, error) {
	rows, err := db.QueryContext(ctx, "SELECT o.`offset`, o.`uuid`, COALESCE(JSON_VALUE(o.metadata, '$."+events.MetaEventType+"'), ''),"+
		" o.parked_at, COALESCE(f.attempts, 0), COALESCE(o.last_error, '')"+
		" FROM "+table+" o LEFT JOIN "+failuresTable+" f ON f.`offset` = o.`offset`"+
		" WHERE o.parked_at IS NOT NULL ORDER BY o.`offset`")
	if err != nil {
		return nil, fmt.Errorf("list parked outbox events: %w", err)
	}
	defer rows.Close()
	var out []ParkedEvent
	for rows.Next() {
		var p ParkedEvent
		if err := rows.Scan(&p.Offset, &p.EventID, &p.EventType, &p.ParkedAt, &p.Attempts, &p.LastError); err != nil {
			return nil, fmt.Errorf("list parked outbox events: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Release puts a parked event back in line with a fresh attempt count, once whatever made it fail
// has been dealt with. It reports whether the event was parked. The attempt count is reset in the same
// transaction, so the relay never sees the event unparked with its old count.
func Release(ctx context.Context, db *sql.DB, offset int64) (bool, error) {
	released := false
	err := sqldb.InTx(ctx, db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE "+table+" SET parked_at = NULL, last_error = NULL"+
			" WHERE `offset` = ? AND parked_at IS NOT NULL", offset)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+failuresTable+" WHERE `offset` = ?", offset); err != nil {
			return err
		}
		released = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("release outbox row %d: %w", offset, err)
	}
	return released, nil
}
