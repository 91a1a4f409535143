-- The queue carries SMS as well as email: each row names its channel, and each channel's
-- worker claims only its own rows.
ALTER TABLE mail_queue ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
DROP INDEX mail_queue_due;
CREATE INDEX mail_queue_due ON mail_queue(channel, status, next_attempt_at);
