//! Everything that touches the database. One code path serves SQLite and PostgreSQL: each
//! query is written once with diesel's DSL and compiled for both connection types by
//! `with_conn!`.

pub mod accounts;
pub mod audit;
pub mod coordination;
pub mod delivery;
mod heavy;
pub mod invitations;
mod kept;
pub mod lists;
pub mod localities;
pub mod mail;
pub mod operator;
pub mod response_rates;
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

/// How each backend hands over a long result one row at a time. libpq otherwise receives a
/// whole result before its first row is read: a national wave's cells, several kB each, are
/// hundreds of MB of it. SQLite steps through its rows as they are read anyway.
pub(crate) trait RowByRow: diesel::connection::LoadConnection<Self::Mode> {
    type Mode;
}

impl RowByRow for SqliteConnection {
    type Mode = diesel::connection::DefaultLoadingMode;
}

impl RowByRow for PgConnection {
    type Mode = diesel::pg::PgRowByRowLoadingMode;
}

/// Hands each row of `query` to `each` as it arrives, holding no more than that row.
pub(crate) fn each_row<'conn, C, Q, U>(
    c: &'conn mut C,
    query: Q,
    mut each: impl FnMut(U) -> StorageResult<()>,
) -> StorageResult<()>
where
    C: RowByRow,
    Q: diesel::query_dsl::LoadQuery<'conn, C, U, C::Mode> + 'conn,
    U: 'conn,
{
    for row in query.load_iter::<U, C::Mode>(c)? {
        each(row?)?;
    }
    Ok(())
}

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
    kept: std::sync::Arc<KeptValues>,
}

/// What every connection of this instance reads often and seldom changes (see `kept`).
struct KeptValues {
    current_tree: kept::Kept<(), i64, crate::domain::locality::LocalityTree>,
    closed_trees: kept::Kept<String, (), crate::domain::locality::LocalityTree>,
    /// Per wave, its layout under the stored text it was parsed from.
    layouts: kept::Kept<String, String, crate::domain::tally::Layout>,
}

impl Default for KeptValues {
    fn default() -> Self {
        KeptValues {
            current_tree: kept::Kept::new(1),
            closed_trees: kept::Kept::new(localities::CLOSED_TREES_KEPT),
            layouts: kept::Kept::new(LAYOUTS_KEPT),
        }
    }
}

/// Waves whose layouts are kept parsed: those whose results are being read at one time.
const LAYOUTS_KEPT: usize = 8;

/// SQLite's page size for a new database (an existing one keeps its own; it must be set
/// before WAL mode). Tables without rowids keep a row in its b-tree page only up to about a
/// quarter of the page: at the default 4 KiB, every result cell (3.6 kB for SIPAS 2023) and
/// every stored answer (~2 kB) spilled to an overflow page, each read with a call of its own.
/// At 16 KiB a commune's cell and an answer fit in their pages (larger roll-ups still spill).
const PAGE_SIZE: u32 = 16_384;

/// What SQLite's page caches may hold together unless `PHIEU_SQLITE_CACHE_MIB` says otherwise:
/// a 1,000,000-row list import ran as fast with 48 MiB as with 128 and peaked at 175 MiB, not 274.
pub const DEFAULT_SQLITE_CACHE_MIB: u32 = 48;

