ALTER TABLE invitations DROP COLUMN mixed;
ALTER TABLE responses DROP COLUMN mixed;
DROP TABLE job_runs;
DROP TABLE job_leases;
DROP TABLE rate_counts;
