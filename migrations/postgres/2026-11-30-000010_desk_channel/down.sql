-- Desk counters fold into the standard ones before the channel goes.
UPDATE answer_counts a SET n = a.n + d.n FROM answer_counts d
    WHERE a.channel = 'standard' AND d.channel = 'desk' AND (a.wave_id, a.locality_code, a.agency_code, a.item_id, a.option_code)
        = (d.wave_id, d.locality_code, d.agency_code, d.item_id, d.option_code);
DELETE FROM answer_counts d WHERE d.channel = 'desk' AND EXISTS (SELECT 1 FROM answer_counts a WHERE a.channel = 'standard'
    AND (a.wave_id, a.locality_code, a.agency_code, a.item_id, a.option_code) = (d.wave_id, d.locality_code, d.agency_code, d.item_id, d.option_code));
ALTER TABLE answer_counts DROP CONSTRAINT answer_counts_pkey;
ALTER TABLE answer_counts DROP COLUMN channel;
ALTER TABLE answer_counts ADD PRIMARY KEY (wave_id, locality_code, agency_code, item_id, option_code);
UPDATE response_counts a SET n = a.n + d.n FROM response_counts d
    WHERE a.channel = 'standard' AND d.channel = 'desk'
        AND (a.wave_id, a.locality_code, a.agency_code) = (d.wave_id, d.locality_code, d.agency_code);
DELETE FROM response_counts d WHERE d.channel = 'desk' AND EXISTS (SELECT 1 FROM response_counts a WHERE a.channel = 'standard'
    AND (a.wave_id, a.locality_code, a.agency_code) = (d.wave_id, d.locality_code, d.agency_code));
ALTER TABLE response_counts DROP CONSTRAINT response_counts_pkey;
ALTER TABLE response_counts DROP COLUMN channel;
ALTER TABLE response_counts ADD PRIMARY KEY (wave_id, locality_code, agency_code);
ALTER TABLE responses DROP COLUMN channel;
ALTER TABLE invitations DROP COLUMN channel;
ALTER TABLE waves DROP COLUMN desk_codes;
