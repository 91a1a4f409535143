//! Result tallies: a wave's layout and its cells, leaf and rolled up (see `domain::tally`).
//!
//! Every statement on the answer path has fixed SQL, so each connection prepares it once.
//! Look-ups by key use `get_result`, not `first`: `first` binds its `LIMIT` as a parameter,
//! and SQLite prepares a statement again each time a value is bound to its `LIMIT`.
//! Diesel does not cache `UPDATE` or upserts, so those are written here as small query
//! types with static text. On PostgreSQL a batch's cells are written with three statements
//! whatever their number (arrays unnested), locked in one order so that instances sharing
//! the database neither deadlock nor lose an increment.

use super::schema::{agencies, localities, responses, result_cells, tally_layouts, waves};
use super::{Database, StorageError, StorageResult, each_row, with_conn};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, LEAF, Layout, Slot, Tally};
use crate::domain::wave::{Channel, DeskFilter, WaveStatus};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Binary, Text};
use diesel::sqlite::Sqlite;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where a tally is kept: (level, locality, agency, channel), see `domain::tally::RollupKey`.
pub type CellKey = (String, String, String, String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellCounts {
    pub responses: u64,
    pub tally: Tally,
}

impl CellCounts {
    pub fn merge(&mut self, other: &CellCounts) {
        self.responses += other.responses;
        self.tally.merge(&other.tally);
    }
}

/// Adds every leaf cell's counts to its roll-ups; `chain` gives a locality's ancestors.
pub fn roll_up<'a>(
    leaves: impl IntoIterator<Item = (&'a CellKey, &'a CellCounts)>,
    mut chain: impl FnMut(&str) -> StorageResult<Vec<(String, String)>>,
) -> StorageResult<BTreeMap<CellKey, CellCounts>> {
    let mut cells: BTreeMap<CellKey, CellCounts> = BTreeMap::new();
    for ((_, locality, agency, channel), counts) in leaves {
        for key in tally::rollup_keys(locality, agency, &chain(locality)?) {
            cells.entry((key.level, key.locality, key.agency, channel.clone())).or_default().merge(counts);
        }
    }
    Ok(cells)
}

/// SQLite: `UPDATE invitations …` using up one code, with fixed SQL.
struct UseInvitation<'a>(&'a str);

impl QueryFragment<Sqlite> for UseInvitation<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("UPDATE invitations SET used = TRUE WHERE code_hash = ");
        out.push_bind_param::<Text, _>(self.0)?;
        out.push_sql(" AND NOT used AND wave_id IN (SELECT id FROM waves WHERE status = 'open')");
        Ok(())
    }
}

/// PostgreSQL: uses up a batch's codes in one round trip, locking them in code order (the
/// order every writer takes them in) and returning those that were unused in an open wave.
struct UseInvitations<'a>(&'a [&'a str]);

impl QueryFragment<Pg> for UseInvitations<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE invitations SET used = TRUE WHERE code_hash IN (SELECT code_hash FROM invitations \
             WHERE code_hash = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(self.0)?;
        out.push_sql(
            ") AND NOT used ORDER BY code_hash FOR UPDATE) \
             AND NOT used AND wave_id IN (SELECT id FROM waves WHERE status = 'open') RETURNING code_hash",
        );
        Ok(())
    }
}

impl Query for UseInvitations<'_> {
    type SqlType = Text;
}

/// SQLite: writes one cell's new totals.
struct SaveCell<'a> {
    wave_id: &'a str,
    key: &'a CellKey,
    responses: i64,
    counts: Vec<u8>,
}

impl QueryFragment<Sqlite> for SaveCell<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO result_cells (wave_id, level, locality_code, agency_code, channel, responses, counts) VALUES (",
        );
        out.push_bind_param::<Text, _>(self.wave_id)?;
        for part in [&self.key.0, &self.key.1, &self.key.2, &self.key.3] {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(part)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.responses)?;
        out.push_sql(", ");
        out.push_bind_param::<Binary, _>(&self.counts)?;
        out.push_sql(
            ") ON CONFLICT (wave_id, level, locality_code, agency_code, channel) \
             DO UPDATE SET responses = excluded.responses, counts = excluded.counts",
        );
        Ok(())
    }
}

