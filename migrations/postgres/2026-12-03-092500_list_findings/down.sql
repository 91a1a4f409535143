DROP INDEX contacts_code_hash;
CREATE INDEX contacts_code_hash ON contacts(code_hash);
DROP INDEX contacts_upload;
CREATE INDEX contacts_upload ON contacts(upload_id);
INSERT INTO list_lines (upload_id, line, status, reason)
SELECT upload_id, line, 'accepted', '' FROM contacts c
WHERE NOT EXISTS (SELECT 1 FROM list_lines l WHERE l.upload_id = c.upload_id AND l.line = c.line);
