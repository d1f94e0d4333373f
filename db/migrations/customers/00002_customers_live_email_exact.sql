-- +goose Up
-- Emails are lower-cased by the service before they are stored, so the uniqueness of live emails
-- compares them byte for byte: under the table's accent- and case-insensitive collation
-- "jose@x" and "josé@x" (or "strasse@x" and "straße@x") were taken to be one address.
ALTER TABLE customers
    MODIFY live_email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
        AS (IF(deleted_at IS NULL, email, NULL)) STORED;

-- +goose Down
ALTER TABLE customers
    MODIFY live_email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
        AS (IF(deleted_at IS NULL, email, NULL)) STORED;
