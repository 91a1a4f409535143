ALTER TABLE waves DROP COLUMN purged_at;
ALTER TABLE waves DROP COLUMN closed_at;
DROP INDEX contacts_code_hash;
ALTER TABLE contacts DROP COLUMN assigned_to;
ALTER TABLE contacts DROP COLUMN delivery;
ALTER TABLE contacts DROP COLUMN channel;
ALTER TABLE contacts DROP COLUMN code_hash;
ALTER TABLE contacts DROP COLUMN invite_code;
