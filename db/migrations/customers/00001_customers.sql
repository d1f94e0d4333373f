-- +goose Up
CREATE TABLE customers (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    email       VARCHAR(254) NOT NULL,
    phone       VARCHAR(32)  NULL,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    deleted_at  DATETIME(6)  NULL,
    -- NULL for deleted customers, so the unique key covers live customers only and a deleted
    -- customer's email can be registered again.
    live_email  VARCHAR(254) AS (IF(deleted_at IS NULL, email, NULL)) STORED,
    UNIQUE KEY uq_customers_live_email (live_email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE customers;
