DROP TABLE payment_readers;
ALTER TABLE payments DROP COLUMN external_cashier_id;
ALTER TABLE accounts DROP COLUMN time_zone;
