package outbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

	"github.com/b2b/backoffice/events"
	"github.com/b2b/backoffice/internal/dbtest"
	"github.com/b2b/backoffice/internal/sqldb"
	"github.com/b2b/backoffice/outbox"
)

func TestMessage(t *testing.T) {
	ev := newEvent(t, 42, 3, "corr-42")
	msg, err := outbox.Message(ev)
	if err != nil {
		t.Fatal(err)
	}
	if msg.UUID != ev.EventID {
		t.Errorf("uuid %q, want the event id %q", msg.UUID, ev.EventID)
	}
	want := map[string]string{
		outbox.MetaEventType: ev.Type, outbox.MetaAggregateType: "order", outbox.MetaAggregateID: "42",
		outbox.MetaAggregateVersion: "3", outbox.MetaCorrelationID: "corr-42",
	}
	if fmt.Sprint(map[string]string(msg.Metadata)) != fmt.Sprint(want) {
		t.Errorf("metadata %v, want %v", msg.Metadata, want)
	}
	var back events.Envelope
	if err := json.Unmarshal(msg.Payload, &back); err != nil || back.EventID != ev.EventID {
		t.Errorf("payload does not decode to the event: %v %s", err, msg.Payload)
	}

	ev.CorrelationID = ""
	if msg, _ := outbox.Message(ev); msg.Metadata.Get(outbox.MetaCorrelationID) != "" || len(msg.Metadata) != 4 {
		t.Errorf("without a correlation id: metadata %v, want 4 keys and no correlation_id", msg.Metadata)
	}

	ev.Data = json.RawMessage(`"` + strings.Repeat("x", outbox.MaxPayloadBytes) + `"`)
	if _, err := outbox.Message(ev); err == nil || !strings.Contains(err.Error(), "over the 262144-byte SQS limit") {
		t.Errorf("oversized event: error %v, want one naming the SQS limit", err)
	}
}

func TestPublishIsPartOfTheTransaction(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	kept, dropped := newEvent(t, 1, 1, "c1"), newEvent(t, 2, 1, "c2")
	if err := sqldb.InTx(ctx, db.DB, func(tx *sql.Tx) error {
		return outbox.Publish(ctx, tx, kept)
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := sqldb.InTx(ctx, db.DB, func(tx *sql.Tx) error {
		if err := outbox.Publish(ctx, tx, dropped); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the rollback cause", err)
	}
	huge := newEvent(t, 3, 1, "")
	huge.Data = json.RawMessage(`"` + strings.Repeat("x", outbox.MaxPayloadBytes) + `"`)
	if err := sqldb.InTx(ctx, db.DB, func(tx *sql.Tx) error { return outbox.Publish(ctx, tx, huge) }); err == nil {
		t.Fatal("publishing an oversized event: got no error")
	}

	rows, err := db.Query("SELECT uuid, JSON_VALUE(payload, '$.event_id'), JSON_VALUE(metadata, '$.event_type'), acked, parked_at FROM outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var uuid, payloadID, typ string
		var acked bool
		var parked sql.NullTime
		if err := rows.Scan(&uuid, &payloadID, &typ, &acked, &parked); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s acked=%v parked=%v", uuid, payloadID, typ, acked, parked.Valid))
	}
	want := []string{fmt.Sprintf("%s %s order.created acked=false parked=false", kept.EventID, kept.EventID)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outbox rows %v, want %v", got, want)
	}
}

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
	schema := outbox.NewSchema(3)
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
	q, err := outbox.OffsetsAdapter().AckMessageQuery(wsql.AckMessageQueryParams{
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
