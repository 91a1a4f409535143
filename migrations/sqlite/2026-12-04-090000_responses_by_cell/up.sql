-- The recount reads a wave's answers cell by cell (locality, agency, channel), so that it
-- holds one cell's counts at a time; the index also serves every look-up by wave. The id
-- that ends each entry is random, so the index says nothing of when answers came.
DROP INDEX responses_wave;
CREATE INDEX responses_cell ON responses(wave_id, locality_code, agency_code, channel);
