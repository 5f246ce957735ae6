-- Stripe's automatic payouts of our merchants' Stripe accounts, recorded from the signed
-- `payout.*` events, and what each paid out (its balance transactions, fetched from Stripe when
-- the payout is paid), matched to our payments and refunds. Amounts are BIGINT minor units of
-- `currency`; an item's gross, fee and net are signed (a refund's gross is negative).
CREATE TABLE payouts (
    id TEXT PRIMARY KEY NOT NULL,
    stripe_payout_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    arrival_date TIMESTAMP NOT NULL,
    failure_code TEXT,
    failure_message TEXT,
    reconciled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The account's payouts newest first (list), per status.
CREATE INDEX payouts_account ON payouts (account_id, id);
CREATE INDEX payouts_account_status ON payouts (account_id, status, id);
CREATE TABLE payout_items (
    id TEXT PRIMARY KEY NOT NULL,
    payout_id TEXT NOT NULL REFERENCES payouts (id),
    stripe_balance_transaction_id TEXT NOT NULL,
    transaction_type TEXT NOT NULL,
    stripe_source_id TEXT,
    payment_id TEXT REFERENCES payments (id),
    stripe_refund_id TEXT,
    gross BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    net BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (payout_id, stripe_balance_transaction_id)
);
CREATE INDEX payout_items_payout ON payout_items (payout_id, id);
