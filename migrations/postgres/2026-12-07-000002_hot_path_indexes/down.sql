DROP INDEX cards_saved_from;
DROP INDEX cards_customer_live;
DROP INDEX payments_listed_customer;
DROP INDEX payments_listed_amount;
DROP INDEX payments_listed_created;
DROP INDEX payments_listed_currency;
DROP INDEX payments_listed_status;
DROP INDEX payments_listed;
CREATE INDEX payments_account_id ON payments (account_id, id);
