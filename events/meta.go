package events

// Message metadata keys: watermill metadata that travels as SQS message attributes. They are wire
// contract like the JSON fields, so producers and consumers name them from here.
const (
	// MetaCorrelationID is on every command and event: the correlation id of the request behind it.
	MetaCorrelationID = "correlation_id"
	// MetaIdempotencyKey is on a PlaceOrder: the key of the request, readable without decoding the body.
	MetaIdempotencyKey = "idempotency_key"

	// Routing fields of an event, so a consumer (or a person) can filter without decoding the envelope.
	MetaEventType        = "event_type"
	MetaAggregateType    = "aggregate_type"
	MetaAggregateID      = "aggregate_id"
	MetaAggregateVersion = "aggregate_version"
)
