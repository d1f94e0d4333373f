package events

import _ "embed"

// AsyncAPI is the published contract of the order events: an AsyncAPI 3.0 document describing the
// topic, the queues subscribed to it, every event type, the envelope, the data schemas and the message
// attributes. Tests validate real events from orders-api against it.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
