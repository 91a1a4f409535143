//! What an operator reads or copies: the counts a metrics scrape shows, and the SQLite backup.

use super::schema::{instance_secrets, list_uploads, mail_queue, responses};
use super::{Database, Pool, StorageError, StorageResult, with_conn};
use crate::metrics::{PoolState, ScrapeState};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::path::Path;

/// The name under which the instance key is kept when `PHIEU_SECRET_KEY` is unset.
pub const CODE_KEY_NAME: &str = "code_hmac_key";

/// What `phieu backup` wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub bytes: u64,
    pub answers: i64,
    /// Whether the copy holds the key of the invitation-code hash.
    pub holds_instance_key: bool,
}

impl Database {
    pub fn pool_state(&self) -> PoolState {
        let (state, max) = match &self.pool {
            Pool::Sqlite(pool) => (pool.state(), pool.max_size()),
            Pool::Postgres(pool) => (pool.state(), pool.max_size()),
        };
        PoolState { max, open: state.connections, idle: state.idle_connections }
    }

    /// Counts for a metrics scrape: messages not yet sent, uploads being imported. A
    /// database that does not answer gives empty counts and `database_up` false.
    pub fn scrape_state(&self) -> ScrapeState {
        let pool = self.pool_state();
        let counts = || -> StorageResult<_> {
            with_conn!(self, c => {
                // One count per (channel, status): each an index range, however long the
                // table of sent messages grows.
                let mut outbox = Vec::new();
                for channel in ["email", "sms"] {
                    for status in ["pending", "sending"] {
                        let n = mail_queue::table
                            .filter(mail_queue::channel.eq(channel))
                            .filter(mail_queue::status.eq(status))
                            .count()
                            .get_result::<i64>(c)?;
                        outbox.push((channel.to_string(), status.to_string(), n));
                    }
                }
                let importing =
                    list_uploads::table.filter(list_uploads::status.eq("importing")).count().get_result::<i64>(c)?;
                Ok((outbox, importing))
            })
        };
        match counts() {
            Ok((outbox, uploads_importing)) => ScrapeState { pool, database_up: true, outbox, uploads_importing },
            Err(error) => {
                tracing::warn!(%error, "metrics: database counts unavailable");
                ScrapeState { pool, ..Default::default() }
            }
        }
    }

    /// A consistent copy of the SQLite database in a new file `target`, written by
    /// `VACUUM INTO`: fresh pages holding only live rows (nothing deleted, such as purged
    /// contacts, survives) and no WAL beside it (the copy is switched to a rollback journal).
    /// With `key_outside` (`PHIEU_SECRET_KEY` is set), any instance key kept in the database
    /// is left out of the copy. The file is readable by its owner only.
    pub fn backup_sqlite(&self, target: &Path, key_outside: bool) -> StorageResult<BackupReport> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(StorageError::Io("backup copies SQLite databases; use pg_dump for PostgreSQL".into()));
        };
        if target.exists() {
            return Err(StorageError::Io(format!("{} exists already", target.display())));
        }
        let name = target.to_str().ok_or_else(|| StorageError::Io("the backup path is not UTF-8".into()))?;
        diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(name).execute(&mut *pool.get()?)?;
        let finished = finish_copy(target, name, key_outside);
        if finished.is_err() {
            let _ = std::fs::remove_file(target);
        }
        finished
    }
}

fn finish_copy(target: &Path, name: &str, key_outside: bool) -> StorageResult<BackupReport> {
    restrict_to_owner(target)?;
    let mut copy = SqliteConnection::establish(name)?;
    copy.batch_execute("PRAGMA journal_mode = DELETE; PRAGMA secure_delete = ON;")?;
    if key_outside {
        let removed = diesel::delete(instance_secrets::table.filter(instance_secrets::name.eq(CODE_KEY_NAME)))
            .execute(&mut copy)?;
        if removed > 0 {
            // A key kept from before PHIEU_SECRET_KEY was set: rewritten away, not left in a free page.
            copy.batch_execute("VACUUM")?;
        }
    }
    let holds_instance_key = instance_secrets::table
        .filter(instance_secrets::name.eq(CODE_KEY_NAME))
        .count()
        .get_result::<i64>(&mut copy)?
        > 0;
    let answers = responses::table.count().get_result(&mut copy)?;
    drop(copy);
    let bytes = std::fs::metadata(target).map_err(|e| StorageError::Io(e.to_string()))?.len();
    Ok(BackupReport { bytes, answers, holds_instance_key })
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> StorageResult<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| StorageError::Io(e.to_string()))
}

#[cfg(not(unix))]
fn restrict_to_owner(_: &Path) -> StorageResult<()> {
    Ok(())
}
