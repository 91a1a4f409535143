-- Bumped by every change to the locality tree, so that instances keep the tree in memory
-- and read it again only when it changed.
CREATE TABLE locality_tree_version (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO locality_tree_version (id, version) VALUES (1, 0);
