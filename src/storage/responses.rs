//! Storing answers: one writer thread commits submissions in batches.
//!
//! Each batch is one transaction that uses up the invitations, inserts the anonymised
//! answers in random order and bumps the result counters. Batching is what lets one SQLite
//! file take thousands of answers a second, and on PostgreSQL it also means the answers of
//! a batch share one transaction id.

use super::schema::{invitations, responses};
use super::tallies::{CellCounts, CellKey, TallyStore, roll_up};
use super::{Database, StorageError, StorageResult, with_conn};
use crate::domain::answers::ValidAnswers;
use crate::domain::form::Form;
use crate::domain::tally::{self, LEAF};
use crate::domain::wave::{Channel, WaveStatus};
use diesel::prelude::*;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// An answer ready to store: already validated, holding nothing about the person.
#[derive(Debug, Clone)]
pub struct Submission {
    pub code_hash: String,
    pub wave_id: String,
    pub locality_code: String,
    pub agency_code: String,
    /// `desk` for codes an agency handed out itself; counted apart so results can filter it.
    pub channel: Channel,
    pub answers_json: String,
    /// The local day only: no finer time is ever stored with an answer.
    pub submitted_on: String,
    /// The answers again, as the tallies count them, with the wave's form.
    pub answers: ValidAnswers,
    pub form: Arc<Form>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    Stored,
    AlreadyAnswered,
    WaveNotOpen,
}

type Reply = oneshot::Sender<StorageResult<SubmitOutcome>>;

const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct ResponseWriter {
    queue: mpsc::Sender<(Submission, Reply)>,
}

impl ResponseWriter {
    /// Starts the writer thread; it ends when the last `ResponseWriter` clone is dropped.
    pub fn start(db: Database) -> Self {
        let (queue, mut inbox) = mpsc::channel::<(Submission, Reply)>(MAX_BATCH * 8);
        let checkpoints = checkpointer(db.clone());
        std::thread::Builder::new()
            .name("response-writer".into())
            .spawn(move || {
                while let Some(first) = inbox.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match inbox.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    commit(&db, batch);
                    if let Some(checkpoints) = &checkpoints {
                        let _ = checkpoints.try_send(());
                    }
                }
            })
            .expect("spawn response writer");
        Self { queue }
    }

    pub async fn submit(&self, submission: Submission) -> StorageResult<SubmitOutcome> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((submission, reply)).await.map_err(|_| StorageError::Task("response writer stopped".into()))?;
        answer.await.map_err(|_| StorageError::Task("response writer dropped a submission".into()))?
    }
}

