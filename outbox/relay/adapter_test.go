package relay_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/outbox"
	"github.com/b2b/backoffice/outbox/relay"
)

// TestSelectSkipsRowsAnotherRelayHolds proves at the SQL level what lets relays share the table: the
// second of two concurrent batch transactions gets the rows after the first one's batch, without
// waiting, and parked rows are never selected.
func TestSelectSkipsRowsAnotherRelayHolds(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	var evs []events.Envelope
	for i := 0; i < 7; i++ {
		evs = append(evs, newEvent(t, int64(i), 1, ""))
	}
	publish(t, db.DB, evs...)
	if _, err := db.Exec("UPDATE outbox SET parked_at = UTC_TIMESTAMP(6), last_error = 'x' ORDER BY `offset` LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	schema := relay.NewSchema(3)
	q, err := schema.SelectQuery(wsql.SelectQueryParams{Topic: outbox.Topic})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(tx *sql.Tx) []string {
		rows, err := tx.QueryContext(ctx, q.Query, q.Args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			r, err := schema.UnmarshalMessage(wsql.UnmarshalMessageParams{Row: rows})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.Msg.UUID)
		}
		return ids
	}
	opts := &sql.TxOptions{Isolation: schema.SubscribeIsolationLevel()}
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
	if _, err := tx2.ExecContext(ctx, "SET innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}

	first, second := batch(tx1), batch(tx2)
	ids := func(evs []events.Envelope) []string {
		var s []string
		for _, ev := range evs {
			s = append(s, ev.EventID)
		}
		return s
	}
	if fmt.Sprint(first) != fmt.Sprint(ids(evs[1:4])) || fmt.Sprint(second) != fmt.Sprint(ids(evs[4:7])) {
		t.Errorf("batches %v and %v, want %v and %v (the parked first row skipped)", first, second, ids(evs[1:4]), ids(evs[4:7]))
	}
}

func TestAckCoversOnlyTheAckedPrefix(t *testing.T) {
	rows := []wsql.Row{{Offset: 10}, {Offset: 11}, {Offset: 14}, {Offset: 15}}
	q, err := relay.OffsetsAdapter().AckMessageQuery(wsql.AckMessageQueryParams{
		Topic: outbox.Topic, Rows: rows, LastRow: rows[1],
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(q.Args) != "[10 11]" {
		t.Errorf("ack args %v, want [10 11]: rows after the last acked one were never sent", q.Args)
	}
	if !strings.Contains(q.Query, "`parked_at` IS NULL") || strings.Count(q.Query, "?") != 2 {
		t.Errorf("ack query %q, want two placeholders and parked rows excluded", q.Query)
	}
}
