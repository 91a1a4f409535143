ALTER TABLE waves DROP COLUMN period_to;
ALTER TABLE waves DROP COLUMN period_from;
DROP TABLE sample_draws;
DROP TABLE contacts;
DROP TABLE list_uploads;
