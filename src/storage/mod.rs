//! Everything that touches the database. One code path serves SQLite and PostgreSQL: each
//! query is written once with diesel's DSL and compiled for both connection types by
//! `with_conn!`.

pub mod accounts;
pub mod audit;
pub mod coordination;
pub mod delivery;
pub mod invitations;
pub mod lists;
pub mod localities;
pub mod mail;
pub mod operator;
pub mod responses;
pub mod schema;
pub mod tallies;
pub mod waves;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool as R2d2Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::Path;
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database connection: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("database migration: {0}")]
    Migration(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database task failed: {0}")]
    Task(String),
    #[error("file: {0}")]
    Io(String),
}

impl StorageError {
    /// PostgreSQL refuses text holding a NUL (SQLite stores it): such input is the
    /// caller's mistake, not the server's.
    pub fn is_nul_in_text(&self) -> bool {
        matches!(self, StorageError::Query(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("0x00"))
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

#[derive(Clone)]
pub enum Pool {
    Sqlite(R2d2Pool<ConnectionManager<SqliteConnection>>),
    Postgres(R2d2Pool<ConnectionManager<PgConnection>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$c` bound to a pooled connection of whichever backend is configured.
/// The body is compiled once per backend, so it may use any diesel DSL both support.
macro_rules! with_conn {
    ($db:expr, $c:ident => $body:expr) => {
        match &$db.pool {
            $crate::storage::Pool::Sqlite(pool) => {
                let $c = &mut *pool.get()?;
                $body
            }
            $crate::storage::Pool::Postgres(pool) => {
                let $c = &mut *pool.get()?;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// A transaction that reads before it writes. SQLite's default (deferred) transaction would
/// fail at once with "database is locked", without waiting, if another connection wrote
/// between its read and its write; an immediate one takes the write lock first and waits.
macro_rules! write_transaction {
    ($db:expr, $c:ident => $body:expr) => {
        match &$db.pool {
            $crate::storage::Pool::Sqlite(pool) => {
                (&mut *pool.get()?).immediate_transaction::<_, $crate::storage::StorageError, _>(|$c| $body)
            }
            $crate::storage::Pool::Postgres(pool) => {
                (&mut *pool.get()?).transaction::<_, $crate::storage::StorageError, _>(|$c| $body)
            }
        }
    };
}
pub(crate) use write_transaction;

#[derive(Clone)]
pub struct Database {
    pub(crate) pool: Pool,
    /// This instance's counters, reachable from every layer that holds the database.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the writer; secure_delete overwrites deleted content
        // so that erased personal data does not linger in free pages. A 16 MiB page cache
        // (the default is 2) keeps the indexes a large list import probes in memory.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA cache_size = -65536;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Database {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; anything else is a SQLite
    /// path, optionally prefixed with `sqlite://`.
    pub fn connect(url: &str, pool_size: u32) -> StorageResult<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let manager = ConnectionManager::<PgConnection>::new(url);
            let pool =
                R2d2Pool::builder().max_size(pool_size).connection_timeout(Duration::from_secs(10)).build(manager)?;
            let conn = &mut pool.get()?;
            // Several service instances may start together: one migrates, the others wait.
            conn.batch_execute("SELECT pg_advisory_lock(724713)")?;
            let result = conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            conn.batch_execute("SELECT pg_advisory_unlock(724713)")?;
            result.map_err(|e| StorageError::Migration(e.to_string()))?;
            Pool::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| StorageError::Migration(e.to_string()))?;
            }
            let manager = ConnectionManager::<SqliteConnection>::new(path);
            let pool = R2d2Pool::builder()
                .max_size(pool_size)
                .connection_timeout(Duration::from_secs(10))
                .connection_customizer(Box::new(SqlitePragmas))
                .build(manager)?;
            pool.get()?
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StorageError::Migration(e.to_string()))?;
            Pool::Sqlite(pool)
        };
        Ok(Self { pool, metrics: Default::default() })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs blocking database work off the async executor.
    pub async fn run<T, F>(&self, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StorageResult<T> + Send + 'static,
    {
        let db = self.clone();
        // Logs written by the work carry the request's span (its request id).
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| work(&db)))
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }

    pub fn ping(&self) -> StorageResult<()> {
        with_conn!(self, c => c.batch_execute("SELECT 1")?);
        Ok(())
    }

    /// A per-installation secret, created on first use and shared by every instance that
    /// uses this database.
    pub fn instance_secret(&self, name: &str, generate: impl FnOnce() -> String) -> StorageResult<String> {
        use schema::instance_secrets as s;
        let fresh = generate();
        with_conn!(self, c => {
            // Two instances starting together both try; the first insert wins, both read it.
            diesel::insert_into(s::table)
                .values((s::name.eq(name), s::value.eq(&fresh)))
                .on_conflict_do_nothing()
                .execute(c)?;
            Ok(s::table.find(name).select(s::value).first(c)?)
        })
    }

    /// SQLite: moves the WAL into the database file and truncates it, so recently written
    /// pages (which show what one commit wrote together) do not linger in the WAL file.
    pub fn truncate_wal(&self) -> StorageResult<()> {
        if let Pool::Sqlite(pool) = &self.pool {
            pool.get()?.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
        }
        Ok(())
    }
}
