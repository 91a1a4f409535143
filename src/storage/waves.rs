//! Survey waves and what they cover.

use super::schema::{closed_wave_localities, localities, pinned_forms, wave_agencies, wave_localities, waves};
use super::{Database, StorageError, StorageResult, with_conn, write_transaction};
use crate::domain::form::Form;
use crate::domain::wave::{WaveStatus, Weighting};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    pub id: String,
    pub name: String,
    pub form_id: String,
    /// The version of the form the wave pinned when it was created.
    pub form_version: String,
    /// The pinned form's content hash: how its questions and rules are found.
    pub form_hash: String,
    pub status: WaveStatus,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    /// The period whose transactions the wave surveys.
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub localities: Vec<String>,
    pub agencies: Vec<String>,
    /// Agencies may hand out invitation codes at their desk (their answers are marked `desk`).
    pub desk_codes: bool,
    /// The wave's own disclosure threshold (`PHIEU_MIN_CELL` when `None`).
    pub min_cell: Option<u64>,
    /// How its figures are estimated unless a request asks otherwise.
    pub weighting: Weighting,
}

pub struct NewWave<'a> {
    pub name: &'a str,
    /// Pinned with the wave, content and all.
    pub form: &'a Form,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub localities: &'a [String],
    pub agencies: &'a [String],
    pub desk_codes: bool,
    pub min_cell: Option<u64>,
    pub weighting: Weighting,
}

type WaveRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    NaiveDateTime,
    Option<String>,
    Option<String>,
    bool,
    Option<String>,
    Option<String>,
    Option<i64>,
    String,
);

/// Stores a form's text once, whichever waves pin it (a macro: the connection's type differs
/// by backend).
macro_rules! pin_form {
    ($c:ident, $form:expr) => {
        diesel::insert_into(pinned_forms::table)
            .values((
                pinned_forms::content_hash.eq(&$form.content_hash),
                pinned_forms::form_id.eq(&$form.id),
                pinned_forms::version.eq(&$form.version),
                pinned_forms::content.eq(&*$form.source),
            ))
            .on_conflict_do_nothing()
            .execute($c)
    };
}

/// The columns of `WaveRow`.
macro_rules! wave_columns {
    () => {
        (
            waves::id,
            waves::name,
            waves::form_id,
            waves::status,
            waves::opens_on,
            waves::closes_on,
            waves::created_at,
            waves::period_from,
            waves::period_to,
            waves::desk_codes,
            waves::form_version,
            waves::form_hash,
            waves::min_cell,
            waves::weighting,
        )
    };
}

/// Dates are stored as ISO text so both backends compare them alike.
pub(super) fn parse_date(s: Option<String>) -> StorageResult<Option<NaiveDate>> {
    s.map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| StorageError::Corrupt(e.to_string()))).transpose()
}

