DROP TABLE locality_crosswalk;
