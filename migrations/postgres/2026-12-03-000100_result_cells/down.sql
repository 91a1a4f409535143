DROP TABLE result_cells;
DROP TABLE tally_layouts;
CREATE TABLE answer_counts (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    item_id TEXT NOT NULL,
    option_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'standard',
    PRIMARY KEY (wave_id, locality_code, agency_code, channel, item_id, option_code)
);
CREATE TABLE response_counts (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'standard',
    PRIMARY KEY (wave_id, locality_code, agency_code, channel)
);
