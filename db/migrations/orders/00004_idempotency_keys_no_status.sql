-- +goose Up
-- The stored answer of a key is replayed with the status of its operation (201 for create, 200 for
-- confirm): the status stored with each key was never read.
ALTER TABLE idempotency_keys DROP COLUMN status_code;

-- +goose Down
ALTER TABLE idempotency_keys ADD COLUMN status_code SMALLINT NOT NULL DEFAULT 0 AFTER target_id;