/// SQLite: copies the WAL into the database file on a thread of its own, at most every
/// `CHECKPOINT_EVERY` while answers are being written, so that the writer's commits do not
/// wait for it (a connection checkpoints itself only past `wal_autocheckpoint` pages, see
/// `storage`). Ends with the writer thread. A checkpoint only moves what is committed: an
/// answer is durable once its commit has synced the WAL.
fn checkpointer(db: Database) -> Option<std::sync::mpsc::SyncSender<()>> {
    if db.backend() != crate::storage::Backend::Sqlite {
        return None;
    }
    let (wake, woken) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("wal-checkpointer".into())
        .spawn(move || {
            while woken.recv().is_ok() {
                if let Err(error) = db.checkpoint_wal() {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
                std::thread::sleep(CHECKPOINT_EVERY);
            }
        })
        .expect("spawn WAL checkpointer");
    Some(wake)
}

const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn commit(db: &Database, batch: Vec<(Submission, Reply)>) {
    let (submissions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    match db.write_batch(&submissions) {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        // One bad submission must not sink the others, and a passing conflict (another
        // instance, a busy file) must not lose an answer: retry each on its own, a few times.
        Err(error) => {
            tracing::warn!(%error, size = submissions.len(), "batch failed; retrying one by one");
            for (submission, reply) in submissions.into_iter().zip(replies) {
                let mut result = db.write_batch(std::slice::from_ref(&submission));
                for attempt in 1..=3 {
                    if result.is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
                    result = db.write_batch(std::slice::from_ref(&submission));
                }
                if let Err(error) = &result {
                    tracing::error!(%error, "storing an answer failed");
                }
                let _ = reply.send(result.map(|outcomes| outcomes[0]));
            }
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = responses)]
struct NewResponse<'a> {
    id: String,
    wave_id: &'a str,
    locality_code: &'a str,
    agency_code: &'a str,
    submitted_on: &'a str,
    answers: &'a str,
    channel: &'a str,
}

/// What a batch's stored answers add to one wave's cells: summed per leaf cell first, then
/// each leaf's sum added to its roll-ups, so every cell row is written once per batch, in
/// key order (the order every writer locks them in).
fn wave_deltas<C: TallyStore>(
    c: &mut C,
    wave_id: &str,
    stored: &[&Submission],
) -> StorageResult<BTreeMap<CellKey, CellCounts>> {
    let layout = c.layout_for_write(wave_id, &stored[0].form)?;
    let mut leaves: BTreeMap<CellKey, CellCounts> = BTreeMap::new();
    for s in stored {
        let leaf = leaves
            .entry((LEAF.to_string(), s.locality_code.clone(), s.agency_code.clone(), s.channel.as_str().to_string()))
            .or_default();
        leaf.responses += 1;
        for (slot, n) in tally::increments(&s.form, &layout, &s.answers) {
            leaf.tally.add(slot, n);
        }
    }
    let chains = c.chains(leaves.keys().map(|key| key.1.as_str()))?;
    roll_up(&leaves, |locality| Ok(chains.get(locality).cloned().unwrap_or_default()))
}

impl Database {
    fn write_batch(&self, batch: &[Submission]) -> StorageResult<Vec<SubmitOutcome>> {
        with_conn!(self, c => c.transaction::<_, StorageError, _>(|c| {
            let mut outcomes = vec![SubmitOutcome::WaveNotOpen; batch.len()];
            // Invitations are locked in code-hash order for the same reason as the counters.
            let mut order: Vec<usize> = (0..batch.len()).collect();
            order.sort_by(|&a, &b| batch[a].code_hash.cmp(&batch[b].code_hash));
            let mut stored = Vec::with_capacity(batch.len());
            let mut by_wave: BTreeMap<&str, Vec<&Submission>> = BTreeMap::new();
            let hashes: Vec<&str> = order.iter().map(|&index| batch[index].code_hash.as_str()).collect();
            let used = c.use_invitations(&hashes)?;
            for (index, used) in order.into_iter().zip(used) {
                let s = &batch[index];
                if used {
                    by_wave.entry(&s.wave_id).or_default().push(s);
                    stored.push(NewResponse {
                        id: uuid::Uuid::new_v4().to_string(),
                        wave_id: &s.wave_id,
                        locality_code: &s.locality_code,
                        agency_code: &s.agency_code,
                        submitted_on: &s.submitted_on,
                        answers: &s.answers_json,
                        channel: s.channel.as_str(),
                    });
                    outcomes[index] = SubmitOutcome::Stored;
                } else {
                    let already: Option<bool> = invitations::table
                        .find(&s.code_hash)
                        .select(invitations::used)
                        .get_result(c)
                        .optional()?;
                    if already == Some(true) {
                        outcomes[index] = SubmitOutcome::AlreadyAnswered;
                    }
                }
            }
            stored.shuffle(&mut rand::thread_rng());
            for chunk in stored.chunks(200) {
                diesel::insert_into(responses::table).values(chunk).execute(c)?;
            }
            for (wave_id, submissions) in by_wave {
                let deltas = wave_deltas(c, wave_id, &submissions)?;
                c.add_to_cells(wave_id, &deltas)?;
            }
            Ok(outcomes)
        }))
    }

    /// On PostgreSQL, erases what transaction ids and heap order say about which answer used
    /// which invitation, rewriting only what is new since the last mix: the answers and used
    /// invitations not mixed yet (`mixed` is false) become one cohort. In one transaction
    /// with one snapshot, the cohort's invitations are re-stamped and its answers rewritten
    /// in random-id order, so all of them carry this transaction's id and an answer can be
    /// told apart from no other of its cohort. A cohort holds at least `min_cohort` answers:
    /// with fewer new ones (when a wave closes) the whole wave is mixed again instead.
    /// Returns how many answers were rewritten. SQLite keeps neither transaction ids nor
    /// insertion order (WITHOUT ROWID tables), so there it does nothing.
    pub fn mix_wave(&self, wave_id: &str, min_cohort: i64) -> StorageResult<usize> {
        let crate::storage::Pool::Postgres(pool) = &self.pool else {
            return Ok(0);
        };
        let c = &mut *pool.get()?;
        // Writers never touch used invitations nor stored answers, so only a mix of the same
        // wave at the same moment (closing it while the job runs) can conflict: retried.
        let mut attempt = 0;
        loop {
            let result = c.build_transaction().repeatable_read().run::<_, StorageError, _>(|c| {
                let pending: Vec<Pending> =
                    diesel::sql_query("SELECT count(*) AS n FROM responses WHERE NOT mixed AND wave_id = $1")
                        .bind::<diesel::sql_types::Text, _>(wave_id)
                        .load(c)?;
                let pending = pending.first().map_or(0, |p| p.n);
                if pending == 0 {
                    return Ok(0);
                }
                // The cohort: what is new, or the whole wave when that is too few.
                let which = if pending >= min_cohort { "AND NOT mixed" } else { "" };
                diesel::sql_query(format!("UPDATE invitations SET mixed = TRUE WHERE wave_id = $1 AND used {which}"))
                    .bind::<diesel::sql_types::Text, _>(wave_id)
                    .execute(c)?;
                // Every column but `mixed`, read from the catalog so that columns added to
                // `responses` later are carried over.
                let columns: Vec<ColumnList> = diesel::sql_query(
                    "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS names FROM pg_attribute \
                     WHERE attrelid = 'responses'::regclass AND attnum > 0 AND NOT attisdropped \
                     AND attname <> 'mixed'",
                )
                .load(c)?;
                let columns = &columns[0].names;
                let moved = diesel::sql_query(format!(
                    "WITH moved AS (DELETE FROM responses WHERE wave_id = $1 {which} RETURNING *) \
                     INSERT INTO responses ({columns}, mixed) SELECT {columns}, TRUE FROM moved ORDER BY id"
                ))
                .bind::<diesel::sql_types::Text, _>(wave_id)
                .execute(c)?;
                Ok(moved)
            });
            match result {
                Err(StorageError::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::SerializationFailure,
                    _,
                ))) if attempt < 3 => attempt += 1,
                other => return other,
            }
        }
    }

    /// Open waves and how many answers of each are not mixed yet, for the mixing job
    /// (PostgreSQL only).
    pub fn waves_to_mix(&self) -> StorageResult<Vec<(String, i64)>> {
        let crate::storage::Pool::Postgres(pool) = &self.pool else {
            return Ok(Vec::new());
        };
        let rows: Vec<WavePending> = diesel::sql_query(
            "SELECT r.wave_id, count(*) AS n FROM responses r JOIN waves w ON w.id = r.wave_id \
             WHERE NOT r.mixed AND w.status = $1 GROUP BY r.wave_id",
        )
        .bind::<diesel::sql_types::Text, _>(WaveStatus::Open.as_str())
        .load(&mut *pool.get()?)?;
        Ok(rows.into_iter().map(|r| (r.wave_id, r.n)).collect())
    }
}

#[derive(QueryableByName)]
struct ColumnList {
    #[diesel(sql_type = diesel::sql_types::Text)]
    names: String,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct WavePending {
    #[diesel(sql_type = diesel::sql_types::Text)]
    wave_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
