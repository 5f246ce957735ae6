-- End-of-day totals and exports (issue 20): the merchant's time zone (an IANA name, by which the
-- totals cut days), the cashier a payment was taken by (given with the intent), and the reader a
-- payment was last handed to (`POST /v1/terminal/readers/{id}/process`) with the reader's
-- location then. See docs/decisions.md, "Totals and exports".
ALTER TABLE accounts ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE payments ADD COLUMN external_cashier_id TEXT;

-- One row per payment handed to a reader (the last reader wins), kept apart from the payment row,
-- which only the state machine changes after its insert.
CREATE TABLE payment_readers (
    payment_id TEXT PRIMARY KEY NOT NULL REFERENCES payments (id),
    stripe_reader_id TEXT NOT NULL,
    stripe_location_id TEXT,
    processed_at TIMESTAMP NOT NULL
);
