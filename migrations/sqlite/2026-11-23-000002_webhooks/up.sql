-- Webhooks: Stripe events received (deduplicated by id), and the outbox of events for merchants.
ALTER TABLE accounts ADD COLUMN webhook_secret_enc TEXT;
ALTER TABLE accounts ADD COLUMN stripe_webhook_secret_enc TEXT;

CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    stripe_account TEXT,
    object_id TEXT,
    received_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    event_type TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_account ON webhook_deliveries (account_id, id);
