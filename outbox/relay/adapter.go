package relay

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/b2b/backoffice/outbox"
)

// Schema is the schema adapter of the relay's subscriber: the outbox's MySQLQueueSchema with three
// changes made for the relay (see the package doc):
//   - its select skips rows other relays hold (FOR UPDATE SKIP LOCKED) and parked rows;
//   - it reads under READ COMMITTED instead of SERIALIZABLE;
//   - each message carries its row offset in metadata (internal to the relay, never sent), and a row
//     whose metadata cannot be decoded becomes a message the relay parks instead of an error that
//     would stop the subscriber on that row forever.
type Schema struct {
	wsql.MySQLQueueSchema
}

// NewSchema returns the relay's schema adapter reading batchSize rows per poll (default 100).
func NewSchema(batchSize int) Schema {
	s := outbox.Schema()
	s.SubscribeBatchSize = batchSize
	return Schema{s}
}

// SubscribeIsolationLevel overrides the queue schema's SERIALIZABLE: rows carry their own delivered
// state, so READ COMMITTED loses nothing, and it keeps the relay's reads from blocking writers.
func (Schema) SubscribeIsolationLevel() sql.IsolationLevel { return sql.LevelReadCommitted }

// SelectQuery locks the next batch of undelivered, unparked rows. SKIP LOCKED lets several relays
// share the table: each takes rows no other relay holds, and a row being inserted by a still-open
// producer transaction is skipped rather than waited for (it is picked up by a later poll; there is no
// high-water mark that could pass it by).
func (s Schema) SelectQuery(params wsql.SelectQueryParams) (wsql.Query, error) {
	if params.ConsumerGroup != "" {
		return wsql.Query{}, errors.New("outbox: consumer groups are not supported")
	}
	batch := s.SubscribeBatchSize
	if batch <= 0 {
		batch = 100
	}
	return wsql.Query{Query: "SELECT `offset`, `uuid`, `payload`, `metadata` FROM " + s.MessagesTable(params.Topic) +
		" WHERE `acked` = FALSE AND `parked_at` IS NULL ORDER BY `offset` LIMIT " + strconv.Itoa(batch) +
		" FOR UPDATE SKIP LOCKED"}, nil
}

// UnmarshalMessage decodes a row and records its offset in the message's metadata.
func (s Schema) UnmarshalMessage(params wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var r wsql.Row
	if err := params.Row.Scan(&r.Offset, &r.UUID, &r.Payload, &r.Metadata); err != nil {
		return wsql.Row{}, fmt.Errorf("could not scan outbox row: %w", err)
	}
	msg := message.NewMessage(string(r.UUID), r.Payload)
	if len(r.Metadata) > 0 {
		if err := json.Unmarshal(r.Metadata, &msg.Metadata); err != nil {
			msg.Metadata = message.Metadata{metaInvalid: "metadata is not a JSON object of strings: " + err.Error()}
		}
	}
	if msg.Metadata == nil {
		msg.Metadata = message.Metadata{}
	}
	msg.Metadata.Set(metaOffset, strconv.FormatInt(r.Offset, 10))
	r.Msg = msg
	return r, nil
}

// Internal metadata of relayed messages, removed before sending.
const (
	metaOffset  = "_outbox_offset"
	metaInvalid = "_outbox_invalid"
)

// Offsets is the offsets adapter of the relay: watermill-sql's MySQLQueueOffsetsAdapter with its
// end-of-batch ack replaced (see AckMessageQuery).
type Offsets struct {
	wsql.MySQLQueueOffsetsAdapter
}

// OffsetsAdapter returns the relay's offsets adapter.
func OffsetsAdapter() Offsets {
	// DeleteOnAck is moot: AckMessageQuery is replaced; the embedded adapter supplies the rest.
	return Offsets{wsql.MySQLQueueOffsetsAdapter{GenerateMessagesTableName: outbox.TableName}}
}

// AckMessageQuery marks the delivered rows of a batch acked. The relay has already deleted each one,
// by primary key, right after sending it (see Relay), so in the relay it matches nothing; were a
// delivered row still there, marking it keeps it from being sent again.
//
// It differs from the upstream adapter in two ways, both measured:
//   - The subscriber passes every row it selected, but stops handing out messages at the first one
//     not acked within AckDeadline (or at shutdown) and names the last acked row in LastRow; the
//     upstream query deletes all selected rows anyway, silently dropping those never sent. Only rows
//     up to LastRow were acked (messages go out one at a time, in offset order).
//   - The upstream DELETE ... WHERE offset IN (...) runs as a range scan that also locks the rows
//     next to the batch; with two relays those are the other relay's rows, and the two deadlocked
//     dozens of times per 4 000 events, each time rolling back (and later re-sending) a delivered
//     batch. An UPDATE under READ COMMITTED reads such neighbours semi-consistently and skips them
//     without waiting; deleting by primary key locks only the row itself.
func (a Offsets) AckMessageQuery(params wsql.AckMessageQueryParams) (wsql.Query, error) {
	if params.ConsumerGroup != "" {
		return wsql.Query{}, errors.New("outbox: consumer groups are not supported")
	}
	args := make([]any, 0, len(params.Rows))
	for _, row := range params.Rows {
		if row.Offset <= params.LastRow.Offset {
			args = append(args, row.Offset)
		}
	}
	if len(args) == 0 {
		// Never the case (LastRow is one of Rows), but an empty IN () is a syntax error.
		args = append(args, params.LastRow.Offset)
	}
	q := "UPDATE " + a.MessagesTable(params.Topic) + " SET `acked` = TRUE" +
		" WHERE `offset` IN (?" + strings.Repeat(",?", len(args)-1) + ") AND `parked_at` IS NULL"
	return wsql.Query{Query: q, Args: args}, nil
}

// table is the outbox table, quoted.
var table = outbox.TableName("")

// failuresTable is the table of failed attempts, quoted.
const failuresTable = "`" + outbox.FailuresTable + "`"
