ALTER TABLE waves DROP COLUMN weighting;
