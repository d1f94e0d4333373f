INSERT INTO customers (id, name, email, phone, created_at, updated_at) VALUES
    (1, 'ACME Corp', 'ops@acme.com', '+1-555-0100', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (2, 'Globex Industries', 'purchasing@globex.example', '+1-555-0101', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (3, 'Initech LLC', 'orders@initech.example', NULL, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (4, 'Umbrella Supply Co', 'buyers@umbrella.example', '+44 20 7946 0000', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE id = id;
