-- Agencies' lists. Contact data lives only here and is deleted when the wave is purged.
CREATE TABLE list_uploads (
    id TEXT PRIMARY KEY NOT NULL,
    wave_id TEXT NOT NULL REFERENCES waves(id),
    agency_code TEXT NOT NULL DEFAULT '',
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL,
    -- pending (awaiting confirmation), confirmed, replaced (by a later confirmed upload)
    status TEXT NOT NULL,
    rows BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    -- JSON array of {line, status, reason}
    report TEXT NOT NULL
);
CREATE INDEX list_uploads_wave ON list_uploads(wave_id, agency_code, status);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    upload_id TEXT NOT NULL REFERENCES list_uploads(id),
    wave_id TEXT NOT NULL,
    agency_code TEXT NOT NULL DEFAULT '',
    locality_code TEXT NOT NULL,
    line BIGINT NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    phone TEXT,
    email TEXT,
    procedure_name TEXT,
    completed_on TEXT,
    kind TEXT NOT NULL,
    -- frame, sample or reserve; draw_rank orders the sample and the reserve of a stratum
    selection TEXT NOT NULL DEFAULT 'frame',
    stratum TEXT,
    draw_rank BIGINT
);
CREATE INDEX contacts_upload ON contacts(upload_id);
CREATE INDEX contacts_wave ON contacts(wave_id, selection);

CREATE TABLE sample_draws (
    id TEXT PRIMARY KEY NOT NULL,
    wave_id TEXT NOT NULL REFERENCES waves(id),
    drawn_by TEXT NOT NULL,
    drawn_at TIMESTAMP NOT NULL,
    seed BIGINT NOT NULL,
    -- the request as given (level, by_agency, method, margin/quota/total)
    design TEXT NOT NULL,
    -- JSON array of {locality_code, agency_code, population, sample, reserve}
    strata TEXT NOT NULL
);
CREATE INDEX sample_draws_wave ON sample_draws(wave_id);
-- The period whose transactions a wave surveys; list rows outside it are flagged.
ALTER TABLE waves ADD COLUMN period_from TEXT;
ALTER TABLE waves ADD COLUMN period_to TEXT;
