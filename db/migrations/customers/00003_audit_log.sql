-- +goose Up
-- Who changed what: one row per change of a customer (created, updated, deleted), written in the
-- change's transaction, never updated or deleted. actor is the subject of the caller's access token;
-- actor_customer_id the customer a customer's own integration is bound to (NULL for an operator).
CREATE TABLE audit_log (
    id                 BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    occurred_at        DATETIME(6)  NOT NULL,
    actor              VARCHAR(255) NOT NULL,
    actor_customer_id  BIGINT       NULL,
    action             VARCHAR(32)  CHARACTER SET ascii NOT NULL,
    entity_type        VARCHAR(16)  CHARACTER SET ascii NOT NULL,
    entity_id          BIGINT       NOT NULL,
    correlation_id     VARCHAR(128) NULL,
    KEY idx_audit_log_entity (entity_type, entity_id, id),
    KEY idx_audit_log_actor (actor, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE audit_log;
