-- Lists are imported in chunks, so the report, the duplicate keys and the file itself
-- live in tables rather than in memory or one JSON value.
ALTER TABLE list_uploads DROP COLUMN report;
-- The header cells and which column holds which field, as JSON; the officer may correct it.
ALTER TABLE list_uploads ADD COLUMN column_map TEXT NOT NULL DEFAULT '{"header_rows":0,"labels":[],"fields":{}}';
-- When the current reading of the upload began: a reading still going an hour later was
-- cut off by a crash and is swept away.
ALTER TABLE list_uploads ADD COLUMN import_started_at TIMESTAMP;

-- One outcome per data line of an upload. Reasons may quote cells: deleted with the contacts.
CREATE TABLE list_lines (
    upload_id TEXT NOT NULL REFERENCES list_uploads(id),
    line BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (upload_id, line)
) WITHOUT ROWID;

-- Identity keys (phone, email, name + address: 64 bits of a hash salted per import) seen
-- so far in an import, to merge duplicates without holding the list in memory. Emptied
-- when the import ends.
CREATE TABLE list_keys (
    upload_id TEXT NOT NULL,
    key BIGINT NOT NULL,
    line BIGINT NOT NULL,
    PRIMARY KEY (upload_id, key)
) WITHOUT ROWID;

-- The uploaded file in chunks, kept while the upload is pending so that a corrected column
-- mapping can be applied; deleted on confirmation, replacement or purge.
CREATE TABLE list_files (
    upload_id TEXT NOT NULL REFERENCES list_uploads(id),
    seq BIGINT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