#[derive(Debug)]
struct SqlitePragmas {
    cache_mib: u32,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the writer; FULL syncs the WAL at every commit, so
        // what was acknowledged survives a power cut (NORMAL would sync only at checkpoints;
        // the answer writer's batches keep the cost to one sync per batch). secure_delete
        // overwrites deleted content so that erased personal data does not linger in free
        // pages. Each connection's page cache may grow to the whole budget (the default is
        // 2 MiB), so that the connection a large list import or the answer writer uses keeps
        // the indexes it probes in memory; the soft heap limit (process-wide) caps all
        // connections' caches together at the same budget, so a pool whose every connection
        // once read a large database does not hold eight full caches. The answer writer's
        // checkpoints run on a thread of their own (`responses::checkpointer`); a connection
        // checkpoints at its commit only past 4,000 pages (default 1,000), as a bound when
        // that thread falls behind.
        let kib = u64::from(self.cache_mib) * 1024;
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 10000; PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA cache_size = -{kib};
             PRAGMA soft_heap_limit = {}; PRAGMA wal_autocheckpoint = 4000;",
            kib * 1024
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

#[derive(Debug)]
struct PostgresSession;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PostgresSession {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        // A commit acknowledged to a citizen must be on disk. A server, database or role
        // default of `synchronous_commit = off` would let commits return before their WAL is
        // flushed; every other value waits for the local flush and is kept (a replication
        // setup may ask for more).
        conn.batch_execute(
            "SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl Database {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; anything else is a SQLite
    /// path, optionally prefixed with `sqlite://`.
    pub fn connect(url: &str, pool_size: u32) -> StorageResult<Self> {
        Self::connect_with_cache(url, pool_size, DEFAULT_SQLITE_CACHE_MIB)
    }

    /// As `connect`, with SQLite's page caches holding at most `sqlite_cache_mib` together.
    pub fn connect_with_cache(url: &str, pool_size: u32, sqlite_cache_mib: u32) -> StorageResult<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let manager = ConnectionManager::<PgConnection>::new(url);
            let pool = R2d2Pool::builder()
                .max_size(pool_size)
                .connection_timeout(Duration::from_secs(10))
                .connection_customizer(Box::new(PostgresSession))
                .build(manager)?;
            let conn = &mut pool.get()?;
            let mut setting = |name: &str| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(&format!("current_setting('{name}')")))
                    .get_result::<String>(&mut *conn)
            };
            if setting("fsync")? == "off" {
                tracing::warn!("PostgreSQL runs with fsync = off: acknowledged answers can be lost on a crash");
            }
            if setting("autovacuum")? == "off" {
                tracing::warn!(
                    "PostgreSQL runs with autovacuum = off: every batch of answers rewrites its result cells, \
                     and their old versions are never reclaimed (43 GB for 45,000 cells after 1,000,000 answers)"
                );
            }
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
                .connection_customizer(Box::new(SqlitePragmas { cache_mib: sqlite_cache_mib }))
                .build(manager)?;
            pool.get()?
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StorageError::Migration(e.to_string()))?;
            Pool::Sqlite(pool)
        };
        Ok(Self { pool, metrics: Default::default(), kept: Default::default() })
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

    /// Runs an interactive call that reads a whole wave (results, the disclosure decision) on
    /// the few threads kept for it (`heavy`): such calls wait their turn rather than spread
    /// over the blocking pool.
    pub async fn run_heavy<T, F>(&self, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> StorageResult<T> + Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        heavy::run(move || span.in_scope(|| work(&db)))
            .await
            .unwrap_or_else(|| Err(StorageError::Task("whole-wave work panicked".into())))
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

    /// SQLite: copies what the WAL holds into the database file, without waiting for readers
    /// or writers (a passive checkpoint).
    pub fn checkpoint_wal(&self) -> StorageResult<()> {
        if let Pool::Sqlite(pool) = &self.pool {
            pool.get()?.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }

    #[test]
    fn every_sqlite_connection_syncs_each_commit_to_disk() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("phieu.db").display()), 3).unwrap();
        let Pool::Sqlite(pool) = &db.pool else { unreachable!() };
        // All three at once: each is a connection of its own, the answer writer's among them.
        let mut connections: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        for conn in &mut connections {
            let (mode, synchronous) = (sqlite_setting(conn, "journal_mode"), sqlite_setting(conn, "synchronous"));
            assert_eq!((mode.as_str(), synchronous.as_str()), ("wal", "2"), "WAL with synchronous = FULL (2)");
        }
    }

    fn sqlite_setting(conn: &mut SqliteConnection, pragma: &str) -> String {
        diesel::sql_query(format!("SELECT CAST({pragma} AS TEXT) AS value FROM pragma_{pragma}"))
            .get_result::<Setting>(conn)
            .unwrap()
            .value
    }

    #[test]
    fn a_new_sqlite_database_has_pages_that_hold_a_result_cell_and_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("phieu.db").display()), 2).unwrap();
        let Pool::Sqlite(pool) = &db.pool else { unreachable!() };
        assert_eq!(sqlite_setting(&mut pool.get().unwrap(), "page_size"), PAGE_SIZE.to_string());
    }

    #[test]
    fn an_existing_sqlite_database_keeps_its_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phieu.db").display().to_string();
        let mut old = SqliteConnection::establish(&path).unwrap();
        old.batch_execute("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE earlier (x)").unwrap();
        drop(old);
        let db = Database::connect(&path, 2).unwrap();
        let Pool::Sqlite(pool) = &db.pool else { unreachable!() };
        assert_eq!(sqlite_setting(&mut pool.get().unwrap(), "page_size"), "4096");
    }

    #[test]
    fn sqlite_page_caches_hold_the_configured_budget_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("sqlite://{}", dir.path().join("phieu.db").display());
        let db = Database::connect_with_cache(&path, 2, 24).unwrap();
        let Pool::Sqlite(pool) = &db.pool else { unreachable!() };
        let conn = &mut pool.get().unwrap();
        assert_eq!(sqlite_setting(conn, "cache_size"), (-24 * 1024).to_string(), "one connection may use it all");
        assert_eq!(sqlite_setting(conn, "soft_heap_limit"), (24 << 20).to_string(), "all together no more");
    }

    #[test]
    fn postgres_connections_commit_synchronously_when_the_database_default_is_off() {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            let required = std::env::var("PHIEU_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true");
            assert!(!required, "PostgreSQL is required (PHIEU_REQUIRE_POSTGRES=1) but TEST_DATABASE_URL is not set");
            eprintln!("SKIPPED: PostgreSQL durability test: TEST_DATABASE_URL is not set");
            return;
        };
        let name = format!("phieu_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap();
        // What an operator tuning for speed might have done to the whole database.
        diesel::sql_query(format!("ALTER DATABASE {name} SET synchronous_commit = off")).execute(&mut admin).unwrap();
        let base = admin_url.split('?').next().unwrap();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        let outcome = std::panic::catch_unwind(|| {
            let mut plain = PgConnection::establish(&url).unwrap();
            let default: Setting = diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
                .get_result(&mut plain)
                .unwrap();
            assert_eq!(default.value, "off", "the database's default is off");
            let db = Database::connect(&url, 2).unwrap();
            let Pool::Postgres(pool) = &db.pool else { unreachable!() };
            let mut connections: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
            for conn in &mut connections {
                let setting: Setting = diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
                    .get_result(&mut **conn)
                    .unwrap();
                assert_eq!(setting.value, "on");
            }
        });
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).unwrap();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}
