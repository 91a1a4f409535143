-- Inviting sampled people. The plain code is kept with the contact (to print letters and
-- write messages) and deleted with it when the wave is purged.
ALTER TABLE contacts ADD COLUMN invite_code TEXT;
ALTER TABLE contacts ADD COLUMN code_hash TEXT;
-- email, letter, sms or enumerator
ALTER TABLE contacts ADD COLUMN channel TEXT;
-- pending, sent, failed, bounced or opted_out
ALTER TABLE contacts ADD COLUMN delivery TEXT;
ALTER TABLE contacts ADD COLUMN assigned_to TEXT;
CREATE INDEX contacts_code_hash ON contacts(code_hash);

-- When the wave closed: its contact data is purged once the retention period has passed.
ALTER TABLE waves ADD COLUMN closed_at TIMESTAMP;
-- When its contact data was purged.
ALTER TABLE waves ADD COLUMN purged_at TIMESTAMP;
