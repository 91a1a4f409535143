-- Each wave's number of invitations, kept by every insert: the cap on a wave's invitations
-- was checked by counting its rows, which cost a wave's size on every call.
ALTER TABLE waves ADD COLUMN invitation_count BIGINT NOT NULL DEFAULT 0;
UPDATE waves SET invitation_count = (SELECT COUNT(*) FROM invitations WHERE invitations.wave_id = waves.id);
