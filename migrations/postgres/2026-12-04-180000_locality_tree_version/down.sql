DROP TABLE locality_tree_version;
