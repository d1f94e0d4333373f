package relay

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
)

// TestLockSkipsRowsAnotherRelayHolds proves at the SQL level what lets relays share the table: the
// second of two concurrent batch transactions gets the rows after the first one's batch, without
// waiting, and parked rows are never selected.
func TestLockSkipsRowsAnotherRelayHolds(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	var ids []string
	err := sqldb.InTx(ctx, db.DB, func(tx *sql.Tx) error {
		for i := 0; i < 7; i++ {
			ev, err := events.New(events.OrderCreated, events.AggregateOrder, fmt.Sprint(i), 1, "", map[string]int{"id": i}, time.Now())
			if err != nil {
				return err
			}
			ids = append(ids, ev.EventID)
			if err := outbox.Publish(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE outbox SET parked_at = UTC_TIMESTAMP(6), last_error = 'x' ORDER BY `offset` LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	r := &Relay{db: db.DB, o: Options{BatchSize: 3}}
	opts := &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	batch := func(tx *sql.Tx) []string {
		rows, err := r.lock(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rw := range rows {
			got = append(got, rw.msg.UUID)
		}
		return got
	}
	tx1, err := db.BeginTx(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback()
	tx2, err := db.BeginTx(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	// A wait would fail this statement after a second instead of passing.
	if _, err := tx2.ExecContext(ctx, "SET innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	first, second := batch(tx1), batch(tx2)
	if fmt.Sprint(first) != fmt.Sprint(ids[1:4]) || fmt.Sprint(second) != fmt.Sprint(ids[4:7]) {
		t.Errorf("batches %v and %v, want %v and %v (the parked first row skipped)", first, second, ids[1:4], ids[4:7])
	}
}
