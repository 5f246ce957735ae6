DROP TABLE payment_history;
DROP TABLE cards;
DROP TABLE payments;
DROP TABLE customers;
DROP TABLE accounts;
