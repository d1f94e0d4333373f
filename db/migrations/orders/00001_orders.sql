-- +goose Up
CREATE TABLE products (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    sku          VARCHAR(64)  NOT NULL,
    name         VARCHAR(200) NOT NULL,
    price_cents  BIGINT       NOT NULL,
    stock        INT          NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    UNIQUE KEY uq_products_sku (sku),
    CONSTRAINT chk_products_price CHECK (price_cents >= 0),
    CONSTRAINT chk_products_stock CHECK (stock >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE orders (
    id            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id   BIGINT      NOT NULL,
    status        VARCHAR(16) NOT NULL,
    total_cents   BIGINT      NOT NULL,
    -- aggregate_version of the order's events: +1 with every change.
    version       INT         NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    confirmed_at  DATETIME(6) NULL,
    canceled_at   DATETIME(6) NULL,
    KEY idx_orders_status (status, id),
    KEY idx_orders_customer (customer_id, id),
    KEY idx_orders_created (created_at, id),
    CONSTRAINT chk_orders_status CHECK (status IN ('CREATED', 'CONFIRMED', 'CANCELED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE order_items (
    order_id          BIGINT NOT NULL,
    product_id        BIGINT NOT NULL,
    qty               INT    NOT NULL,
    unit_price_cents  BIGINT NOT NULL,
    subtotal_cents    BIGINT NOT NULL,
    PRIMARY KEY (order_id, product_id),
    KEY idx_order_items_product (product_id),
    CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT chk_order_items_qty CHECK (qty > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Idempotency keys of REST operations (scope: create, confirm): the key, the stored response and the
-- state change commit in one transaction.
CREATE TABLE idempotency_keys (
    scope          VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idem_key       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_hash   CHAR(64)     CHARACTER SET ascii NOT NULL,
    target_id      BIGINT       NOT NULL,
    status_code    SMALLINT     NOT NULL,
    response_body  MEDIUMBLOB   NOT NULL,
    created_at     DATETIME(6)  NOT NULL,
    expires_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (scope, idem_key),
    KEY idx_idempotency_keys_expires (expires_at)
) ENGINE = InnoDB;

-- Create-and-confirm requests received as PlaceOrder commands, keyed by the client's idempotency key.
CREATE TABLE order_requests (
    idempotency_key  VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    request_hash     CHAR(64)     CHARACTER SET ascii NOT NULL,
    customer_id      BIGINT       NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    order_id         BIGINT       NULL,
    error            JSON         NULL,
    correlation_id   VARCHAR(128) NULL,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    CONSTRAINT chk_order_requests_status CHECK (status IN ('PROCESSING', 'CONFIRMED', 'REJECTED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Transactional outbox in watermill-sql's MySQLQueueSchema layout: a row per event, deleted once
-- delivered. No global high-water mark, so a late-committing writer is never skipped.
CREATE TABLE outbox (
    `offset`    BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `uuid`      VARCHAR(36) NOT NULL,
    `payload`   JSON        DEFAULT NULL,
    `metadata`  JSON        DEFAULT NULL,
    `acked`     BOOLEAN     NOT NULL DEFAULT FALSE,
    `created_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY idx_outbox_acked (acked, `offset`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE outbox;
DROP TABLE order_requests;
DROP TABLE idempotency_keys;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE products;