fn to_wave(row: WaveRow, localities: Vec<String>, agencies: Vec<String>) -> StorageResult<Wave> {
    let (
        id,
        name,
        form_id,
        status,
        opens_on,
        closes_on,
        created_at,
        period_from,
        period_to,
        desk_codes,
        version,
        hash,
        min_cell,
        weighting,
    ) = row;
    let status = WaveStatus::parse(&status).ok_or_else(|| StorageError::Corrupt(format!("wave status {status}")))?;
    // Waves from before pinning get their form at start-up, before anything reads them.
    let (Some(form_version), Some(form_hash)) = (version, hash) else {
        return Err(StorageError::Corrupt(format!("wave {id} has no pinned form")));
    };
    Ok(Wave {
        id,
        name,
        form_id,
        form_version,
        form_hash,
        status,
        opens_on: parse_date(opens_on)?,
        closes_on: parse_date(closes_on)?,
        created_at,
        period_from: parse_date(period_from)?,
        period_to: parse_date(period_to)?,
        localities,
        agencies,
        desk_codes,
        min_cell: min_cell.map(|k| k as u64),
        weighting: Weighting::parse(&weighting)
            .ok_or_else(|| StorageError::Corrupt(format!("weighting {weighting}")))?,
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum TransitionOutcome {
    Done(WaveStatus),
    NotFound,
    NotAllowed(WaveStatus),
}

impl Database {
    pub fn create_wave(&self, new: &NewWave) -> StorageResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now().naive_utc();
        write_transaction!(self, c => {
            pin_form!(c, new.form)?;
            diesel::insert_into(waves::table)
                .values((
                    waves::id.eq(&id),
                    waves::name.eq(new.name),
                    waves::form_id.eq(&new.form.id),
                    waves::form_version.eq(&new.form.version),
                    waves::form_hash.eq(&new.form.content_hash),
                    waves::status.eq(WaveStatus::Draft.as_str()),
                    waves::opens_on.eq(new.opens_on.map(|d| d.to_string())),
                    waves::closes_on.eq(new.closes_on.map(|d| d.to_string())),
                    waves::created_at.eq(now),
                    waves::period_from.eq(new.period_from.map(|d| d.to_string())),
                    waves::period_to.eq(new.period_to.map(|d| d.to_string())),
                    waves::desk_codes.eq(new.desk_codes),
                    waves::min_cell.eq(new.min_cell.map(|k| k as i64)),
                    waves::weighting.eq(new.weighting.as_str()),
                ))
                .execute(c)?;
            for code in new.localities {
                diesel::insert_into(wave_localities::table)
                    .values((wave_localities::wave_id.eq(&id), wave_localities::locality_code.eq(code)))
                    .execute(c)?;
            }
            for code in new.agencies {
                diesel::insert_into(wave_agencies::table)
                    .values((wave_agencies::wave_id.eq(&id), wave_agencies::agency_code.eq(code)))
                    .execute(c)?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    pub fn wave(&self, id: &str) -> StorageResult<Option<Wave>> {
        with_conn!(self, c => {
            let row: Option<WaveRow> = waves::table
                .find(id)
                .select(wave_columns!())
                .first(c)
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let localities = wave_localities::table
                .filter(wave_localities::wave_id.eq(id))
                .select(wave_localities::locality_code)
                .order(wave_localities::locality_code)
                .load(c)?;
            let agencies = wave_agencies::table
                .filter(wave_agencies::wave_id.eq(id))
                .select(wave_agencies::agency_code)
                .order(wave_agencies::agency_code)
                .load(c)?;
            to_wave(row, localities, agencies).map(Some)
        })
    }

    pub fn waves(&self) -> StorageResult<Vec<Wave>> {
        let rows: Vec<WaveRow> = with_conn!(self, c => waves::table
            .select(wave_columns!())
            .order(waves::created_at.desc())
            .load(c)?);
        rows.into_iter().map(|r| to_wave(r, Vec::new(), Vec::new())).collect()
    }

    pub fn transition_wave(&self, id: &str, next: WaveStatus) -> StorageResult<TransitionOutcome> {
        write_transaction!(self, c => {
            let status: Option<String> = waves::table.find(id).select(waves::status).first(c).optional()?;
            let Some(status) = status else { return Ok(TransitionOutcome::NotFound) };
            let current = WaveStatus::parse(&status).ok_or_else(|| StorageError::Corrupt(status.clone()))?;
            if !current.can_become(next) {
                return Ok(TransitionOutcome::NotAllowed(current));
            }
            // Guarded by the old status so two officials clicking at once cannot both win.
            let closed_at = (next == WaveStatus::Closed).then(|| Utc::now().naive_utc());
            let changed = diesel::update(waves::table.find(id).filter(waves::status.eq(current.as_str())))
                .set((waves::status.eq(next.as_str()), waves::closed_at.eq(closed_at)))
                .execute(c)?;
            if changed == 1 && next == WaveStatus::Closed {
                // The tree its results are named, listed and related by from now on.
                diesel::insert_into(closed_wave_localities::table)
                    .values(localities::table.select((
                        id.into_sql::<diesel::sql_types::Text>(),
                        localities::code,
                        localities::name,
                        localities::level,
                        localities::parent_code,
                    )))
                    .into_columns((
                        closed_wave_localities::wave_id,
                        closed_wave_localities::code,
                        closed_wave_localities::name,
                        closed_wave_localities::level,
                        closed_wave_localities::parent_code,
                    ))
                    .execute(c)?;
            }
            Ok(if changed == 1 { TransitionOutcome::Done(next) } else { TransitionOutcome::NotAllowed(current) })
        })
    }

    /// The text of a pinned form.
    pub fn pinned_form_content(&self, content_hash: &str) -> StorageResult<Option<String>> {
        Ok(with_conn!(self, c => pinned_forms::table
            .find(content_hash)
            .select(pinned_forms::content)
            .get_result(c)
            .optional()?))
    }

    /// Every pinned form: (form id, version, content hash).
    pub fn pinned_form_versions(&self) -> StorageResult<Vec<(String, String, String)>> {
        Ok(with_conn!(self, c => pinned_forms::table
            .select((pinned_forms::form_id, pinned_forms::version, pinned_forms::content_hash))
            .load(c)?))
    }

    /// Waves created before forms were pinned: (wave id, form id).
    pub fn waves_without_pinned_form(&self) -> StorageResult<Vec<(String, String)>> {
        Ok(with_conn!(self, c => waves::table
            .filter(waves::form_hash.is_null())
            .select((waves::id, waves::form_id))
            .order(waves::id)
            .load(c)?))
    }

    pub fn pin_wave_form(&self, wave_id: &str, form: &Form) -> StorageResult<()> {
        write_transaction!(self, c => {
            pin_form!(c, form)?;
            diesel::update(waves::table.find(wave_id).filter(waves::form_hash.is_null()))
                .set((waves::form_version.eq(&form.version), waves::form_hash.eq(&form.content_hash)))
                .execute(c)?;
            Ok(())
        })
    }
}
