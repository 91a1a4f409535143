-- A result cell holds one varint per slot: 3.6 kB for every SIPAS 2023 cell, 4-7 kB for roll-ups
-- at 1,000,000 answers. Above PostgreSQL's default 2 kB threshold each was compressed (by a
-- few percent) and moved to the TOAST table, so every answer's upserts compressed several
-- cells and every results call decompressed thousands. Cells now stay in the row, as they
-- are, up to a full page; only a larger one is compressed or moved. Existing cells move back
-- as they are next written. (PostgreSQL only: SQLite keeps a row's bytes as given.)
ALTER TABLE result_cells SET (toast_tuple_target = 8160);
