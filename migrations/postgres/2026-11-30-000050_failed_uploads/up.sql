-- A refused or cut-off import keeps its upload, marked failed with why (never cell contents).
ALTER TABLE list_uploads ADD COLUMN failure TEXT;
