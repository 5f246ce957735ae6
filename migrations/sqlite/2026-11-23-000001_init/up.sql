-- Accounts, customers, payments, cards and each payment's history. Amounts are BIGINT minor units.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    external_account_id TEXT NOT NULL UNIQUE,
    display_name TEXT,
    default_currency TEXT NOT NULL,
    stripe_account_id TEXT UNIQUE,
    stripe_secret_key_enc TEXT,
    webhook_url TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    external_customer_id TEXT NOT NULL,
    stripe_customer_id TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, external_customer_id)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    external_transaction_id TEXT NOT NULL,
    customer_id TEXT REFERENCES customers (id),
    stripe_payment_intent_id TEXT UNIQUE,
    request_fingerprint TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    capture_method TEXT NOT NULL,
    payment_method_types TEXT NOT NULL,
    description TEXT,
    metadata TEXT,
    status TEXT NOT NULL,
    amount_capturable BIGINT NOT NULL,
    amount_captured BIGINT NOT NULL,
    amount_refunded BIGINT NOT NULL,
    stripe_charge_id TEXT UNIQUE,
    stripe_payment_method_id TEXT,
    failure_code TEXT,
    decline_code TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, external_transaction_id)
);
CREATE INDEX payments_account_id ON payments (account_id, id);

CREATE TABLE cards (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    stripe_payment_method_id TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    source_payment_id TEXT REFERENCES payments (id),
    deleted BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX cards_customer_fingerprint ON cards (customer_id, fingerprint) WHERE NOT deleted;

CREATE TABLE payment_history (
    id TEXT PRIMARY KEY NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    amount BIGINT,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id, created_at);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    stripe_refund_id TEXT NOT NULL UNIQUE,
    amount BIGINT NOT NULL,
    reason TEXT,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);

CREATE TABLE terminal_locations (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    stripe_location_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE terminal_readers (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    stripe_reader_id TEXT NOT NULL UNIQUE,
    label TEXT,
    stripe_location_id TEXT,
    device_type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
