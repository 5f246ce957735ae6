DROP INDEX cards_customer_context_fingerprint;
CREATE UNIQUE INDEX cards_customer_fingerprint ON cards (customer_id, fingerprint) WHERE NOT deleted;
ALTER TABLE cards DROP COLUMN stripe_context;
ALTER TABLE refunds DROP COLUMN stripe_idempotency_key;
ALTER TABLE customers DROP COLUMN stripe_context;
ALTER TABLE customers DROP COLUMN stripe_idempotency_key;
ALTER TABLE payments DROP COLUMN stripe_idempotency_key;
