DROP INDEX responses_cell;
CREATE INDEX responses_wave ON responses(wave_id);
