-- Disputes (chargebacks and inquiries) of our payments, recorded from Stripe's signed
-- `charge.dispute.*` events. Amounts are BIGINT minor units of `currency`. A dispute whose
-- PaymentIntent no payment has recorded yet is parked (payment_id and account_id NULL) and
-- attached when the payment records it.
CREATE TABLE disputes (
    id TEXT PRIMARY KEY NOT NULL,
    stripe_dispute_id TEXT NOT NULL UNIQUE,
    stripe_payment_intent_id TEXT NOT NULL,
    stripe_charge_id TEXT NOT NULL,
    payment_id TEXT REFERENCES payments (id),
    account_id TEXT REFERENCES accounts (id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_withdrawn BIGINT NOT NULL,
    amount_reinstated BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    evidence_due_by TIMESTAMP,
    submission_count BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The account's disputes newest first (list), per status, per payment; parked ones by intent.
CREATE INDEX disputes_account ON disputes (account_id, id);
CREATE INDEX disputes_account_status ON disputes (account_id, status, id);
CREATE INDEX disputes_payment ON disputes (payment_id, id);
CREATE INDEX disputes_intent ON disputes (stripe_payment_intent_id);
