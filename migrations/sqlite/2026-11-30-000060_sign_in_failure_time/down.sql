ALTER TABLE users DROP COLUMN last_failed_sign_in_at;
