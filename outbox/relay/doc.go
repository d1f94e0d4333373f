// Package relay moves committed outbox events (package outbox) from the orders database to their
// destination: the SNS topic order-events, which fans every event out to one SQS queue per consumer
// (raw message delivery). See package outbox for the table and why its schema is the queue schema.
//
// # A batch
//
// One relay transaction, under READ COMMITTED:
//
//  1. SELECT the next BatchSize undelivered, unparked rows, in offset order, FOR UPDATE SKIP LOCKED, through
//     the primary key, starting past the last batch's rows rather than at the start of the table (walking
//     through the delete-marked records of rows just delivered made each batch of a backlog several
//     times slower). It moves past them only once none can still be sent: after the commit, one locking
//     read of the batch's range with NOWAIT finds a row the select skipped because a producer's
//     transaction still held it, or a refused or released row; the next select then starts there, so a
//     late commit is never overtaken by the next version of its order (TestLateCommitGoesBeforeTheNextVersion).
//     Every second the select starts at the beginning of the table, for a parked row put back in line. SKIP LOCKED lets several relays share the table: each takes rows no other relay
//     holds, and a row of a producer transaction still open is skipped, not waited for; with no
//     high-water mark it is picked up by a later poll. The primary key rather than the (acked, offset)
//     index: through the index, a relay that skips a row keeps that row's index entry locked, the relay
//     that holds the row then waits on it to delete the row, and two relays deadlocked several times per
//     thousand events (TestTwoRelaysAtOnce: no loss, no event sent twice).
//  2. Send the rows in batch calls (SNS PublishBatch: up to 10 messages and 256 KiB; queue.Batcher), in
//     Lanes groups at once: the rows are split by a hash of their aggregate, so the events of one order
//     always go through one lane, in offset order, one call after the other. Each message is in
//     watermill-aws's format, so consumers read it with watermill-aws's SQS subscriber: the envelope as
//     body, the event id as _watermill_message_uuid and the events.Meta* keys as String attributes (at
//     most 9 keys fit SQS's 10 attributes).
//  3. Delete each delivered row, by primary key, in the batch transaction: one DELETE per row, all of them
//     sent in one round trip (so the relay's connections need sqldb.Config.MultiStatements; Run checks).
//     Not one DELETE ... IN (...): on a table the optimizer takes for small (the outbox, whose rows leave
//     as they are delivered) that runs as a full scan, which waits on the rows other relays hold, and two
//     relays deadlock.
//  4. Commit. A crash anywhere before rolls the batch back; its rows are sent again by the next relay:
//     at most BatchSize duplicates per crash (TestCrashIsAtLeastOnce kills the real binary).
//
// Why not watermill-sql's subscriber (the relay used it before): it hands out one row at a time and
// waits for its ack, so every event cost a network round trip of its own and the relay drained a few
// hundred events a second while producers wrote more. Why not watermill-aws's SNS publisher: it sends
// one Publish per message, with context.Background() (a hung endpoint could not be given up on), and
// names the topic as TargetArn, which goaws refuses; the batches here use its marshaler, so the
// messages are the same. Why no watermill forwarder: it needs producers to write its own envelope (the
// message base64-encoded inside JSON under a new uuid), which would hide the event from SQL.
//
// # Failures
//
//   - The destination unreachable, throttling, server errors, a missing topic, anything unrecognized, or
//     the service failing on an entry: an outage. The relay retries with capped exponential backoff
//     (RetryBackoff … MaxBackoff) for as long as it lasts, logs one line when it starts and one when it
//     ends, and never counts it against the event. After AckDeadline the batch is committed with what was
//     delivered and the rest released, so no transaction stays open for a whole outage. Producers are
//     not held up: READ COMMITTED takes no gap locks, so their inserts never wait on the relay's batch
//     (TestSQSOutage, TestProducersNotBlockedByRelay).
//   - An error that is the event's own (the service refused the entry as the sender's fault, or it can
//     never be valid: too big, not UTF-8, too many attributes, unreadable metadata): a failed attempt,
//     recorded in outbox_failures in its own committed statement, so the count survives crashes and
//     restarts. After MaxAttempts the row is parked (parked_at and last_error set) and skipped, and the
//     events behind it flow. Parked lists them; Release puts one back in line.
//   - A stop: the chunk in flight is finished or given up (its context is canceled, so a hung send ends at
//     once), what was delivered is deleted and committed, the rest is unlocked (TestGracefulShutdown,
//     TestStopDoesNotWaitForAHungSend).
//
// # Order
//
// With one relay, an aggregate's events leave in offset order among committed rows: they share a lane,
// a lane sends one batch call after the other (the lanes run side by side, so events of different
// orders may overtake each other), and a select never starts past a row that could still be sent. Publish is the last statement of a transaction that locks the
// aggregate first, so a later version of an order is always inserted after the earlier one committed:
// each order's events are sent in aggregate_version order (TestOrderFollowsAggregateVersion). A parked event, or several relays, can
// break that order; SQS standard queues do not keep it either, so consumers use aggregate_version.
//
// # Lag
//
// outbox.ReadLag (and Relay.Lag) report the undelivered count, the oldest one's age and the parked count;
// the relay logs them every LagInterval when they changed, and at least every LagLogEvery.
package relay