/// PostgreSQL: the keys of a batch's cells as parallel arrays.
struct PgKeys<'a> {
    level: Vec<&'a str>,
    locality: Vec<&'a str>,
    agency: Vec<&'a str>,
    channel: Vec<&'a str>,
}

impl<'a> PgKeys<'a> {
    fn new(keys: impl Iterator<Item = &'a CellKey>) -> Self {
        let mut k = PgKeys { level: vec![], locality: vec![], agency: vec![], channel: vec![] };
        for (level, locality, agency, channel) in keys {
            k.level.push(level);
            k.locality.push(locality);
            k.agency.push(agency);
            k.channel.push(channel);
        }
        k
    }
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.level)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.locality)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.agency)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.channel)?;
        Ok(())
    }
}

/// PostgreSQL: creates the missing cells of a batch empty, in key order.
struct CreateCells<'a>(&'a str, PgKeys<'a>);

impl QueryFragment<Pg> for CreateCells<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO result_cells (wave_id, level, locality_code, agency_code, channel, responses, counts) \
             SELECT ",
        );
        out.push_bind_param::<Text, _>(self.0)?;
        out.push_sql(", k.l, k.c, k.a, k.ch, 0, ''::bytea FROM ");
        self.1.push(&mut out)?;
        out.push_sql(") AS k(l, c, a, ch) ON CONFLICT DO NOTHING");
        Ok(())
    }
}

/// PostgreSQL: reads a batch's cells and locks them, in one order for every writer.
struct LockCells<'a>(&'a str, PgKeys<'a>);

impl QueryFragment<Pg> for LockCells<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT level, locality_code, agency_code, channel, responses, counts FROM result_cells \
             WHERE wave_id = ",
        );
        out.push_bind_param::<Text, _>(self.0)?;
        out.push_sql(" AND (level, locality_code, agency_code, channel) IN (SELECT * FROM ");
        self.1.push(&mut out)?;
        out.push_sql(")) ORDER BY level, locality_code, agency_code, channel FOR UPDATE");
        Ok(())
    }
}

impl Query for LockCells<'_> {
    type SqlType = (Text, Text, Text, Text, BigInt, Binary);
}

/// PostgreSQL: writes a batch's cells' new totals.
struct UpdateCells<'a>(&'a str, PgKeys<'a>, Vec<i64>, Vec<Vec<u8>>);

impl QueryFragment<Pg> for UpdateCells<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE result_cells AS r SET responses = u.n, counts = u.counts FROM ");
        self.1.push(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.2)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Binary>, _>(&self.3)?;
        out.push_sql(") AS u(l, c, a, ch, n, counts) WHERE r.wave_id = ");
        out.push_bind_param::<Text, _>(self.0)?;
        out.push_sql(" AND r.level = u.l AND r.locality_code = u.c AND r.agency_code = u.a AND r.channel = u.ch");
        Ok(())
    }
}

macro_rules! static_statement {
    ($($name:ident),*) => {$(
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }
        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    )*};
}
static_statement!(UseInvitation, UseInvitations, SaveCell, CreateCells, LockCells, UpdateCells);

/// What the answer writer and the roll-up rebuild need of a connection, on either backend.
pub(crate) trait TallyStore {
    /// Uses up the invitations of open waves behind `code_hashes` (sorted); for each,
    /// whether this call used it (a code given twice is used by its first occurrence).
    fn use_invitations(&mut self, code_hashes: &[&str]) -> StorageResult<Vec<bool>>;
    /// The wave's layout, extended for `form` if needed, with the wave's cells guarded
    /// against a concurrent rebuild of its roll-ups until the transaction ends.
    fn layout_for_write(&mut self, wave_id: &str, form: &crate::domain::form::Form) -> StorageResult<Layout>;
    /// Each locality's chain: itself and its ancestors as (code, level), from it up.
    fn chains<'a>(
        &mut self,
        leaves: impl IntoIterator<Item = &'a str>,
    ) -> StorageResult<HashMap<String, Vec<(String, String)>>>;
    /// Adds counts to cells (created when missing).
    fn add_to_cells(&mut self, wave_id: &str, deltas: &BTreeMap<CellKey, CellCounts>) -> StorageResult<()>;
    /// Open waves with tallies, guarded (PostgreSQL: their layout rows locked FOR UPDATE)
    /// so no batch writes their cells until the transaction ends: taken before a change of
    /// the locality tree, whose roll-ups are then rebuilt.
    fn guard_open_waves(&mut self) -> StorageResult<Vec<String>>;
    /// Replaces a wave's roll-ups by the sums of its leaf cells under the current tree.
    fn rebuild_rollups(&mut self, wave_id: &str) -> StorageResult<()>;
}

