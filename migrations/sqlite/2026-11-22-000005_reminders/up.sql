-- Reminders: how many a person got, when they were last contacted, and the latest reminder
-- run that included them (letters and messages of that run are exported together).
ALTER TABLE contacts ADD COLUMN reminders_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN last_contacted_at TIMESTAMP;
ALTER TABLE contacts ADD COLUMN reminder_run TEXT;
ALTER TABLE waves ADD COLUMN last_reminder_run TEXT;
