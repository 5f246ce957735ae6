-- The reader's current (or last) server-driven action as we last learnt it, from our own
-- requests' answers and Stripe's `terminal.reader.action_*` events: its type, status, the object
-- it concerns (a PaymentIntent id …), Stripe's failure code and message, the card a
-- `collect_payment_method` read (JSON: payment method, brand, last4, funding, wallet), when it
-- changed, the `created` of the Stripe event that set it (NULL: an answer of ours), and a version
-- that grows with each change (the cursor of GET /v1/terminal/readers/{id}/events).
ALTER TABLE terminal_readers ADD COLUMN action_type TEXT;
ALTER TABLE terminal_readers ADD COLUMN action_status TEXT;
ALTER TABLE terminal_readers ADD COLUMN action_object TEXT;
ALTER TABLE terminal_readers ADD COLUMN action_failure_code TEXT;
ALTER TABLE terminal_readers ADD COLUMN action_failure_message TEXT;
ALTER TABLE terminal_readers ADD COLUMN action_card TEXT;
ALTER TABLE terminal_readers ADD COLUMN action_updated_at TIMESTAMP;
ALTER TABLE terminal_readers ADD COLUMN action_stripe_created BIGINT;
ALTER TABLE terminal_readers ADD COLUMN action_version BIGINT NOT NULL DEFAULT 0;
