//! Localities and agencies.

use super::schema::{agencies, closed_wave_localities, localities, locality_crosswalk, locality_tree_version};
use super::tallies::TallyStore;
use super::{Database, StorageError, StorageResult, with_conn, write_transaction};
use crate::domain::locality::{Locality, LocalityTree};
use crate::domain::wave::WaveStatus;
use crate::storage::waves::Wave;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub locality_code: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SaveOutcome {
    Created,
    Updated,
    /// The parent (or the agency's locality) does not exist.
    UnknownParent,
    /// The parent lies beneath the locality itself.
    Cycle,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = localities, treat_none_as_null = true)]
struct LocalityRow<'a> {
    code: &'a str,
    name: &'a str,
    level: &'a str,
    parent_code: Option<&'a str>,
}

impl<'a> From<&'a Locality> for LocalityRow<'a> {
    fn from(l: &'a Locality) -> Self {
        Self { code: &l.code, name: &l.name, level: &l.level, parent_code: l.parent_code.as_deref() }
    }
}

/// Closed waves' trees kept: a report compares a wave with the year before.
pub(crate) const CLOSED_TREES_KEPT: usize = 4;

impl Database {
    /// The locality tree as it stands. Kept between calls (the national tree is 10,810
    /// localities, and reading and indexing it was a fifth of a results call) under the
    /// stored version every change to the tree bumps.
    pub fn current_tree(&self) -> StorageResult<Arc<LocalityTree>> {
        let version: i64 = with_conn!(self, c => locality_tree_version::table
            .find(1)
            .select(locality_tree_version::version)
            .get_result(c)?);
        self.kept.current_tree.get_or_load((), version, || Ok(LocalityTree::new(self.all_localities()?)))
    }

    /// The locality tree a wave's results use: as it stood when the wave closed (which never
    /// changes), or the current one while it is open.
    pub fn wave_tree(&self, wave: &Wave) -> StorageResult<Arc<LocalityTree>> {
        if wave.status != WaveStatus::Closed {
            return self.current_tree();
        }
        self.kept
            .closed_trees
            .get_or_load(wave.id.clone(), (), || Ok(LocalityTree::new(self.closed_wave_localities(&wave.id)?)))
    }

    fn closed_wave_localities(&self, wave_id: &str) -> StorageResult<Vec<Locality>> {
        let rows: Vec<(String, String, String, Option<String>)> = with_conn!(self, c => closed_wave_localities::table
            .filter(closed_wave_localities::wave_id.eq(wave_id))
            .select((
                closed_wave_localities::code,
                closed_wave_localities::name,
                closed_wave_localities::level,
                closed_wave_localities::parent_code,
            ))
            .load(c)?);
        Ok(rows
            .into_iter()
            .map(|(code, name, level, parent_code)| Locality { code, name, level, parent_code })
            .collect())
    }

    /// Creates or renames localities, in order, all or nothing. Parents must come first
    /// (or already exist). When a locality moves (another parent or level), the roll-ups of
    /// every open wave are rebuilt from its leaf cells in the same transaction; closed waves
    /// keep theirs, so their figures never change.
    pub fn save_localities(&self, batch: &[Locality]) -> StorageResult<Result<Vec<SaveOutcome>, (usize, SaveOutcome)>> {
        let mut failed = None;
        // Immediate on SQLite: the transaction reads before it writes (see write_transaction).
        let outcome = super::write_transaction!(self, c => {
            let rollback = || StorageError::Query(diesel::result::Error::RollbackTransaction);
            let open_waves = c.guard_open_waves()?;
            let mut moved = false;
            let mut outcomes = Vec::with_capacity(batch.len());
            for (i, locality) in batch.iter().enumerate() {
                // Walk up from the new parent: it must exist and must not lead back here.
                let mut ancestor = locality.parent_code.clone();
                let mut first = true;
                while let Some(code) = ancestor {
                    if code == locality.code {
                        failed = Some((i, SaveOutcome::Cycle));
                        return Err(rollback());
                    }
                    let parent: Option<Option<String>> =
                        localities::table.find(&code).select(localities::parent_code).first(c).optional()?;
                    if parent.is_none() && first {
                        failed = Some((i, SaveOutcome::UnknownParent));
                        return Err(rollback());
                    }
                    ancestor = parent.flatten();
                    first = false;
                }
                let before: Option<(String, Option<String>)> = localities::table
                    .find(&locality.code)
                    .select((localities::level, localities::parent_code))
                    .first(c)
                    .optional()?;
                let row = LocalityRow::from(locality);
                match before {
                    Some((level, parent)) => {
                        moved |= level != locality.level || parent != locality.parent_code;
                        diesel::update(localities::table.find(&locality.code)).set(&row).execute(c)?;
                        outcomes.push(SaveOutcome::Updated);
                    }
                    None => {
                        diesel::insert_into(localities::table).values(&row).execute(c)?;
                        outcomes.push(SaveOutcome::Created);
                    }
                }
            }
            diesel::update(locality_tree_version::table.find(1))
                .set(locality_tree_version::version.eq(locality_tree_version::version + 1))
                .execute(c)?;
            if moved {
                for wave in open_waves {
                    c.rebuild_rollups(&wave)?;
                }
            }
            Ok(outcomes)
        });
        match (outcome, failed) {
            (Ok(outcomes), _) => Ok(Ok(outcomes)),
            (Err(StorageError::Query(diesel::result::Error::RollbackTransaction)), Some(failure)) => Ok(Err(failure)),
            (Err(e), _) => Err(e),
        }
    }

