-- A line without a finding is its contact: only lines rejected, merged or flagged keep a
-- report row, and accepted lines are read from the contacts, whose upload index now keeps
-- them in line order. A large list's report rows were half of what its import wrote.
DELETE FROM list_lines WHERE status = 'accepted';
DROP INDEX contacts_upload;
CREATE INDEX contacts_upload ON contacts(upload_id, line);
-- Only invited contacts have a code hash: the others no longer take an entry each.
DROP INDEX contacts_code_hash;
CREATE INDEX contacts_code_hash ON contacts(code_hash) WHERE code_hash IS NOT NULL;
