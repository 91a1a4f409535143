CREATE TABLE list_keys (
    upload_id TEXT NOT NULL,
    key BIGINT NOT NULL,
    line BIGINT NOT NULL,
    PRIMARY KEY (upload_id, key)
) WITHOUT ROWID;