    pub fn all_localities(&self) -> StorageResult<Vec<Locality>> {
        let rows: Vec<(String, String, String, Option<String>)> = with_conn!(self, c => localities::table
            .select((localities::code, localities::name, localities::level, localities::parent_code))
            .order(localities::code)
            .load(c)?);
        Ok(rows
            .into_iter()
            .map(|(code, name, level, parent_code)| Locality { code, name, level, parent_code })
            .collect())
    }

    /// The locality and its ancestors up to the top (empty when it does not exist): enough
    /// of the tree to tell what lies above it, without reading every locality.
    pub fn locality_with_ancestors(&self, code: &str) -> StorageResult<Vec<Locality>> {
        let mut chain: Vec<Locality> = Vec::new();
        let mut current = Some(code.to_string());
        // Bounded walk: a corrupt parent cycle ends the chain.
        while let Some(code) = current.take() {
            let Some(locality) = self.locality(&code)? else { break };
            if chain.len() < 64 && !chain.iter().any(|l| l.code == locality.code) {
                current = locality.parent_code.clone();
                chain.push(locality);
            }
        }
        Ok(chain)
    }

    /// The levels localities have (province, district, commune…).
    pub fn locality(&self, code: &str) -> StorageResult<Option<Locality>> {
        let row: Option<(String, String, String, Option<String>)> = with_conn!(self, c => localities::table
            .find(code)
            .select((localities::code, localities::name, localities::level, localities::parent_code))
            .first(c)
            .optional()?);
        Ok(row.map(|(code, name, level, parent_code)| Locality { code, name, level, parent_code }))
    }

    pub fn save_agency(&self, agency: &Agency) -> StorageResult<SaveOutcome> {
        write_transaction!(self, c => {
            let locality_exists: i64 = localities::table.filter(localities::code.eq(&agency.locality_code)).count().get_result(c)?;
            if locality_exists == 0 {
                return Ok(SaveOutcome::UnknownParent);
            }
            let updated = diesel::update(agencies::table.find(&agency.code))
                .set((agencies::name.eq(&agency.name), agencies::locality_code.eq(&agency.locality_code)))
                .execute(c)?;
            if updated > 0 {
                return Ok(SaveOutcome::Updated);
            }
            diesel::insert_into(agencies::table)
                .values((agencies::code.eq(&agency.code), agencies::name.eq(&agency.name), agencies::locality_code.eq(&agency.locality_code)))
                .execute(c)?;
            Ok(SaveOutcome::Created)
        })
    }

    pub fn agency(&self, code: &str) -> StorageResult<Option<Agency>> {
        let row: Option<(String, String, String)> = with_conn!(self, c => agencies::table
            .find(code)
            .select((agencies::code, agencies::name, agencies::locality_code))
            .first(c)
            .optional()?);
        Ok(row.map(|(code, name, locality_code)| Agency { code, name, locality_code }))
    }

    pub fn all_agencies(&self) -> StorageResult<Vec<Agency>> {
        let rows: Vec<(String, String, String)> = with_conn!(self, c => agencies::table
            .select((agencies::code, agencies::name, agencies::locality_code))
            .order(agencies::code)
            .load(c)?);
        Ok(rows.into_iter().map(|(code, name, locality_code)| Agency { code, name, locality_code }).collect())
    }

    /// Records which unit each old code became; a later upload replaces an old code's row.
    pub fn save_crosswalk(&self, rows: &[(String, String)]) -> StorageResult<()> {
        write_transaction!(self, c => {
            for (old, new) in rows {
                diesel::delete(locality_crosswalk::table.find(old)).execute(c)?;
                diesel::insert_into(locality_crosswalk::table)
                    .values((locality_crosswalk::old_code.eq(old), locality_crosswalk::new_code.eq(new)))
                    .execute(c)?;
            }
            Ok(())
        })
    }

    /// Old code → the code it became.
    pub fn crosswalk(&self) -> StorageResult<HashMap<String, String>> {
        let rows: Vec<(String, String)> = with_conn!(self, c => locality_crosswalk::table
            .select((locality_crosswalk::old_code, locality_crosswalk::new_code))
            .load(c)?);
        Ok(rows.into_iter().collect())
    }
}
