-- Results come from compact tallies instead of one row per (cell, item, option): per wave an
-- append-only layout of counters (JSON list of slots), and per (level, locality, agency,
-- channel) one row holding the number of answers and one varint per slot. level '' is a leaf
-- cell (the locality and agency of the invitations), a locality level holds the roll-up of
-- every leaf beneath that locality, '*' the whole wave; agency '*' is every agency together.
-- The old counters are dropped: at start-up the server rebuilds every wave's tallies from its
-- raw answers (which also yields the per-respondent sums the old counters never held).
CREATE TABLE tally_layouts (
    wave_id TEXT PRIMARY KEY NOT NULL,
    slots TEXT NOT NULL
);

CREATE TABLE result_cells (
    wave_id TEXT NOT NULL,
    level TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    channel TEXT NOT NULL,
    responses BIGINT NOT NULL,
    counts BYTEA NOT NULL,
    PRIMARY KEY (wave_id, level, locality_code, agency_code, channel)
);

DROP TABLE answer_counts;
DROP TABLE response_counts;
