DROP TABLE webhook_deliveries;
DROP TABLE stripe_events;
ALTER TABLE accounts DROP COLUMN stripe_webhook_secret_enc;
ALTER TABLE accounts DROP COLUMN webhook_secret_enc;
