package outbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

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
		events.MetaEventType: ev.Type, events.MetaAggregateType: "order", events.MetaAggregateID: "42",
		events.MetaAggregateVersion: "3", events.MetaCorrelationID: "corr-42",
	}
	if fmt.Sprint(map[string]string(msg.Metadata)) != fmt.Sprint(want) {
		t.Errorf("metadata %v, want %v", msg.Metadata, want)
	}
	var back events.Envelope
	if err := json.Unmarshal(msg.Payload, &back); err != nil || back.EventID != ev.EventID {
		t.Errorf("payload does not decode to the event: %v %s", err, msg.Payload)
	}

	ev.CorrelationID = ""
	if msg, _ := outbox.Message(ev); msg.Metadata.Get(events.MetaCorrelationID) != "" || len(msg.Metadata) != 4 {
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

// newEvent returns an order event of order id at version v.
func newEvent(t testing.TB, id int64, v int, corr string) events.Envelope {
	t.Helper()
	typ := events.OrderCreated
	if v > 1 {
		typ = events.OrderConfirmed
	}
	ev, err := events.New(typ, events.AggregateOrder, strconv.FormatInt(id, 10), v, corr,
		map[string]any{"id": id, "status": "CREATED"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
