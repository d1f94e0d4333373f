// Package relay moves committed outbox events (package outbox) from the orders database to the
// destination queue: a watermill-sql subscriber on the outbox table hands out rows, a watermill-aws
// publisher sends them, and each delivered row is deleted in the batch transaction. See package outbox
// for the table and why its schema is the queue schema.
//
// # Relay
//
// The subscriber hands out one row at a time and waits for its ack, so sends are sequential per relay
// (watermill-aws has no batch send either); batching is on the SQL side (BatchSize rows per
// transaction). For more throughput, run more relays. Why no forwarder: watermill's forwarder needs
// producers to write its envelope (the message base64-encoded inside JSON under a new uuid), which
// would hide the event from SQL and from everything above. Why no message.Router: closing it cancels
// the subscription context, which rolls the batch transaction back and sends its delivered events again
// after a restart; the relay closes the subscriber between two events instead, so a graceful stop
// commits what was delivered (TestGracefulShutdown).
//
// Each SQS message carries the envelope as body and, as String attributes, the message UUID (the event
// id, as _watermill_message_uuid) and the events.Meta* keys: at most 9 metadata keys fit SQS's 10 attributes.
// Events over 256 KiB are refused by Publish.
//
// # Failures
//
//   - SQS unreachable, throttling, server errors, a missing queue, anything unrecognized: an outage.
//     The relay retries the event with capped exponential backoff (RetryBackoff … MaxBackoff) for as
//     long as it lasts, logs one line when it starts and one when it ends, and never counts it against
//     the event. Producers are not held up: READ COMMITTED takes no gap locks, so their inserts never
//     wait on the relay's batch (TestSQSOutage, TestProducersNotBlockedByRelay).
//   - An error that is the event's own (SQS refused the message, or it can never be valid: too big,
//     not UTF-8, too many attributes, unreadable metadata): a failed attempt, recorded in
//     outbox_failures in its own committed statement, so the count survives crashes and restarts. After
//     MaxAttempts the row is parked (parked_at and last_error set) and skipped, and the events behind
//     it flow. Parked lists them; Release puts one back in line.
//   - A crash at any point: the batch transaction rolls back, its rows are sent again by the next
//     relay: at most BatchSize duplicates per crash (TestCrashIsAtLeastOnce kills the real binary).
//
// # Order
//
// With one relay, events leave in offset order among committed rows. Publish is the last statement of
// a transaction that locks the aggregate first, so a later version of an order is always inserted
// after the earlier one committed: each order's events are sent in aggregate_version order
// (TestOrderFollowsAggregateVersion). A parked event, or several relays, can break that order; SQS
// standard queues do not keep it either, so consumers use aggregate_version.
//
// # Lag
//
// outbox.ReadLag (and Relay.Lag) report the undelivered count, the oldest one's age and the parked count;
// the relay logs them every LagInterval when they changed, and at least every LagLogEvery.
package relay
