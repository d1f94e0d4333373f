package relay

import wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"

// WithAdapters makes o relay topic through schema and offsets instead of the outbox's own adapter.
func WithAdapters(o Options, topic string, schema wsql.SchemaAdapter, offsets wsql.OffsetsAdapter) Options {
	o.topic, o.schema, o.offsets = topic, schema, offsets
	return o
}