type OpenWaveIds =
    diesel::dsl::Select<diesel::dsl::Filter<waves::table, diesel::dsl::Eq<waves::status, &'static str>>, waves::id>;
type OpenWavesWithTallies = diesel::dsl::Filter<
    diesel::dsl::Select<tally_layouts::table, tally_layouts::wave_id>,
    diesel::dsl::EqAny<tally_layouts::wave_id, OpenWaveIds>,
>;

fn open_waves_with_tallies() -> OpenWavesWithTallies {
    let open = waves::table.filter(waves::status.eq(WaveStatus::Open.as_str())).select(waves::id);
    tally_layouts::table.select(tally_layouts::wave_id).filter(tally_layouts::wave_id.eq_any(open))
}

fn parse_layout(slots: &str) -> StorageResult<Layout> {
    let slots: Vec<Slot> = serde_json::from_str(slots).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    Ok(Layout::from_slots(slots))
}

fn layout_json(layout: &Layout) -> String {
    serde_json::to_string(layout.slots()).expect("slots serialise")
}

fn decode(counts: &[u8]) -> StorageResult<Tally> {
    decode_first(counts, usize::MAX)
}

fn decode_first(counts: &[u8], slots: usize) -> StorageResult<Tally> {
    Tally::decode_first(counts, slots).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// The parts of `TallyStore` written once with the DSL both backends share.
macro_rules! shared_tally_store {
    () => {
        fn chains<'a>(
            &mut self,
            leaves: impl IntoIterator<Item = &'a str>,
        ) -> StorageResult<HashMap<String, Vec<(String, String)>>> {
            // One query per level of the tree, whatever the number of localities.
            let mut known: HashMap<String, (String, Option<String>)> = HashMap::new();
            let mut wanted: Vec<String> = leaves.into_iter().map(str::to_string).collect();
            wanted.sort_unstable();
            wanted.dedup();
            let leaves = wanted.clone();
            // Bounded: a corrupt parent cycle must not hang the writer.
            for _ in 0..64 {
                if wanted.is_empty() {
                    break;
                }
                let rows: Vec<(String, String, Option<String>)> = localities::table
                    .filter(localities::code.eq_any(&wanted))
                    .select((localities::code, localities::level, localities::parent_code))
                    .load(self)?;
                wanted = rows.iter().filter_map(|(_, _, parent)| parent.clone()).collect();
                known.extend(rows.into_iter().map(|(code, level, parent)| (code, (level, parent))));
                wanted.retain(|code| !known.contains_key(code));
                wanted.sort_unstable();
                wanted.dedup();
            }
            Ok(leaves
                .into_iter()
                .map(|leaf| {
                    let mut chain = Vec::new();
                    let mut current = Some(leaf.as_str());
                    while let Some(code) = current.take() {
                        let Some((level, parent)) = known.get(code) else { break };
                        chain.push((code.to_string(), level.clone()));
                        current = parent.as_deref().filter(|_| chain.len() < 64);
                    }
                    (leaf, chain)
                })
                .collect())
        }

        fn rebuild_rollups(&mut self, wave_id: &str) -> StorageResult<()> {
            let rows: Vec<(String, String, String, i64, Vec<u8>)> = result_cells::table
                .filter(result_cells::wave_id.eq(wave_id))
                .filter(result_cells::level.eq(LEAF))
                .select((
                    result_cells::locality_code,
                    result_cells::agency_code,
                    result_cells::channel,
                    result_cells::responses,
                    result_cells::counts,
                ))
                .load(self)?;
            let mut leaves = BTreeMap::new();
            for (locality, agency, channel, responses, counts) in rows {
                leaves.insert(
                    (LEAF.to_string(), locality, agency, channel),
                    CellCounts { responses: responses as u64, tally: decode(&counts)? },
                );
            }
            let all: Vec<(String, String, String, Option<String>)> = localities::table
                .select((localities::code, localities::name, localities::level, localities::parent_code))
                .load(self)?;
            let tree = LocalityTree::new(all.into_iter().map(|(code, name, level, parent_code)| {
                crate::domain::locality::Locality { code, name, level, parent_code }
            }));
            let chain =
                |code: &str| Ok(tree.ancestors(code).into_iter().map(|l| (l.code.clone(), l.level.clone())).collect());
            let rollups: BTreeMap<CellKey, CellCounts> =
                roll_up(&leaves, chain)?.into_iter().filter(|(key, _)| key.0 != LEAF).collect();
            diesel::delete(
                result_cells::table.filter(result_cells::wave_id.eq(wave_id)).filter(result_cells::level.ne(LEAF)),
            )
            .execute(self)?;
            self.add_to_cells(wave_id, &rollups)
        }
    };
}

