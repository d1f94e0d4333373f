package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/events"
)

// Table is the outbox table in the orders database (created by db/migrations/orders).
const Table = "outbox"

// FailuresTable records failed send attempts per outbox row (see db/migrations/orders/00003_outbox_parking.sql).
const FailuresTable = "outbox_failures"

// Topic is the watermill topic of the outbox; the schema maps it to Table.
const Topic = "order-events"

// MaxPayloadBytes is the largest event the outbox accepts: an SQS message body can hold 256 KiB.
const MaxPayloadBytes = 256 * 1024

// TableName is the watermill-sql table-name function of the outbox: every topic is Table. The
// publisher here and the relay's subscriber both use it.
func TableName(string) string { return "`" + Table + "`" }

// Schema returns watermill-sql's MySQLQueueSchema on Table: the layout the migration creates, a row per
// event with its own delivered state (see the package doc for why not the default schema).
func Schema() wsql.MySQLQueueSchema {
	return wsql.MySQLQueueSchema{GenerateMessagesTableName: TableName}
}

// Publish writes evs to the outbox inside tx. Call it as the last statement of the transaction that
// makes the change, after the row that locks the aggregate, so events of one aggregate are relayed in
// the order they were committed.
func Publish(ctx context.Context, tx *sql.Tx, evs ...events.Envelope) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([]*message.Message, 0, len(evs))
	for _, ev := range evs {
		msg, err := Message(ev)
		if err != nil {
			return err
		}
		msg.SetContext(ctx)
		msgs = append(msgs, msg)
	}
	pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: Schema()}, watermill.NopLogger{})
	if err != nil {
		return fmt.Errorf("outbox publisher: %w", err)
	}
	if err := pub.Publish(Topic, msgs...); err != nil {
		return fmt.Errorf("outbox publish: %w", err)
	}
	return nil
}

// Message encodes an event as a watermill message: the envelope as payload, the event id as UUID, and
// the routing fields as metadata (events.Meta*), which travel as message attributes.
func Message(ev events.Envelope) (*message.Message, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.Type, err)
	}
	if len(payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("event %s %s of order %s is %d bytes, over the %d-byte SQS limit",
			ev.Type, ev.EventID, ev.AggregateID, len(payload), MaxPayloadBytes)
	}
	msg := message.NewMessage(ev.EventID, payload)
	msg.Metadata.Set(events.MetaEventType, ev.Type)
	msg.Metadata.Set(events.MetaAggregateType, ev.AggregateType)
	msg.Metadata.Set(events.MetaAggregateID, ev.AggregateID)
	msg.Metadata.Set(events.MetaAggregateVersion, fmt.Sprint(ev.AggregateVersion))
	if ev.CorrelationID != "" {
		msg.Metadata.Set(events.MetaCorrelationID, ev.CorrelationID)
	}
	return msg, nil
}
