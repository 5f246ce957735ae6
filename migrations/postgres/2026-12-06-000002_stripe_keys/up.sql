-- Stripe Idempotency-Keys are ours: each row that Stripe objects are created for remembers the
-- key first sent (NULL on rows written before; those resume with the old formula, see
-- docs/decisions.md). Customers and cards remember the Stripe context they were made in
-- (`acct:{connected account}`, `key:{fingerprint of the merchant's own key}` or `platform`; NULL:
-- the account's current context, stamped with the old one when the account's Stripe key or
-- connected account changes).
ALTER TABLE payments ADD COLUMN stripe_idempotency_key TEXT;
ALTER TABLE customers ADD COLUMN stripe_idempotency_key TEXT;
ALTER TABLE customers ADD COLUMN stripe_context TEXT;
ALTER TABLE refunds ADD COLUMN stripe_idempotency_key TEXT;
ALTER TABLE cards ADD COLUMN stripe_context TEXT;
-- The same physical card may be saved again once its customer was made anew in another context.
DROP INDEX cards_customer_fingerprint;
CREATE UNIQUE INDEX cards_customer_context_fingerprint ON cards (customer_id, stripe_context, fingerprint) WHERE NOT deleted;