impl TallyStore for SqliteConnection {
    shared_tally_store!();

    fn use_invitations(&mut self, code_hashes: &[&str]) -> StorageResult<Vec<bool>> {
        code_hashes.iter().map(|hash| Ok(UseInvitation(hash).execute(self)? == 1)).collect()
    }

    fn guard_open_waves(&mut self) -> StorageResult<Vec<String>> {
        Ok(open_waves_with_tallies().load(self)?)
    }

    // One writer at a time holds a SQLite database, so nothing can change between the read
    // and the write of a transaction.
    fn layout_for_write(&mut self, wave_id: &str, form: &crate::domain::form::Form) -> StorageResult<Layout> {
        let stored: Option<String> =
            tally_layouts::table.find(wave_id).select(tally_layouts::slots).get_result(self).optional()?;
        let mut layout = stored.as_deref().map(parse_layout).transpose()?.unwrap_or_default();
        if layout.extend_for(form) {
            diesel::insert_into(tally_layouts::table)
                .values((tally_layouts::wave_id.eq(wave_id), tally_layouts::slots.eq(layout_json(&layout))))
                .on_conflict(tally_layouts::wave_id)
                .do_update()
                .set(tally_layouts::slots.eq(layout_json(&layout)))
                .execute(self)?;
        }
        Ok(layout)
    }

    fn add_to_cells(&mut self, wave_id: &str, deltas: &BTreeMap<CellKey, CellCounts>) -> StorageResult<()> {
        for (key, delta) in deltas {
            let stored: Option<(i64, Vec<u8>)> = result_cells::table
                .find((wave_id, &key.0, &key.1, &key.2, &key.3))
                .select((result_cells::responses, result_cells::counts))
                .get_result(self)
                .optional()?;
            let mut cell = match stored {
                Some((responses, counts)) => CellCounts { responses: responses as u64, tally: decode(&counts)? },
                None => CellCounts::default(),
            };
            cell.merge(delta);
            SaveCell { wave_id, key, responses: cell.responses as i64, counts: cell.tally.encode() }.execute(self)?;
        }
        Ok(())
    }
}

impl TallyStore for PgConnection {
    shared_tally_store!();

    fn use_invitations(&mut self, code_hashes: &[&str]) -> StorageResult<Vec<bool>> {
        let mut used: std::collections::HashSet<String> = UseInvitations(code_hashes).load(self)?.into_iter().collect();
        Ok(code_hashes.iter().map(|hash| used.remove(*hash)).collect())
    }

    fn guard_open_waves(&mut self) -> StorageResult<Vec<String>> {
        Ok(open_waves_with_tallies().order(tally_layouts::wave_id).for_update().load(self)?)
    }

    // Writers hold the layout row FOR KEY SHARE (they do not block each other); a rebuild of
    // roll-ups takes it FOR UPDATE, so it waits for batches in flight and they for it.
    fn layout_for_write(&mut self, wave_id: &str, form: &crate::domain::form::Form) -> StorageResult<Layout> {
        let read = |c: &mut PgConnection| {
            tally_layouts::table
                .find(wave_id)
                .select(tally_layouts::slots)
                .for_key_share()
                .first::<String>(c)
                .optional()
        };
        let stored = match read(self)? {
            Some(stored) => stored,
            None => {
                diesel::insert_into(tally_layouts::table)
                    .values((tally_layouts::wave_id.eq(wave_id), tally_layouts::slots.eq("[]")))
                    .on_conflict_do_nothing()
                    .execute(self)?;
                read(self)?.ok_or_else(|| StorageError::Corrupt("tally layout vanished".into()))?
            }
        };
        let mut layout = parse_layout(&stored)?;
        if !layout.covers(form) {
            // Extend under the row's lock, from what is stored now.
            let stored: String =
                tally_layouts::table.find(wave_id).select(tally_layouts::slots).for_update().first(self)?;
            layout = parse_layout(&stored)?;
            if layout.extend_for(form) {
                diesel::update(tally_layouts::table.find(wave_id))
                    .set(tally_layouts::slots.eq(layout_json(&layout)))
                    .execute(self)?;
            }
        }
        Ok(layout)
    }

