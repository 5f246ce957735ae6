ALTER TABLE accounts DROP COLUMN address_country;
ALTER TABLE accounts DROP COLUMN address_postal_code;
ALTER TABLE accounts DROP COLUMN address_state;
ALTER TABLE accounts DROP COLUMN address_city;
ALTER TABLE accounts DROP COLUMN address_line2;
ALTER TABLE accounts DROP COLUMN address_line1;
ALTER TABLE payments DROP COLUMN receipt_email;
ALTER TABLE payments DROP COLUMN tax;
DROP TABLE payment_line_items;
