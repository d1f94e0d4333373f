-- +goose Up
-- The inbox remembers what each processed event was about: occurred_at gives the freshness of the reports
-- (the newest event applied), the rest lets a person see what reached reporting.
ALTER TABLE processed_events
    ADD COLUMN event_type        VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ADD COLUMN aggregate_type    VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ADD COLUMN aggregate_id      VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ADD COLUMN aggregate_version INT          NOT NULL,
    ADD COLUMN occurred_at       DATETIME(6)  NOT NULL,
    ADD KEY idx_processed_events_occurred (occurred_at);

-- The order projection: the latest snapshot of each order, by aggregate_version. Every event carries the
-- full order, so a snapshot only ever replaces one with a lower version, and the table ends the same
-- whatever the order and number of deliveries. Reports are computed from it at query time.
CREATE TABLE orders (
    order_id      BIGINT      NOT NULL PRIMARY KEY,
    customer_id   BIGINT      NOT NULL,
    status        VARCHAR(16) NOT NULL,
    total_cents   BIGINT      NOT NULL,
    -- units: the sum of the items' quantities.
    units         BIGINT      NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    confirmed_at  DATETIME(6) NULL,
    canceled_at   DATETIME(6) NULL,
    -- version: aggregate_version of the snapshot stored.
    version       INT         NOT NULL,
    KEY idx_orders_confirmed (confirmed_at),
    KEY idx_orders_canceled (canceled_at),
    KEY idx_orders_customer (customer_id, created_at),
    CONSTRAINT chk_orders_status CHECK (status IN ('CREATED', 'CONFIRMED', 'CANCELED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The items of the stored snapshot, replaced with it.
CREATE TABLE order_items (
    order_id          BIGINT NOT NULL,
    product_id        BIGINT NOT NULL,
    qty               INT    NOT NULL,
    unit_price_cents  BIGINT NOT NULL,
    subtotal_cents    BIGINT NOT NULL,
    PRIMARY KEY (order_id, product_id),
    KEY idx_order_items_product (product_id),
    CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE order_items;
DROP TABLE orders;
ALTER TABLE processed_events
    DROP KEY idx_processed_events_occurred,
    DROP COLUMN occurred_at,
    DROP COLUMN aggregate_version,
    DROP COLUMN aggregate_id,
    DROP COLUMN aggregate_type,
    DROP COLUMN event_type;
