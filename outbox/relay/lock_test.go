package relay

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
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
		rows, _, err := r.lock(ctx, tx)
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

// TestAdvanceWaitsForSkippedRows: the next select starts past a batch's range only once no row in it can
// still be sent. A row a producer's open transaction holds is skipped by the batch; while it is locked
// the relay looks at the range again, once it commits the next select starts at it, and once it is
// gone the range is passed.
func TestAdvanceWaitsForSkippedRows(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	event := func(i int) events.Envelope {
		ev, err := events.New(events.OrderCreated, events.AggregateOrder, fmt.Sprint(i), 1, "", map[string]int{"id": i}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	publish := func(evs ...events.Envelope) {
		t.Helper()
		if err := sqldb.InTx(ctx, db.DB, func(tx *sql.Tx) error { return outbox.Publish(ctx, tx, evs...) }); err != nil {
			t.Fatal(err)
		}
	}
	offsetOf := func(id string) int64 {
		t.Helper()
		var o int64
		if err := db.QueryRow("SELECT `offset` FROM outbox WHERE uuid = ?", id).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	before := event(1)
	publish(before)
	// A producer transaction holds the next row, uncommitted, while later rows commit.
	held := event(2)
	producer, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Rollback()
	if err := outbox.Publish(ctx, producer, held); err != nil {
		t.Fatal(err)
	}
	after := event(3)
	publish(after)

	r := &Relay{db: db.DB, o: Options{BatchSize: 10}, log: slog.New(slog.DiscardHandler), lastRescan: time.Now()}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	rows, start, err := r.lock(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].msg.UUID != before.EventID || rows[1].msg.UUID != after.EventID || start != 0 {
		t.Fatalf("batch: %d rows from %d, want the committed two from 0 (the held row skipped)", len(rows), start)
	}
	// The batch delivers both and commits.
	if _, err := tx.Exec("DELETE FROM outbox WHERE `offset` IN (?, ?)", rows[0].offset, rows[1].offset); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	last := rows[1].offset

	r.advance(ctx, start, last)
	if r.from != start {
		t.Errorf("with the held row still locked: next select from %d, want %d (the range again)", r.from, start)
	}
	if err := producer.Commit(); err != nil {
		t.Fatal(err)
	}
	r.advance(ctx, start, last)
	if want := offsetOf(held.EventID); r.from != want {
		t.Errorf("with the held row committed: next select from %d, want its offset %d", r.from, want)
	}
	if _, err := db.Exec("DELETE FROM outbox WHERE uuid = ?", held.EventID); err != nil {
		t.Fatal(err)
	}
	r.advance(ctx, start, last)
	if r.from != last+1 {
		t.Errorf("with the range delivered: next select from %d, want %d", r.from, last+1)
	}
}
