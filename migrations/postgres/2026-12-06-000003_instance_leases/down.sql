ALTER TABLE api_idempotency DROP COLUMN instance_id;
DROP TABLE instances;
