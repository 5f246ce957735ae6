-- Every hot lookup and list of the service is served by an index (docs/performance.md, "Query
-- plans"; checked by tests/query_plans).

-- The account's listed payments (those with a PaymentIntent), newest first, and per list filter.
-- Partial on `stripe_payment_intent_id IS NOT NULL` like the list itself: so no longer a candidate
-- for a lookup by (account_id, external_transaction_id), which only the unique index serves.
DROP INDEX payments_account_id;
CREATE INDEX payments_listed ON payments (account_id, id) WHERE stripe_payment_intent_id IS NOT NULL;
CREATE INDEX payments_listed_status ON payments (account_id, status, id) WHERE stripe_payment_intent_id IS NOT NULL;
CREATE INDEX payments_listed_currency ON payments (account_id, currency, id) WHERE stripe_payment_intent_id IS NOT NULL;
CREATE INDEX payments_listed_created ON payments (account_id, created_at) WHERE stripe_payment_intent_id IS NOT NULL;
CREATE INDEX payments_listed_amount ON payments (account_id, currency, amount) WHERE stripe_payment_intent_id IS NOT NULL;
CREATE INDEX payments_listed_customer ON payments (customer_id, id) WHERE stripe_payment_intent_id IS NOT NULL;

-- A customer's live cards, newest first (list, charge by card id or PaymentMethod, same-card check).
CREATE INDEX cards_customer_live ON cards (customer_id, id) WHERE NOT deleted;
-- The card saved from a payment (live first), when the same card is saved again.
CREATE INDEX cards_saved_from ON cards (customer_id, source_payment_id, deleted);
