DROP TABLE list_files;
DROP TABLE list_keys;
DROP TABLE list_lines;
ALTER TABLE list_uploads DROP COLUMN import_started_at;
ALTER TABLE list_uploads DROP COLUMN column_map;
ALTER TABLE list_uploads ADD COLUMN report TEXT NOT NULL DEFAULT '[]';
