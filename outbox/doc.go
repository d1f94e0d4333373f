// Package outbox is the transactional outbox of orders-api: Publish writes events into the outbox table
// inside the caller's transaction (through a watermill-sql publisher), and Relay moves committed rows to
// SQS (through a watermill-sql subscriber and a watermill-aws publisher). Delivery is at least once:
// a committed event is never lost, a rolled-back one never sent, and a crash can only repeat events.
//
// # Table and adapter
//
// The table has watermill-sql's MySQLQueueSchema layout (a row per event, its own delivered state, no
// global high-water mark), read under READ COMMITTED. Rows hold the event as written: uuid is the event
// id, payload the envelope JSON, metadata the routing fields (Meta*), so both people and code can find
// an event with SQL. The relay's subscriber uses Schema and Offsets, which change three things in the
// upstream queue adapter, each for a measured reason:
//
//   - Several relays: the batch select is FOR UPDATE SKIP LOCKED, so each relay takes rows no other
//     relay holds, and a row still being inserted by an open producer transaction is skipped, not waited
//     for; with no high-water mark it is picked up by a later poll. TestTwoRelaysAtOnce: no loss, no
//     event sent twice.
//   - Deleting delivered rows: the relay deletes each row by primary key, in the batch transaction,
//     right after sending it. The upstream ack, DELETE ... WHERE offset IN (batch) at the end of the
//     batch, runs as a range scan that also locks the rows next to the batch; with two relays those
//     belong to the other relay, and the two deadlocked 41–80 times per 4 000 events here, each
//     deadlock rolling back a delivered batch that was then sent again (about 1 900 duplicates in one
//     run). A primary-key delete locks only its row. The end-of-batch ack is left as an UPDATE (which
//     READ COMMITTED evaluates semi-consistently, skipping locked neighbours) that finds nothing to do.
//   - Partial batches: when one event cannot be sent within AckDeadline, the subscriber stops the batch
//     there and commits. The upstream ack then deletes every selected row, including the ones never
//     sent: 15 of 20 events lost in TestEventNotSentWithinAckDeadlineIsKept. Offsets acks only the
//     rows up to the last one acknowledged.
//
// Why not watermill-sql's DefaultMySQLSchema: its offsets table is a high-water mark. InnoDB hands out
// an AUTO_INCREMENT value before the row is visible, so a transaction that commits after a higher one
// has been relayed is skipped for good. Measured with TestDefaultSchemaComparison
// (OUTBOX_COMPARE_DEFAULT=1: 8 writers × 1 000 transactions, every tenth rolled back, 10 ms polls, on a
// 2-core machine): it lost 80 of 7 200 committed events with an instant relay and 103 of 7 200 with a
// relay taking 20 ms per send, and its SERIALIZABLE reads held producers to 48 tx/s (p99 660 ms) in the
// slow run. The same workload through this package: 0 lost (TestNoLossUnderConcurrentProducers).
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
// id, as _watermill_message_uuid) and the Meta* keys: at most 9 metadata keys fit SQS's 10 attributes.
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
// ReadLag (and Relay.Lag) report the undelivered count, the oldest one's age and the parked count;
// the relay logs them every LagInterval when they changed, and at least every LagLogEvery.
package outbox
