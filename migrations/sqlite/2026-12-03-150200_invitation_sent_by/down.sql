DROP INDEX invitations_rates;
CREATE INDEX invitations_wave ON invitations(wave_id, used);
ALTER TABLE invitations DROP COLUMN sent_by;