    fn add_to_cells(&mut self, wave_id: &str, deltas: &BTreeMap<CellKey, CellCounts>) -> StorageResult<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        CreateCells(wave_id, PgKeys::new(deltas.keys())).execute(self)?;
        let rows: Vec<(String, String, String, String, i64, Vec<u8>)> =
            LockCells(wave_id, PgKeys::new(deltas.keys())).load(self)?;
        let mut keys = Vec::with_capacity(rows.len());
        let (mut totals, mut blobs) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
        for (level, locality, agency, channel, responses, counts) in rows {
            let key = (level, locality, agency, channel);
            let mut cell = CellCounts { responses: responses as u64, tally: decode(&counts)? };
            cell.merge(deltas.get(&key).ok_or_else(|| StorageError::Corrupt("unexpected result cell".into()))?);
            totals.push(cell.responses as i64);
            blobs.push(cell.tally.encode());
            keys.push(key);
        }
        if keys.len() != deltas.len() {
            return Err(StorageError::Corrupt("result cells missing after creation".into()));
        }
        UpdateCells(wave_id, PgKeys::new(keys.iter()), totals, blobs).execute(self)?;
        Ok(())
    }
}

/// A row of results: one (locality, agency, channel) at the level asked, with names.
pub struct ResultRow {
    pub locality_code: String,
    pub locality: Option<(String, String)>,
    pub agency_code: String,
    pub agency_name: Option<String>,
    pub channel: Channel,
    pub responses: u64,
    /// The cell's counts as stored, decoded by `tally` where they are used: a results call's
    /// workers decode while its reader reads on.
    encoded: Vec<u8>,
    slots: usize,
}

impl ResultRow {
    /// A row as `each_result_row` would give it, for tests of what reads rows.
    #[cfg(test)]
    pub(crate) fn of(locality_code: &str, agency_code: &str, channel: Channel, responses: u64, tally: &Tally) -> Self {
        ResultRow {
            locality_code: locality_code.into(),
            locality: Some((format!("Xã {locality_code}"), "commune".into())),
            agency_code: agency_code.into(),
            agency_name: None,
            channel,
            responses,
            encoded: tally.encode(),
            slots: usize::MAX,
        }
    }

    /// The first `slots` counts (as `each_result_row` was asked).
    pub fn tally(&self) -> StorageResult<Tally> {
        decode_first(&self.encoded, self.slots)
    }
}

/// An answer as stored: (id, locality, agency, channel, day, answers).
pub type RawAnswer = (String, String, String, String, String, String);

/// Which stored cells results read.
#[derive(Debug, Clone, Copy)]
pub struct ResultCells<'a> {
    /// A locality level, `tally::WHOLE` for the whole wave or `tally::LEAF` for the cells of
    /// answers by their invitations' own locality.
    pub level: &'a str,
    pub agencies: AgencyRows<'a>,
    pub desk: DeskFilter,
    /// Only these localities, when given.
    pub localities: Option<&'a [String]>,
    /// Only localities whose code sorts (in the database's order) at or after the first code
    /// and before the second, where given: one part of a level read in parts side by side.
    pub codes: (Option<&'a str>, Option<&'a str>),
}

/// Which agency rows results read.
#[derive(Debug, Clone, Copy)]
pub enum AgencyRows<'a> {
    /// Every agency together.
    All,
    /// One agency (or `""`: answers without one).
    Only(&'a str),
    /// Each agency apart.
    Each,
}

