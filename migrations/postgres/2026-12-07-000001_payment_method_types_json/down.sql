UPDATE payments
SET payment_method_types = replace(replace(replace(payment_method_types, '","', ','), '["', ''), '"]', '')
WHERE payment_method_types LIKE '[%';
