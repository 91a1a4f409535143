-- Waves may let agencies hand out codes at their desk; answers to those codes carry the
-- channel 'desk' (beside the invitation, the answer and its counters) so results can show
-- them apart or leave them out.
ALTER TABLE waves ADD COLUMN desk_codes BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN channel TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE responses ADD COLUMN channel TEXT NOT NULL DEFAULT 'standard';

CREATE TABLE answer_counts_new (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    item_id TEXT NOT NULL,
    option_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'standard',
    PRIMARY KEY (wave_id, locality_code, agency_code, channel, item_id, option_code)
) WITHOUT ROWID;
INSERT INTO answer_counts_new (wave_id, locality_code, agency_code, item_id, option_code, n)
    SELECT wave_id, locality_code, agency_code, item_id, option_code, n FROM answer_counts;
DROP TABLE answer_counts;
ALTER TABLE answer_counts_new RENAME TO answer_counts;

CREATE TABLE response_counts_new (
    wave_id TEXT NOT NULL,
    locality_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    n BIGINT NOT NULL,
    channel TEXT NOT NULL DEFAULT 'standard',
    PRIMARY KEY (wave_id, locality_code, agency_code, channel)
) WITHOUT ROWID;
INSERT INTO response_counts_new (wave_id, locality_code, agency_code, n)
    SELECT wave_id, locality_code, agency_code, n FROM response_counts;
DROP TABLE response_counts;
ALTER TABLE response_counts_new RENAME TO response_counts;
