-- When the account's count of failed sign-ins last grew: the count expires a rate window later,
-- like the in-memory count of an unknown email, so delays do not tell which emails exist.
ALTER TABLE users ADD COLUMN last_failed_sign_in_at TIMESTAMP;
