DROP TABLE payment_charge_methods;
DROP TABLE reader_refunds;
