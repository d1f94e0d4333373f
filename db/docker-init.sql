-- First start of the MySQL container: the application user may create and use the service databases.
CREATE DATABASE IF NOT EXISTS customers CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS orders CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS reporting CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON customers.* TO 'backoffice'@'%';
GRANT ALL PRIVILEGES ON orders.* TO 'backoffice'@'%';
GRANT ALL PRIVILEGES ON reporting.* TO 'backoffice'@'%';
