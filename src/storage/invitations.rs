//! Invitations: a keyed hash of the code, where it belongs, and whether it was used.

use super::schema::{invitations, waves};
use super::waves::parse_date;
use super::{Database, StorageError, StorageResult, with_conn, write_transaction};
use crate::domain::wave::{Channel, WaveStatus};
use chrono::NaiveDate;
use diesel::prelude::*;

/// What answering needs to know about an invitation; nothing about the person.
#[derive(Debug, Clone)]
pub struct InvitationTarget {
    pub wave_id: String,
    /// The form the wave pinned.
    pub form_hash: String,
    pub wave_status: WaveStatus,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub locality_code: String,
    pub agency_code: String,
    pub used: bool,
    pub channel: Channel,
}

/// Whether codes were stored, or how many the wave already has when they would pass its cap.
#[derive(Debug, PartialEq, Eq)]
pub enum IssueOutcome {
    /// How many were created.
    Issued(usize),
    OverWaveLimit {
        existing: i64,
    },
}

#[derive(Insertable)]
#[diesel(table_name = invitations)]
struct NewInvitation<'a> {
    code_hash: &'a str,
    wave_id: &'a str,
    locality_code: &'a str,
    agency_code: &'a str,
    used: bool,
    channel: &'a str,
}

/// Locks a wave's row and counts its invitations: a no-op update takes the row lock
/// (PostgreSQL; SQLite's write lock is already held), so everyone adding invitations to one
/// wave counts them one after the other.
macro_rules! locked_invitation_count {
    ($c:expr, $wave_id:expr) => {{
        use $crate::storage::schema::waves;
        // An update that changes nothing takes the wave's row lock (PostgreSQL) or the write
        // lock (SQLite); the count is kept on the row by every insert (counting the wave's
        // invitations cost its size on every call).
        diesel::update(waves::table.find($wave_id))
            .set(waves::invitation_count.eq(waves::invitation_count))
            .execute($c)?;
        waves::table.find($wave_id).select(waves::invitation_count).get_result::<i64>($c).optional()?.unwrap_or(0)
    }};
}
/// Adds `$added` invitations to the wave's count (see `locked_invitation_count`).
macro_rules! count_new_invitations {
    ($c:expr, $wave_id:expr, $added:expr) => {{
        use $crate::storage::schema::waves;
        diesel::update(waves::table.find($wave_id))
            .set(waves::invitation_count.eq(waves::invitation_count + $added as i64))
            .execute($c)?;
    }};
}
pub(crate) use count_new_invitations;
pub(crate) use locked_invitation_count;

impl Database {
    /// Stores issued codes unless the wave would then hold more than `wave_limit`
    /// invitations (its rows here: issued codes and codes already sent to sampled people).
    pub fn insert_invitations(
        &self,
        wave_id: &str,
        locality_code: &str,
        agency_code: &str,
        channel: Channel,
        code_hashes: &[String],
        wave_limit: u64,
    ) -> StorageResult<IssueOutcome> {
        let channel = channel.as_str();
        let rows: Vec<NewInvitation> = code_hashes
            .iter()
            .map(|h| NewInvitation { code_hash: h, wave_id, locality_code, agency_code, used: false, channel })
            .collect();
        write_transaction!(self, c => {
            let existing = locked_invitation_count!(c, wave_id);
            if existing as u64 + rows.len() as u64 > wave_limit {
                return Ok(IssueOutcome::OverWaveLimit { existing });
            }
            for chunk in rows.chunks(500) {
                diesel::insert_into(invitations::table).values(chunk).execute(c)?;
            }
            count_new_invitations!(c, wave_id, rows.len());
            Ok(IssueOutcome::Issued(rows.len()))
        })
    }

    pub fn invitation_target(&self, code_hash: &str) -> StorageResult<Option<InvitationTarget>> {
        type Row = (String, Option<String>, String, Option<String>, Option<String>, String, String, bool, String);
        let row: Option<Row> = with_conn!(self, c => invitations::table
            .inner_join(waves::table.on(waves::id.eq(invitations::wave_id)))
            .filter(invitations::code_hash.eq(code_hash))
            .select((waves::id, waves::form_hash, waves::status, waves::opens_on, waves::closes_on,
                     invitations::locality_code, invitations::agency_code, invitations::used, invitations::channel))
            // Not `first`: SQLite prepares a statement again each time its `LIMIT` is bound.
            .get_result(c)
            .optional()?);
        let Some((wave_id, form_hash, status, opens_on, closes_on, locality_code, agency_code, used, channel)) = row
        else {
            return Ok(None);
        };
        Ok(Some(InvitationTarget {
            wave_status: WaveStatus::parse(&status).ok_or_else(|| StorageError::Corrupt(status.clone()))?,
            form_hash: form_hash.ok_or_else(|| StorageError::Corrupt(format!("wave {wave_id} has no pinned form")))?,
            wave_id,
            opens_on: parse_date(opens_on)?,
            closes_on: parse_date(closes_on)?,
            locality_code,
            agency_code,
            used,
            channel: Channel::parse(&channel).ok_or_else(|| StorageError::Corrupt(channel.clone()))?,
        }))
    }

    /// Invitations issued and used, for the response-rate line on the results page and the
    /// report: what the response-rate table's cells add up to. For the whole wave, from the
    /// counts kept current by their writers — the wave's invitations (`invitation_count`, on
    /// every insert) and its answers (the whole wave's tallies: each answer uses up one
    /// invitation, in the same transaction) — as adding up a national wave's million
    /// invitations took 150 ms of each results page.
    pub fn invitation_totals(&self, wave_id: &str, agency_code: Option<&str>) -> StorageResult<(i64, i64)> {
        if agency_code.is_none() {
            let issued: Option<i64> = with_conn!(self, c => waves::table
                .find(wave_id)
                .select(waves::invitation_count)
                .get_result(c)
                .optional()?);
            return Ok((issued.unwrap_or(0), self.wave_responses(wave_id)? as i64));
        }
        let cells = self.invitation_cells(wave_id, agency_code)?;
        Ok(cells.iter().fold((0, 0), |(issued, used), cell| {
            (issued + cell.counts.invited as i64, used + cell.counts.answered as i64)
        }))
    }
}
