//! What the instances sharing one database agree on: which of them runs a scheduled job
//! (leases, and a record of runs), and the counts of rate limits.
//!
//! Statements are written once for both backends: placeholders are `$1, $2, …`, each used
//! once and in ascending order, which PostgreSQL reads as positions and SQLite as names
//! numbered in order of appearance — the same binding on both.

use super::{Database, StorageResult, with_conn};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use std::fmt::Write;

/// Events counted by one instance for one key since its last exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountDelta {
    /// A keyed hash: no address, email or code is stored in clear.
    pub key: String,
    pub delta: i64,
    /// The key's limit when known (0 otherwise): rows at their limit are handed to every
    /// instance, so one that has not seen the key yet still refuses it.
    pub limit: i64,
    /// When the count ends: the end of a fixed window, or a window after the last event.
    pub expires_ms: i64,
    pub now_ms: i64,
}

/// The count of a key over all instances.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct SharedCount {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub expires_ms: i64,
}

/// One run of a scheduled job, for the record an operator (and the test suite) reads.
#[derive(Debug, Clone, QueryableByName)]
pub struct JobRun {
    #[diesel(sql_type = Text)]
    pub job: String,
    #[diesel(sql_type = Text)]
    pub holder: String,
    #[diesel(sql_type = BigInt)]
    pub started_ms: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub finished_ms: Option<i64>,
}

/// Rows per statement when counts are exchanged: 2,500 parameters, under every limit.
const COUNTS_PER_STATEMENT: usize = 500;

