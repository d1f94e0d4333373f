-- +goose Up
-- Who changed what: one row per change of a product (created, updated) or an order (created,
-- confirmed, canceled), written in the change's transaction, never updated or deleted. The events
-- carry the same actor, but the outbox forgets them once relayed; this table does not. actor is the
-- subject of the caller's access token; actor_customer_id the customer a customer's own integration
-- is bound to (NULL for an operator).
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

-- The actor of a create-and-confirm request, so that a request resumed after a crash (still
-- PROCESSING) confirms its order in the name of whoever asked for it. NULL for requests recorded
-- before requests had an actor.
ALTER TABLE order_requests
    ADD COLUMN actor             VARCHAR(255) NULL AFTER correlation_id,
    ADD COLUMN actor_customer_id BIGINT       NULL AFTER actor;

-- +goose Down
ALTER TABLE order_requests
    DROP COLUMN actor_customer_id,
    DROP COLUMN actor;
DROP TABLE audit_log;
