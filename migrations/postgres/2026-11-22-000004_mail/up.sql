-- Invitation and reminder emails, sent from here by the server's mail worker. A row is
-- claimed (sending) before the SMTP transaction and marked sent after it; a row left in
-- sending by a crash becomes uncertain and is never sent again automatically.
CREATE TABLE mail_queue (
    id TEXT PRIMARY KEY NOT NULL,
    wave_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX mail_queue_due ON mail_queue(status, next_attempt_at);
CREATE INDEX mail_queue_wave ON mail_queue(wave_id);

-- The wave's own invitation email; the notice on personal data is always appended.
ALTER TABLE waves ADD COLUMN mail_subject TEXT;
ALTER TABLE waves ADD COLUMN mail_body TEXT;
