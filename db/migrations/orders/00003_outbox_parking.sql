-- +goose Up
-- Parking: an event that failed to reach SQS OUTBOX_MAX_ATTEMPTS times stays in the outbox with its last
-- error and parked_at set; the relay's select skips it, so it no longer holds up the events behind it.
ALTER TABLE outbox
    ADD COLUMN parked_at  DATETIME(6) NULL,
    ADD COLUMN last_error TEXT        NULL;

-- Failed send attempts per outbox row. Kept apart from the outbox row on purpose: while the relay works
-- on a row it holds that row locked in its batch transaction, and an attempt must be recorded in its own
-- committed statement (so the count survives a relay crash) without waiting on that lock. No foreign
-- key for the same reason (checking it would wait on the locked parent row). The relay periodically deletes
-- the failures of rows that are gone (delivered), with its lag check.
CREATE TABLE outbox_failures (
    `offset`         BIGINT      NOT NULL PRIMARY KEY,
    `uuid`           VARCHAR(36) NOT NULL,
    attempts         INT         NOT NULL,
    last_error       TEXT        NOT NULL,
    first_failed_at  DATETIME(6) NOT NULL,
    last_failed_at   DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE outbox_failures;
ALTER TABLE outbox
    DROP COLUMN last_error,
    DROP COLUMN parked_at;
