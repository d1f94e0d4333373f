-- +goose Up
-- Inbox: events already applied, written in the same transaction as their effect.
CREATE TABLE processed_events (
    event_id     CHAR(36)    CHARACTER SET ascii NOT NULL PRIMARY KEY,
    processed_at DATETIME(6) NOT NULL
) ENGINE = InnoDB;

-- +goose Down
DROP TABLE processed_events;
