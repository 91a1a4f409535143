ALTER TABLE waves DROP COLUMN form_hash;
ALTER TABLE waves DROP COLUMN form_version;
DROP TABLE pinned_forms;
