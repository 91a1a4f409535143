-- A disabled account keeps its history but signs in nowhere; failed sign-ins slow the next
-- attempts on the account (see README, sign-in).
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0;
