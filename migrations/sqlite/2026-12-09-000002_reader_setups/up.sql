-- Cards saved on a reader without a sale (a gym, a hotel check-in): one row per request, written
-- before the card_present SetupIntent is created (its Stripe Idempotency-Key derives from the
-- row), then how it ended: `creating` → `in_progress` → `succeeded` (card_id: the saved card),
-- `failed` (Stripe's codes and message) or `canceled`. stripe_reader_id is NULL when the tablet's
-- SDK reads the card (the client_secret path).
CREATE TABLE reader_setups (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    stripe_reader_id TEXT,
    stripe_setup_intent_id TEXT UNIQUE,
    stripe_idempotency_key TEXT NOT NULL,
    allow_redisplay TEXT NOT NULL,
    status TEXT NOT NULL,
    card_id TEXT REFERENCES cards (id),
    failure_code TEXT,
    decline_code TEXT,
    failure_message TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX reader_setups_account ON reader_setups (account_id, id);
