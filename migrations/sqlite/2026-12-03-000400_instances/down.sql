DROP TABLE job_runs;
DROP TABLE job_leases;
DROP TABLE rate_counts;
