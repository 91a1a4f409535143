-- An import's duplicate keys are held in its memory (12 bytes each), no longer written to
-- and probed in a table: that table cost most of a large import's disk writes.
DROP TABLE list_keys;
