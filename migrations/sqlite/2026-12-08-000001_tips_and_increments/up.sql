-- Tips and authorisations that grow or last (issue 18). `amount` stays what Stripe authorised
-- (or captured), tip included; `amount_tip` is the part of it that is a tip (on the reader or on
-- receipt). The card's authorisation facts come from the charge's `card_present` details (NULL:
-- not known yet). The two requests are part of the PaymentIntent creation, so a replay sends them.
ALTER TABLE payments ADD COLUMN amount_tip BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN capture_before TIMESTAMP;
ALTER TABLE payments ADD COLUMN incremental_authorization_supported BOOLEAN;
ALTER TABLE payments ADD COLUMN overcapture_supported BOOLEAN;
ALTER TABLE payments ADD COLUMN request_incremental_authorization_support BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN request_extended_authorization BOOLEAN NOT NULL DEFAULT 0;