impl Database {
    /// The wave's layout as stored; empty before its first answer. Kept parsed under the
    /// stored text: reading it is cheap beside parsing and indexing its ~1,000 slots.
    pub fn tally_layout(&self, wave_id: &str) -> StorageResult<Arc<Layout>> {
        let stored: Option<String> = with_conn!(self, c => tally_layouts::table
            .find(wave_id)
            .select(tally_layouts::slots)
            .first(c)
            .optional()?);
        let Some(stored) = stored else { return Ok(Arc::default()) };
        let parsed = || parse_layout(&stored);
        self.kept.layouts.get_or_load(wave_id.to_string(), stored.clone(), parsed)
    }

    /// The cells `cells` selects, ordered by locality and agency, with the names of both; of
    /// each cell's counts only the first `slots`. Each is handed to `each` as it is read, so
    /// that no more than one cell is held here.
    pub fn each_result_row(
        &self,
        wave_id: &str,
        cells: &ResultCells,
        slots: usize,
        mut each: impl FnMut(ResultRow) -> StorageResult<()>,
    ) -> StorageResult<()> {
        let ResultCells { level, agencies: agencies_read, desk, localities, codes: (from, until) } = *cells;
        type Row = (String, String, String, i64, Vec<u8>, Option<String>, Option<String>, Option<String>);
        let to_result = |(locality_code, agency_code, channel, responses, counts, name, level, agency_name): Row| -> StorageResult<ResultRow> {
            Ok(ResultRow {
                locality: name.zip(level),
                locality_code,
                agency_code,
                agency_name,
                channel: Channel::parse(&channel).ok_or(StorageError::Corrupt(channel))?,
                responses: responses as u64,
                encoded: counts,
                slots,
            })
        };
        // Row by row, so that only the slots read are kept of each cell's stored counts.
        with_conn!(self, c => {
            let mut query = result_cells::table
                .left_join(localities::table.on(localities::code.eq(result_cells::locality_code)))
                .left_join(agencies::table.on(agencies::code.eq(result_cells::agency_code)))
                .filter(result_cells::wave_id.eq(wave_id))
                .filter(result_cells::level.eq(level))
                .select((
                    result_cells::locality_code,
                    result_cells::agency_code,
                    result_cells::channel,
                    result_cells::responses,
                    result_cells::counts,
                    localities::name.nullable(),
                    localities::level.nullable(),
                    agencies::name.nullable(),
                ))
                // A group's rows need only be consecutive: ordering by the channel too made
                // SQLite sort every row, counts and all, in a temporary b-tree whenever the
                // agency is fixed (`agency_code = '*'`), where the key's order serves as it is.
                .order((result_cells::locality_code, result_cells::agency_code))
                .into_boxed();
            query = match agencies_read {
                AgencyRows::All => query.filter(result_cells::agency_code.eq(tally::ALL_AGENCIES)),
                AgencyRows::Only(agency) => query.filter(result_cells::agency_code.eq(agency)),
                AgencyRows::Each => query.filter(result_cells::agency_code.ne(tally::ALL_AGENCIES)),
            };
            if let Some(codes) = localities {
                query = query.filter(result_cells::locality_code.eq_any(codes));
            }
            if let Some(from) = from {
                query = query.filter(result_cells::locality_code.ge(from));
            }
            if let Some(until) = until {
                query = query.filter(result_cells::locality_code.lt(until));
            }
            query = match desk {
                DeskFilter::Include => query,
                DeskFilter::Exclude => query.filter(result_cells::channel.ne(Channel::Desk.as_str())),
                DeskFilter::Only => query.filter(result_cells::channel.eq(Channel::Desk.as_str())),
            };
            each_row(c, query, |row: Row| each(to_result(row)?))
        })
    }

    /// Answers per leaf cell (invitation locality, agency), channels together.
    pub fn leaf_cell_sizes(&self, wave_id: &str) -> StorageResult<Vec<(String, String, u64)>> {
        let rows: Vec<(String, String, i64)> = with_conn!(self, c => result_cells::table
            .filter(result_cells::wave_id.eq(wave_id))
            .filter(result_cells::level.eq(LEAF))
            .select((result_cells::locality_code, result_cells::agency_code, result_cells::responses))
            .load(c)?);
        let mut sizes: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (locality, agency, n) in rows {
            *sizes.entry((locality, agency)).or_default() += n as u64;
        }
        Ok(sizes.into_iter().map(|((l, a), n)| (l, a, n)).collect())
    }

