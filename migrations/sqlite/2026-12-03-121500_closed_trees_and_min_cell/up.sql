-- The locality tree as it stood when each wave closed: a closed wave's results name, list
-- and relate its localities by it, whatever is imported later.
CREATE TABLE closed_wave_localities (
    wave_id TEXT NOT NULL REFERENCES waves (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_code TEXT,
    PRIMARY KEY (wave_id, code)
);
-- Waves closed before this table existed keep the tree as it stands now.
INSERT INTO closed_wave_localities (wave_id, code, name, level, parent_code)
SELECT waves.id, localities.code, localities.name, localities.level, localities.parent_code
FROM waves CROSS JOIN localities WHERE waves.status = 'closed';
-- A wave's own disclosure threshold, overriding PHIEU_MIN_CELL.
ALTER TABLE waves ADD COLUMN min_cell BIGINT;
