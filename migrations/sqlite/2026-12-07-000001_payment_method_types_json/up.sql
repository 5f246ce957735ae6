-- A payment's method types are a list: stored as a JSON array of strings
-- (`["card_present","interac_present"]`) instead of a comma-joined string (`card_present,interac_present`).
UPDATE payments
SET payment_method_types = '["' || replace(payment_method_types, ',', '","') || '"]'
WHERE payment_method_types NOT LIKE '[%';
