// Package outbox is the write side of the transactional outbox of orders-api: Publish writes events into
// the outbox table inside the caller's transaction (through a watermill-sql publisher), so an event
// commits or rolls back with the change it describes. Moving committed rows on is the job of package
// outbox/relay; this package depends on nothing but events, watermill and watermill-sql, so a producer
// links no AWS code. Delivery is at least once: a committed event is never lost, a rolled-back one
// never sent, and a crash can only repeat events.
//
// # Table and adapter
//
// The table has watermill-sql's MySQLQueueSchema layout (a row per event, its own delivered state, no
// global high-water mark). Rows hold the event as written: uuid is the event id, payload the envelope
// JSON, metadata the routing fields (events.Meta*), so both people and code can find an event with SQL.
// The relay reads the table under READ COMMITTED through its own subscriber adapter (relay.Schema and
// relay.Offsets), which changes three things in the upstream queue adapter, each for a measured reason:
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
// slow run. The same workload through this package: 0 lost (TestNoLossUnderConcurrentProducers in outbox/relay).
//
// ReadLag reports the undelivered count, the oldest one's age and the parked count; it only reads, so
// any process holding the orders database can report the backlog.
package outbox
