CREATE TABLE localities (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_code TEXT REFERENCES localities(code)
);
CREATE INDEX localities_parent ON localities(parent_code);

CREATE TABLE agencies (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    locality_code TEXT NOT NULL REFERENCES localities(code)
);

CREATE TABLE waves (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    form_id TEXT NOT NULL,
    status TEXT NOT NULL,
    opens_on TEXT,
    closes_on TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE wave_localities (
    wave_id TEXT NOT NULL REFERENCES waves(id),
    locality_code TEXT NOT NULL REFERENCES localities(code),
    PRIMARY KEY (wave_id, locality_code)
) WITHOUT ROWID;

CREATE TABLE wave_agencies (
    wave_id TEXT NOT NULL REFERENCES waves(id),
    agency_code TEXT NOT NULL REFERENCES agencies(code),
    PRIMARY KEY (wave_id, agency_code)
) WITHOUT ROWID;

-- Only a keyed hash of the code. No creation or use time: the invitation records that it
-- was used, never when. WITHOUT ROWID keeps rows in hash order, not issue order.
CREATE TABLE invitations (
    code_hash TEXT PRIMARY KEY NOT NULL,
    wave_id TEXT NOT NULL REFERENCES waves(id),
    locality_code TEXT NOT NULL REFERENCES localities(code),
    agency_code TEXT NOT NULL DEFAULT '',
    used BOOLEAN NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX invitations_wave ON invitations(wave_id, used);

-- Anonymised answers: random id, day only, no link to an invitation. WITHOUT ROWID stores
-- rows in id order, so the file's order says nothing about the order of submission.
CREATE TABLE responses (
    id TEXT PRIMARY KEY NOT NULL,
    wave_id TEXT NOT NULL REFERENCES waves(id),
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL DEFAULT '',
    submitted_on TEXT NOT NULL,
    answers TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX responses_wave ON responses(wave_id);

CREATE TABLE answer_counts (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    item_id TEXT NOT NULL,
    option_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (wave_id, locality_code, agency_code, item_id, option_code)
) WITHOUT ROWID;

CREATE TABLE response_counts (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (wave_id, locality_code, agency_code)
) WITHOUT ROWID;

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    agency_code TEXT REFERENCES agencies(code),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL
);

CREATE TABLE instance_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
