-- Rate-limit counts shared by the instances on one database: each instance counts in memory
-- and adds its counts here every PHIEU_RATE_SYNC_MS. `key` is a keyed hash of the limited
-- thing (client network, code, email): no address is stored in clear. Rows are deleted once
-- expired.
CREATE TABLE rate_counts (
    key TEXT PRIMARY KEY NOT NULL,
    n BIGINT NOT NULL,
    lim BIGINT NOT NULL DEFAULT 0,
    expires_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX rate_counts_expiry ON rate_counts(expires_ms);
-- Keys at their limit, which instances that have not seen them yet must learn of.
CREATE INDEX rate_counts_exhausted ON rate_counts(updated_ms) WHERE lim > 0 AND n >= lim;

-- Which instance may run a scheduled job, until when.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

-- When each job ran, and on which instance (kept a week).
CREATE TABLE job_runs (
    id TEXT PRIMARY KEY NOT NULL,
    job TEXT NOT NULL,
    holder TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    failed BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX job_runs_started ON job_runs(started_ms);
