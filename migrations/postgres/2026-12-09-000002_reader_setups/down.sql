DROP TABLE reader_setups;
