-- How a wave's figures are estimated: 'none' (every answer weighs 1) or 'design' (weighted by
-- the sample's strata, N_h / responding_h).
ALTER TABLE waves ADD COLUMN weighting TEXT NOT NULL DEFAULT 'none';
