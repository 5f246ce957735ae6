-- Checkout Sessions we created: setup mode (save a card for a customer) and payment mode (sell
-- for a reference). The row is written before the session is created at Stripe (status
-- `creating`, replayed from the row under the Idempotency-Key `cs:{id}`), then `open`, and at
-- last `complete` (with the saved card or the recorded payment) or `expired`.
CREATE TABLE checkout_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    customer_id TEXT REFERENCES customers (id),
    stripe_checkout_session_id TEXT UNIQUE,
    mode TEXT NOT NULL,
    ui_mode TEXT NOT NULL,
    status TEXT NOT NULL,
    reference TEXT,
    currency TEXT,
    amount BIGINT,
    line_items TEXT,
    success_url TEXT,
    cancel_url TEXT,
    card_id TEXT REFERENCES cards (id),
    payment_id TEXT REFERENCES payments (id),
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX checkout_sessions_reference ON checkout_sessions (account_id, reference, id);
