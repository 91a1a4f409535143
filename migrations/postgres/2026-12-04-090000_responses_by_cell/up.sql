-- The recount reads a wave's answers cell by cell (locality, agency, channel), so that it
-- holds one cell's counts at a time. The id that ends each entry is random, so the index
-- says nothing of when answers came. `responses_wave` stays: pages read by id (microdata,
-- comments, crosstabs) follow it on SQLite, whose entries it keeps in id order.
CREATE INDEX responses_cell ON responses(wave_id, locality_code, agency_code, channel);
