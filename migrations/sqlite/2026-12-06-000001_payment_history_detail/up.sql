-- What an `ignored` history entry refused (a stale or forbidden update of the payment).
ALTER TABLE payment_history ADD COLUMN detail TEXT;
