INSERT INTO products (id, sku, name, price_cents, stock, created_at, updated_at) VALUES
    (1, 'LAPTOP-PRO-14', 'Laptop Pro 14"', 129900, 500, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (2, 'LAPTOP-AIR-13', 'Laptop Air 13"', 129900, 200, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (3, 'DOCK-USB-C', 'USB-C Docking Station', 18900, 1000, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (4, 'MONITOR-27-4K', '27" 4K Monitor', 45900, 75, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)),
    (5, 'HEADSET-BT', 'Bluetooth Headset (discontinued)', 7900, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE id = id;
