ALTER TABLE payment_history DROP COLUMN detail;
