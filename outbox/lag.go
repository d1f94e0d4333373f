package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Lag is how far the relay is behind.
type Lag struct {
	// Pending is the number of events waiting to be sent (parked ones excluded).
	Pending int
	// Oldest is the age of the oldest pending event (0 when none).
	Oldest time.Duration
	// Parked is the number of events set aside after too many failed sends.
	Parked int
}

// ReadLag reads the lag of the outbox in db. Delivered rows are deleted, so this counts only what is
// still in the table. It reads without locking: any process with the orders database can report it.
func ReadLag(ctx context.Context, db *sql.DB) (Lag, error) {
	var l Lag
	var oldestMicros sql.NullInt64
	err := db.QueryRowContext(ctx,
		"SELECT COALESCE(SUM(parked_at IS NULL), 0), COALESCE(SUM(parked_at IS NOT NULL), 0),"+
			" TIMESTAMPDIFF(MICROSECOND, MIN(CASE WHEN parked_at IS NULL THEN created_at END), CURRENT_TIMESTAMP(6))"+
			" FROM "+TableName("")+" WHERE acked = FALSE").
		Scan(&l.Pending, &l.Parked, &oldestMicros)
	if err != nil {
		return Lag{}, fmt.Errorf("read outbox lag: %w", err)
	}
	if oldestMicros.Valid && oldestMicros.Int64 > 0 {
		l.Oldest = time.Duration(oldestMicros.Int64) * time.Microsecond
	}
	return l, nil
}