impl Database {
    /// Adds each delta to the shared count of its key (starting a new count where the stored
    /// one expired) and returns the resulting counts. Keys are written in sorted order, so
    /// instances exchanging at the same moment cannot deadlock.
    pub fn add_rate_counts(&self, deltas: &[CountDelta]) -> StorageResult<Vec<SharedCount>> {
        let mut sorted: Vec<&CountDelta> = deltas.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        let mut totals = Vec::with_capacity(sorted.len());
        for chunk in sorted.chunks(COUNTS_PER_STATEMENT) {
            let mut sql = String::from("INSERT INTO rate_counts (key, n, lim, expires_ms, updated_ms) VALUES ");
            for i in 0..chunk.len() {
                let p = 5 * i;
                let separator = if i == 0 { "" } else { ", " };
                let _ = write!(sql, "{separator}(${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5);
            }
            // `excluded.updated_ms` is the writer's clock: a stored count that ended by then
            // starts over; a sliding count ends a window after the latest event anywhere.
            sql.push_str(
                " ON CONFLICT (key) DO UPDATE SET \
                 n = CASE WHEN rate_counts.expires_ms <= excluded.updated_ms THEN excluded.n \
                     ELSE rate_counts.n + excluded.n END, \
                 lim = CASE WHEN excluded.lim > 0 THEN excluded.lim ELSE rate_counts.lim END, \
                 expires_ms = CASE WHEN rate_counts.expires_ms <= excluded.updated_ms \
                     OR excluded.expires_ms > rate_counts.expires_ms \
                     THEN excluded.expires_ms ELSE rate_counts.expires_ms END, \
                 updated_ms = excluded.updated_ms \
                 RETURNING key, n, expires_ms",
            );
            let rows: Vec<SharedCount> = with_conn!(self, c => {
                let mut query = diesel::sql_query(sql).into_boxed();
                for d in chunk {
                    query = query
                        .bind::<Text, _>(d.key.clone())
                        .bind::<BigInt, _>(d.delta)
                        .bind::<BigInt, _>(d.limit)
                        .bind::<BigInt, _>(d.expires_ms)
                        .bind::<BigInt, _>(d.now_ms);
                }
                query.load(c)?
            });
            totals.extend(rows);
        }
        Ok(totals)
    }

    /// Keys at their limit whose count changed since `since_ms` and has not ended at `now_ms`.
    pub fn exhausted_rate_counts(&self, since_ms: i64, now_ms: i64) -> StorageResult<Vec<SharedCount>> {
        Ok(with_conn!(self, c => diesel::sql_query(
            "SELECT key, n, expires_ms FROM rate_counts \
             WHERE lim > 0 AND n >= lim AND updated_ms >= $1 AND expires_ms > $2",
        )
        .bind::<BigInt, _>(since_ms)
        .bind::<BigInt, _>(now_ms)
        .load(c)?))
    }

    /// Forgets counts that ended before `now_ms`.
    pub fn delete_expired_rate_counts(&self, now_ms: i64) -> StorageResult<usize> {
        Ok(with_conn!(self, c => diesel::sql_query("DELETE FROM rate_counts WHERE expires_ms <= $1")
            .bind::<BigInt, _>(now_ms)
            .execute(c)?))
    }

    /// Takes the lease of `job` for `holder` until `until_ms`, if nobody holds it at `now_ms`.
    pub fn take_job_lease(&self, job: &str, holder: &str, until_ms: i64, now_ms: i64) -> StorageResult<bool> {
        let taken = with_conn!(self, c => diesel::sql_query(
            "INSERT INTO job_leases (job, holder, expires_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE job_leases.expires_ms <= $4",
        )
        .bind::<Text, _>(job)
        .bind::<Text, _>(holder)
        .bind::<BigInt, _>(until_ms)
        .bind::<BigInt, _>(now_ms)
        .execute(c)?);
        Ok(taken == 1)
    }

    /// Moves the end of `holder`'s lease of `job`; false when it holds it no more.
    pub fn extend_job_lease(&self, until_ms: i64, job: &str, holder: &str) -> StorageResult<bool> {
        let extended = with_conn!(self, c => diesel::sql_query(
            "UPDATE job_leases SET expires_ms = $1 WHERE job = $2 AND holder = $3",
        )
        .bind::<BigInt, _>(until_ms)
        .bind::<Text, _>(job)
        .bind::<Text, _>(holder)
        .execute(c)?);
        Ok(extended == 1)
    }

    pub fn start_job_run(&self, id: &str, job: &str, holder: &str, started_ms: i64) -> StorageResult<()> {
        with_conn!(self, c => diesel::sql_query(
            "INSERT INTO job_runs (id, job, holder, started_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind::<Text, _>(id)
        .bind::<Text, _>(job)
        .bind::<Text, _>(holder)
        .bind::<BigInt, _>(started_ms)
        .execute(c)?);
        Ok(())
    }

    pub fn finish_job_run(&self, finished_ms: i64, failed: bool, id: &str) -> StorageResult<()> {
        with_conn!(self, c => diesel::sql_query("UPDATE job_runs SET finished_ms = $1, failed = $2 WHERE id = $3")
            .bind::<BigInt, _>(finished_ms)
            .bind::<Bool, _>(failed)
            .bind::<Text, _>(id)
            .execute(c)?);
        Ok(())
    }

    /// Runs of scheduled jobs started at or after `since_ms`, oldest first.
    pub fn job_runs(&self, since_ms: i64) -> StorageResult<Vec<JobRun>> {
        Ok(with_conn!(self, c => diesel::sql_query(
            "SELECT job, holder, started_ms, finished_ms FROM job_runs WHERE started_ms >= $1 ORDER BY started_ms",
        )
        .bind::<BigInt, _>(since_ms)
        .load(c)?))
    }

    /// Forgets runs started before `before_ms`.
    pub fn prune_job_runs(&self, before_ms: i64) -> StorageResult<usize> {
        Ok(with_conn!(self, c => diesel::sql_query("DELETE FROM job_runs WHERE started_ms < $1")
            .bind::<BigInt, _>(before_ms)
            .execute(c)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (Database, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("phieu-coordination-{}", uuid::Uuid::new_v4().simple()));
        let db = Database::connect(&dir.join("phieu.db").display().to_string(), 2).unwrap();
        (db, dir)
    }

    #[test]
    fn a_lease_goes_to_one_holder_until_it_ends() {
        let (db, dir) = database();
        assert!(db.take_job_lease("purge", "a", 1_000, 0).unwrap());
        assert!(!db.take_job_lease("purge", "b", 1_500, 500).unwrap(), "held by a");
        assert!(!db.take_job_lease("purge", "a", 1_500, 500).unwrap(), "not even a takes it twice");
        assert!(db.take_job_lease("mix", "b", 1_500, 500).unwrap(), "another job is apart");
        assert!(db.extend_job_lease(2_000, "purge", "a").unwrap());
        assert!(!db.extend_job_lease(2_000, "purge", "b").unwrap(), "b does not hold it");
        assert!(!db.take_job_lease("purge", "b", 2_500, 1_999).unwrap());
        assert!(db.take_job_lease("purge", "b", 2_500, 2_000).unwrap(), "ended");
        assert!(!db.extend_job_lease(3_000, "purge", "a").unwrap(), "a lost it");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn counts_add_up_over_writers_and_start_over_when_they_end() {
        let (db, dir) = database();
        let delta = |delta, expires_ms, now_ms| CountDelta { key: "k".into(), delta, limit: 5, expires_ms, now_ms };
        assert_eq!(db.add_rate_counts(&[delta(3, 1_000, 10)]).unwrap()[0].n, 3);
        assert_eq!(db.add_rate_counts(&[delta(2, 1_000, 20)]).unwrap()[0].n, 5);
        assert_eq!(db.exhausted_rate_counts(0, 30).unwrap().len(), 1, "at its limit");
        assert!(db.exhausted_rate_counts(21, 30).unwrap().is_empty(), "unchanged since");
        let later = db.add_rate_counts(&[delta(1, 2_000, 1_000)]).unwrap();
        assert_eq!((later[0].n, later[0].expires_ms), (1, 2_000), "the window ended: a new count");
        assert_eq!(db.delete_expired_rate_counts(2_000).unwrap(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
