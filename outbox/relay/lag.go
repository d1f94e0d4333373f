package relay

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/b2b/backoffice/outbox"
)

// Lag reads the current lag of the relay's outbox.
func (r *Relay) Lag(ctx context.Context) (outbox.Lag, error) { return outbox.ReadLag(ctx, r.db) }

// watchLag logs the lag every LagInterval when it changed (pending count, parked count, or whether
// the relay is caught up) and at least every LagLogEvery, until ctx is done.
func (r *Relay) watchLag(ctx context.Context) {
	t := time.NewTicker(r.o.LagInterval)
	defer t.Stop()
	var last outbox.Lag
	var lastLogged time.Time
	first := true
	for {
		if _, err := removeStaleFailures(ctx, r.db); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox failure records not cleaned", "error", err.Error())
		}
		l, err := r.Lag(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("outbox lag unavailable", "error", err.Error())
		} else if first || l.Pending != last.Pending || l.Parked != last.Parked || time.Since(lastLogged) >= r.o.LagLogEvery {
			level := slogLevelFor(l)
			r.log.Log(ctx, level, "outbox lag", "pending", l.Pending,
				"oldest_age", l.Oldest.Round(time.Millisecond).String(), "oldest_age_ms", l.Oldest.Milliseconds(),
				"parked", l.Parked, "delivered", r.Delivered())
			last, lastLogged, first = l, time.Now(), false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// slogLevelFor makes parked events stand out: they need someone to look at them.
func slogLevelFor(l outbox.Lag) slog.Level {
	if l.Parked > 0 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// removeStaleFailures deletes the failure records of rows since delivered. It reads without locking
// (a relay may hold the outbox rows) and deletes only records whose row is gone for good: a failure is
// recorded only for a committed row, and a row leaves the outbox only when delivered.
func removeStaleFailures(ctx context.Context, db *sql.DB) (int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT f.`offset` FROM "+failuresTable+" f"+
		" LEFT JOIN "+table+" o ON o.`offset` = f.`offset` WHERE o.`offset` IS NULL LIMIT 500")
	if err != nil {
		return 0, fmt.Errorf("find stale outbox failures: %w", err)
	}
	var offsets []any
	for rows.Next() {
		var o int64
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return 0, err
		}
		offsets = append(offsets, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(offsets) == 0 {
		return 0, err
	}
	res, err := db.ExecContext(ctx, "DELETE FROM "+failuresTable+" WHERE `offset` IN (?"+
		strings.Repeat(",?", len(offsets)-1)+")", offsets...)
	if err != nil {
		return 0, fmt.Errorf("delete stale outbox failures: %w", err)
	}
	return res.RowsAffected()
}
