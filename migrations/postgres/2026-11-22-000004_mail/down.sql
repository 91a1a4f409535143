ALTER TABLE waves DROP COLUMN mail_body;
ALTER TABLE waves DROP COLUMN mail_subject;
DROP TABLE mail_queue;
