ALTER TABLE users DROP COLUMN failed_sign_ins;
ALTER TABLE users DROP COLUMN disabled_at;
