-- Issue 18, receipts: what a sale was made of (printed on its receipt), its tax, the customer's
-- e-mail for Stripe's receipt, and the merchant's address (card networks want it on receipts).
CREATE TABLE payment_line_items (
    payment_id TEXT NOT NULL REFERENCES payments (id),
    position BIGINT NOT NULL,
    description TEXT NOT NULL,
    -- The unit price, minor units of the payment's currency.
    unit_amount BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (payment_id, position)
);
ALTER TABLE payments ADD COLUMN tax BIGINT;
ALTER TABLE payments ADD COLUMN receipt_email TEXT;
ALTER TABLE accounts ADD COLUMN address_line1 TEXT;
ALTER TABLE accounts ADD COLUMN address_line2 TEXT;
ALTER TABLE accounts ADD COLUMN address_city TEXT;
ALTER TABLE accounts ADD COLUMN address_state TEXT;
ALTER TABLE accounts ADD COLUMN address_postal_code TEXT;
ALTER TABLE accounts ADD COLUMN address_country TEXT;
