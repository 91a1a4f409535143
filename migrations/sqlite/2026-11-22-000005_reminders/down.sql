ALTER TABLE waves DROP COLUMN last_reminder_run;
ALTER TABLE contacts DROP COLUMN reminder_run;
ALTER TABLE contacts DROP COLUMN last_contacted_at;
ALTER TABLE contacts DROP COLUMN reminders_sent;
