-- How a sampled person's code was carried (email, letter, sms, enumerator), kept on the
-- invitation so response rates per channel survive the purge of contact data; NULL for codes
-- issued directly (their `channel` says desk or standard).
ALTER TABLE invitations ADD COLUMN sent_by TEXT;
UPDATE invitations SET sent_by = (SELECT contacts.channel FROM contacts WHERE contacts.code_hash = invitations.code_hash)
WHERE EXISTS (SELECT 1 FROM contacts WHERE contacts.code_hash = invitations.code_hash);
