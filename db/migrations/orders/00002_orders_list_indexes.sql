-- +goose Up
-- GET /orders pages by id. A customer filter combined with a status or a date range reads only the
-- matching rows through these, instead of every order of the customer: (customer_id, status, id) keeps
-- id order, so the page needs no sort; (customer_id, created_at, id) sorts only the customer's orders of
-- the range.
ALTER TABLE orders
    ADD KEY idx_orders_customer_status (customer_id, status, id),
    ADD KEY idx_orders_customer_created (customer_id, created_at, id);

-- +goose Down
ALTER TABLE orders
    DROP KEY idx_orders_customer_created,
    DROP KEY idx_orders_customer_status;
