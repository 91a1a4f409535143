-- How a sampled person's code was carried (email, letter, sms, enumerator), kept on the
-- invitation so response rates per channel survive the purge of contact data; NULL for codes
-- issued directly (their `channel` says desk or standard).
ALTER TABLE invitations ADD COLUMN sent_by TEXT;
UPDATE invitations SET sent_by = (SELECT contacts.channel FROM contacts WHERE contacts.code_hash = invitations.code_hash)
WHERE EXISTS (SELECT 1 FROM contacts WHERE contacts.code_hash = invitations.code_hash);
-- The response-rate table groups a wave's invitations by these columns: with them all in the
-- index a national wave's million are counted from the index in order, without a sort (0.46 s
-- against 2-5 s on SQLite). It replaces (wave_id, used), whose queries it serves too.
DROP INDEX invitations_wave;
CREATE INDEX invitations_rates ON invitations(wave_id, locality_code, agency_code, channel, sent_by, used);
