DROP INDEX mail_queue_due;
DELETE FROM mail_queue WHERE channel <> 'email';
ALTER TABLE mail_queue DROP COLUMN channel;
CREATE INDEX mail_queue_due ON mail_queue(status, next_attempt_at);
