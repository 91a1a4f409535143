ALTER TABLE waves DROP COLUMN min_cell;
DROP TABLE closed_wave_localities;
