CREATE TABLE answer_counts_old (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    item_id TEXT NOT NULL,
    option_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (wave_id, locality_code, agency_code, item_id, option_code)
) WITHOUT ROWID;
INSERT INTO answer_counts_old
    SELECT wave_id, locality_code, agency_code, item_id, option_code, SUM(n) FROM answer_counts
    GROUP BY wave_id, locality_code, agency_code, item_id, option_code;
DROP TABLE answer_counts;
ALTER TABLE answer_counts_old RENAME TO answer_counts;

CREATE TABLE response_counts_old (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (wave_id, locality_code, agency_code)
) WITHOUT ROWID;
INSERT INTO response_counts_old
    SELECT wave_id, locality_code, agency_code, SUM(n) FROM response_counts
    GROUP BY wave_id, locality_code, agency_code;
DROP TABLE response_counts;
ALTER TABLE response_counts_old RENAME TO response_counts;

ALTER TABLE responses DROP COLUMN channel;
ALTER TABLE invitations DROP COLUMN channel;
ALTER TABLE waves DROP COLUMN desk_codes;
