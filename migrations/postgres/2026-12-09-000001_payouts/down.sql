DROP TABLE payout_items;
DROP TABLE payouts;
