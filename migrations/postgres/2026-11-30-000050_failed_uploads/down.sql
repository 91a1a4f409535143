ALTER TABLE list_uploads DROP COLUMN failure;
