ALTER TABLE payments DROP COLUMN request_extended_authorization;
ALTER TABLE payments DROP COLUMN request_incremental_authorization_support;
ALTER TABLE payments DROP COLUMN overcapture_supported;
ALTER TABLE payments DROP COLUMN incremental_authorization_supported;
ALTER TABLE payments DROP COLUMN capture_before;
ALTER TABLE payments DROP COLUMN amount_tip;
