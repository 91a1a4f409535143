ALTER TABLE invitations DROP COLUMN sent_by;
