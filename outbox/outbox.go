// Package outbox is the transactional outbox of orders-api: Publish writes events in the caller's
// transaction, through a watermill-sql publisher, into the outbox table; the relay (see Relay) moves
// committed rows to SQS.
//
// The table uses watermill-sql's flag-based MySQLQueueSchema (a row per event, deleted on delivery) read
// under READ COMMITTED, not the default schema with its offsets table: the default one tracks a
// high-water mark and permanently skips an event whose AUTO_INCREMENT id was allocated before a
// concurrently committed higher one became visible.
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

// Topic is the watermill topic of the outbox; the schema maps it to Table.
const Topic = "order-events"

// MaxPayloadBytes is the largest event the outbox accepts: an SQS message body can hold 256 KiB.
const MaxPayloadBytes = 256 * 1024

// Metadata keys carried with every event (and, by the relay, as SQS message attributes).
const (
	MetaEventType        = "event_type"
	MetaAggregateType    = "aggregate_type"
	MetaAggregateID      = "aggregate_id"
	MetaAggregateVersion = "aggregate_version"
	MetaCorrelationID    = "correlation_id"
)

// Schema is the schema adapter for both the publisher and the relay's subscriber.
type Schema struct {
	wsql.MySQLQueueSchema
}

// NewSchema returns the outbox schema adapter reading batchSize rows per poll (default 100).
func NewSchema(batchSize int) Schema {
	return Schema{wsql.MySQLQueueSchema{
		GenerateMessagesTableName: tableName,
		SubscribeBatchSize:        batchSize,
	}}
}

// SubscribeIsolationLevel overrides the queue schema's SERIALIZABLE: rows carry their own delivered
// state, so READ COMMITTED loses nothing, and it keeps the relay's reads from blocking writers.
func (Schema) SubscribeIsolationLevel() sql.IsolationLevel { return sql.LevelReadCommitted }

// OffsetsAdapter deletes delivered rows, so the table holds only what is still to be sent.
func OffsetsAdapter() wsql.MySQLQueueOffsetsAdapter {
	return wsql.MySQLQueueOffsetsAdapter{DeleteOnAck: true, GenerateMessagesTableName: tableName}
}

func tableName(string) string { return "`" + Table + "`" }

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
	pub, err := wsql.NewPublisher(wsql.TxFromStdSQL(tx), wsql.PublisherConfig{SchemaAdapter: NewSchema(0)}, watermill.NopLogger{})
	if err != nil {
		return fmt.Errorf("outbox publisher: %w", err)
	}
	if err := pub.Publish(Topic, msgs...); err != nil {
		return fmt.Errorf("outbox publish: %w", err)
	}
	return nil
}

// Message encodes an event as a watermill message: the envelope as payload, the event id as UUID, and
// the routing fields as metadata.
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
	msg.Metadata.Set(MetaEventType, ev.Type)
	msg.Metadata.Set(MetaAggregateType, ev.AggregateType)
	msg.Metadata.Set(MetaAggregateID, ev.AggregateID)
	msg.Metadata.Set(MetaAggregateVersion, fmt.Sprint(ev.AggregateVersion))
	if ev.CorrelationID != "" {
		msg.Metadata.Set(MetaCorrelationID, ev.CorrelationID)
	}
	return msg, nil
}
