-- Which unit each code of an earlier locality tree became (units merged in a reorganisation
-- share a new code): comparisons with earlier waves match units through it.
CREATE TABLE locality_crosswalk (
    old_code TEXT PRIMARY KEY,
    new_code TEXT NOT NULL
);
