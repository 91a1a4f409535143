-- A wave's questionnaire as it was when the wave was created: editing or replacing a file in
-- survey_forms/ never changes how an existing wave is shown, validated or computed.
CREATE TABLE pinned_forms (
    content_hash TEXT PRIMARY KEY NOT NULL,
    form_id TEXT NOT NULL,
    version TEXT NOT NULL,
    content TEXT NOT NULL
);
-- Filled at start-up for waves created before pinning (from the loaded files).
ALTER TABLE waves ADD COLUMN form_version TEXT;
ALTER TABLE waves ADD COLUMN form_hash TEXT;