    /// The answers a wave's tallies hold (its whole-wave rows, one per channel).
    pub fn wave_responses(&self, wave_id: &str) -> StorageResult<u64> {
        let rows: Vec<i64> = with_conn!(self, c => result_cells::table
            .filter(result_cells::wave_id.eq(wave_id))
            .filter(result_cells::level.eq(tally::WHOLE))
            .filter(result_cells::agency_code.eq(tally::ALL_AGENCIES))
            .select(result_cells::responses)
            .load(c)?);
        Ok(rows.into_iter().map(|n| n as u64).sum())
    }

    /// The stored leaf cells of a wave (`leaves`), or its roll-ups, handed to `each` one at a
    /// time (with only the first `slots` of their counts when given).
    pub fn each_cell(
        &self,
        wave_id: &str,
        leaves: bool,
        slots: Option<usize>,
        mut each: impl FnMut(CellKey, CellCounts),
    ) -> StorageResult<()> {
        type Row = (String, String, String, String, i64, Vec<u8>);
        with_conn!(self, c => {
            let query = result_cells::table
                .filter(result_cells::wave_id.eq(wave_id))
                .select((
                    result_cells::level,
                    result_cells::locality_code,
                    result_cells::agency_code,
                    result_cells::channel,
                    result_cells::responses,
                    result_cells::counts,
                ))
                .into_boxed();
            // In key order, which is also the table's on SQLite: the disclosure heuristic
            // numbers cells in the order read, and the same cells must give the same pattern.
            let query = query.order((
                result_cells::level,
                result_cells::locality_code,
                result_cells::agency_code,
                result_cells::channel,
            ));
            let query = if leaves {
                query.filter(result_cells::level.eq(LEAF))
            } else {
                query.filter(result_cells::level.ne(LEAF))
            };
            each_row(c, query, |(level, locality, agency, channel, responses, counts): Row| {
                let tally = match slots {
                    Some(slots) => decode_first(&counts, slots)?,
                    None => decode(&counts)?,
                };
                each((level, locality, agency, channel), CellCounts { responses: responses as u64, tally });
                Ok(())
            })
        })
    }

    /// Brings PostgreSQL's planner statistics of `table` up to date when its row count moved
    /// by more than a tenth (and a thousand rows) since it was last analysed, as autovacuum
    /// would: a server may run without it, and it lags a burst of answers. Still expecting a
    /// few rows, the planner sorted the whole wave for every page of answers (4–5× slower at
    /// 100,000 answers), and a national agency table's 1,804 cells on disk (30 ms instead of
    /// 8). SQLite plans by its indexes and needs nothing.
    pub fn refresh_statistics(&self, table: GrowingTable) -> StorageResult<()> {
        if let super::Pool::Postgres(pool) = &self.pool {
            let conn = &mut *pool.get()?;
            let counts: Vec<RowCounts> = diesel::sql_query(
                "SELECT c.reltuples::float8 AS analysed, s.n_live_tup AS live \
                 FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass($1)",
            )
            .bind::<Text, _>(table.name())
            .load(conn)?;
            if counts.iter().any(RowCounts::stale) {
                diesel::sql_query(format!("ANALYZE {}", table.name())).execute(conn)?;
            }
        }
        Ok(())
    }

    /// Raw answers of a wave after `after` (by id), at most `limit`. Ids are random, so this
    /// order says nothing of when answers came.
    pub fn raw_answers_after(&self, wave_id: &str, after: &str, limit: i64) -> StorageResult<Vec<RawAnswer>> {
        Ok(with_conn!(self, c => responses::table
            .filter(responses::wave_id.eq(wave_id))
            .filter(responses::id.gt(after))
            .order(responses::id)
            .limit(limit)
            .select((
                responses::id,
                responses::locality_code,
                responses::agency_code,
                responses::channel,
                responses::submitted_on,
                responses::answers,
            ))
            .load(c)?))
    }

    /// The localities a wave's answers came from, in the order `raw_answers_by_cell_after`
    /// reads them (the database's own ordering of codes).
    pub fn answered_localities(&self, wave_id: &str) -> StorageResult<Vec<String>> {
        Ok(with_conn!(self, c => responses::table
            .filter(responses::wave_id.eq(wave_id))
            .select(responses::locality_code)
            .distinct()
            .order(responses::locality_code)
            .load(c)?))
    }

