-- Refunds made on a reader (in person: Interac must be, any card may be). The row is written
-- before Stripe is asked, so its id keys the Stripe request and names the refund in the reader
-- action's metadata; Stripe's refund is recorded in `refunds` (like API refunds) once known.
-- `stripe_reader_id` NULL: the tablet's SDK collects it (collectRefundPaymentMethod).
CREATE TABLE reader_refunds (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    stripe_reader_id TEXT,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    stripe_refund_id TEXT,
    failure_code TEXT,
    failure_message TEXT,
    idempotency_key TEXT,
    stripe_idempotency_key TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- A caller's Idempotency-Key names one reader refund of the account.
CREATE UNIQUE INDEX reader_refunds_key ON reader_refunds (account_id, idempotency_key);
-- The payment's reader refunds (pending ones count against what is left to refund).
CREATE INDEX reader_refunds_payment ON reader_refunds (payment_id, status);
-- How each payment was charged (`card_present`, `interac_present`), from its charge: Interac
-- payments can only be refunded on a reader. Kept apart from the payment row.
CREATE TABLE payment_charge_methods (
    payment_id TEXT PRIMARY KEY NOT NULL REFERENCES payments (id),
    stripe_charge_id TEXT NOT NULL,
    method_type TEXT NOT NULL
);
