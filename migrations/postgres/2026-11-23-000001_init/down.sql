DROP TABLE terminal_readers;
DROP TABLE terminal_locations;
DROP TABLE refunds;
DROP TABLE payment_history;
DROP TABLE cards;
DROP TABLE payments;
DROP TABLE customers;
DROP TABLE accounts;