    /// Raw answers of a wave after `after`, ordered by cell (locality, agency, channel) then
    /// id, at most `limit`: a cell's answers come together, so a reader can finish one cell
    /// before the next. `after` is the last answer of the previous page, or `None`.
    pub fn raw_answers_by_cell_after(
        &self,
        wave_id: &str,
        after: Option<&RawAnswer>,
        limit: i64,
    ) -> StorageResult<Vec<RawAnswer>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            id: String,
            #[diesel(sql_type = Text)]
            locality_code: String,
            #[diesel(sql_type = Text)]
            agency_code: String,
            #[diesel(sql_type = Text)]
            channel: String,
            #[diesel(sql_type = Text)]
            submitted_on: String,
            #[diesel(sql_type = Text)]
            answers: String,
        }
        let empty = String::new();
        let (id, locality, agency, channel) = match after {
            Some((id, locality, agency, channel, _, _)) => (id, locality, agency, channel),
            None => (&empty, &empty, &empty, &empty),
        };
        // A row-value comparison, which both databases answer from the `responses_cell` index.
        let rows: Vec<Row> = with_conn!(self, c => diesel::sql_query(
            "SELECT id, locality_code, agency_code, channel, submitted_on, answers FROM responses \
             WHERE wave_id = $1 AND (locality_code, agency_code, channel, id) > ($2, $3, $4, $5) \
             ORDER BY locality_code, agency_code, channel, id LIMIT $6",
        )
        .bind::<Text, _>(wave_id)
        .bind::<Text, _>(locality)
        .bind::<Text, _>(agency)
        .bind::<Text, _>(channel)
        .bind::<Text, _>(id)
        .bind::<BigInt, _>(limit)
        .load(c)?);
        Ok(rows
            .into_iter()
            .map(|r| (r.id, r.locality_code, r.agency_code, r.channel, r.submitted_on, r.answers))
            .collect())
    }

    /// Replaces a wave's cells by `cells` (the start-up rebuild from raw answers).
    pub fn replace_cells(
        &self,
        wave_id: &str,
        layout: &Layout,
        cells: &BTreeMap<CellKey, CellCounts>,
    ) -> StorageResult<()> {
        let slots = layout_json(layout);
        super::write_transaction!(self, c => {
            diesel::delete(result_cells::table.filter(result_cells::wave_id.eq(wave_id))).execute(c)?;
            diesel::delete(tally_layouts::table.filter(tally_layouts::wave_id.eq(wave_id))).execute(c)?;
            diesel::insert_into(tally_layouts::table)
                .values((tally_layouts::wave_id.eq(wave_id), tally_layouts::slots.eq(&slots)))
                .execute(c)?;
            c.add_to_cells(wave_id, cells)
        })
    }

    /// Waves with answers but no tallies (counters from before tallies existed).
    pub fn waves_without_tallies(&self) -> StorageResult<Vec<String>> {
        Ok(with_conn!(self, c => waves::table
            .select(waves::id)
            .filter(diesel::dsl::exists(responses::table.filter(responses::wave_id.eq(waves::id))))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                tally_layouts::table.filter(tally_layouts::wave_id.eq(waves::id)),
            )))
            .load(c)?))
    }
}

/// The tables that grow with a wave's answers and are read whole (`refresh_statistics`).
#[derive(Debug, Clone, Copy)]
pub enum GrowingTable {
    Responses,
    ResultCells,
}

impl GrowingTable {
    fn name(self) -> &'static str {
        match self {
            GrowingTable::Responses => "responses",
            GrowingTable::ResultCells => "result_cells",
        }
    }
}

/// A table's rows as PostgreSQL last analysed them (-1: never) and as it counts them now.
#[derive(QueryableByName)]
struct RowCounts {
    #[diesel(sql_type = diesel::sql_types::Double)]
    analysed: f64,
    #[diesel(sql_type = BigInt)]
    live: i64,
}

impl RowCounts {
    fn stale(&self) -> bool {
        self.analysed < 0.0 || (self.live as f64 - self.analysed).abs() > 0.1 * self.analysed + 1000.0
    }
}
