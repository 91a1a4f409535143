-- Waves may let agencies hand out codes at their desk; answers to those codes carry the
-- channel 'desk' (beside the invitation, the answer and its counters) so results can show
-- them apart or leave them out.
ALTER TABLE waves ADD COLUMN desk_codes BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invitations ADD COLUMN channel TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE responses ADD COLUMN channel TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE answer_counts ADD COLUMN channel TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE answer_counts DROP CONSTRAINT answer_counts_pkey;
ALTER TABLE answer_counts ADD PRIMARY KEY (wave_id, locality_code, agency_code, channel, item_id, option_code);
ALTER TABLE response_counts ADD COLUMN channel TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE response_counts DROP CONSTRAINT response_counts_pkey;
ALTER TABLE response_counts ADD PRIMARY KEY (wave_id, locality_code, agency_code, channel);
