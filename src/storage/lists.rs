//! Agencies' lists, their contacts, and sample draws. The only tables holding personal data.

use super::schema::{contacts, list_uploads, sample_draws};
use super::{Database, StorageError, StorageResult, with_conn};
use crate::domain::respondent_list::{Contact, RespondentKind};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

pub struct NewUpload<'a> {
    pub wave_id: &'a str,
    pub agency_code: &'a str,
    pub uploaded_by: &'a str,
    pub rows: usize,
    pub rejected: usize,
    pub report_json: &'a str,
    pub contacts: &'a [(usize, Contact)],
}

#[derive(Debug, Clone, Serialize, Queryable)]
pub struct Upload {
    pub id: String,
    pub wave_id: String,
    pub agency_code: String,
    pub status: String,
    pub rows: i64,
    pub accepted: i64,
    pub rejected: i64,
    #[serde(skip)]
    pub report: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// `sample_reset`: a sample had been drawn; the frame changed, so it must be redrawn.
    Confirmed {
        replaced: usize,
        sample_reset: bool,
    },
    NotFound,
    NotPending,
}

/// A contact as sampling sees it: where it belongs and a stable position, no personal data.
#[derive(Debug, Clone)]
pub struct FrameUnit {
    pub id: String,
    pub locality_code: String,
    pub agency_code: String,
    pub line: i64,
}

#[derive(Insertable)]
#[diesel(table_name = contacts)]
struct NewContact<'a> {
    id: String,
    upload_id: &'a str,
    wave_id: &'a str,
    agency_code: &'a str,
    locality_code: &'a str,
    line: i64,
    name: &'a str,
    address: Option<&'a str>,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    procedure_name: Option<&'a str>,
    completed_on: Option<String>,
    kind: &'a str,
}

/// One contact's place in a draw.
pub struct Selection {
    pub contact_id: String,
    pub selection: &'static str,
    pub stratum: String,
    pub rank: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrawRecord {
    pub id: String,
    pub drawn_by: String,
    pub drawn_at: NaiveDateTime,
    pub seed: i64,
    pub design: serde_json::Value,
    pub strata: serde_json::Value,
}

const PENDING: &str = "pending";
const CONFIRMED: &str = "confirmed";

impl Database {
    /// Stores a read list as pending: nothing is in the sampling frame until confirmed.
    pub fn store_upload(&self, new: &NewUpload) -> StorageResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now().naive_utc();
        let rows: Vec<NewContact> = new
            .contacts
            .iter()
            .map(|(line, c)| NewContact {
                id: uuid::Uuid::new_v4().to_string(),
                upload_id: &id,
                wave_id: new.wave_id,
                agency_code: new.agency_code,
                locality_code: &c.locality_code,
                line: *line as i64,
                name: &c.name,
                address: c.address.as_deref(),
                phone: c.phone.as_ref().map(|p| p.as_str()),
                email: c.email.as_ref().map(|e| e.as_str()),
                procedure_name: c.procedure.as_deref(),
                completed_on: c.completed_on.map(|d| d.to_string()),
                kind: match c.kind {
                    RespondentKind::Person => "person",
                    RespondentKind::Organisation => "organisation",
                },
            })
            .collect();
        with_conn!(self, c => c.transaction::<_, StorageError, _>(|c| {
            diesel::insert_into(list_uploads::table)
                .values((
                    list_uploads::id.eq(&id),
                    list_uploads::wave_id.eq(new.wave_id),
                    list_uploads::agency_code.eq(new.agency_code),
                    list_uploads::uploaded_by.eq(new.uploaded_by),
                    list_uploads::uploaded_at.eq(now),
                    list_uploads::status.eq(PENDING),
                    list_uploads::rows.eq(new.rows as i64),
                    list_uploads::accepted.eq(new.contacts.len() as i64),
                    list_uploads::rejected.eq(new.rejected as i64),
                    list_uploads::report.eq(new.report_json),
                ))
                .execute(c)?;
            for chunk in rows.chunks(500) {
                diesel::insert_into(contacts::table).values(chunk).execute(c)?;
            }
            Ok(())
        }))?;
        Ok(id)
    }

    pub fn upload(&self, id: &str) -> StorageResult<Option<Upload>> {
        Ok(with_conn!(self, c => list_uploads::table
            .find(id)
            .select((list_uploads::id, list_uploads::wave_id, list_uploads::agency_code, list_uploads::status,
                     list_uploads::rows, list_uploads::accepted, list_uploads::rejected, list_uploads::report))
            .first(c)
            .optional()?))
    }

    /// Puts a pending upload into the frame; an earlier confirmed list of the same agency
    /// in the same wave is replaced and its contacts deleted.
    pub fn confirm_upload(&self, id: &str) -> StorageResult<ConfirmOutcome> {
        with_conn!(self, c => c.transaction::<_, StorageError, _>(|c| {
            let found: Option<(String, String, String)> = list_uploads::table
                .find(id)
                .select((list_uploads::wave_id, list_uploads::agency_code, list_uploads::status))
                .first(c)
                .optional()?;
            let Some((wave_id, agency_code, status)) = found else { return Ok(ConfirmOutcome::NotFound) };
            if status != PENDING {
                return Ok(ConfirmOutcome::NotPending);
            }
            let selected: i64 = contacts::table
                .filter(contacts::wave_id.eq(&wave_id))
                .filter(contacts::selection.ne("frame"))
                .count()
                .get_result(c)?;
            if selected > 0 {
                diesel::update(contacts::table.filter(contacts::wave_id.eq(&wave_id)))
                    .set((contacts::selection.eq("frame"), contacts::stratum.eq(None::<String>), contacts::draw_rank.eq(None::<i64>)))
                    .execute(c)?;
            }
            let earlier: Vec<String> = list_uploads::table
                .filter(list_uploads::wave_id.eq(&wave_id))
                .filter(list_uploads::agency_code.eq(&agency_code))
                .filter(list_uploads::status.eq(CONFIRMED))
                .select(list_uploads::id)
                .load(c)?;
            diesel::delete(contacts::table.filter(contacts::upload_id.eq_any(&earlier))).execute(c)?;
            diesel::update(list_uploads::table.filter(list_uploads::id.eq_any(&earlier)))
                .set(list_uploads::status.eq("replaced"))
                .execute(c)?;
            diesel::update(list_uploads::table.find(id)).set(list_uploads::status.eq(CONFIRMED)).execute(c)?;
            Ok(ConfirmOutcome::Confirmed { replaced: earlier.len(), sample_reset: selected > 0 })
        }))
    }

    /// The sampling frame: contacts of the wave's confirmed lists.
    pub fn frame(&self, wave_id: &str) -> StorageResult<Vec<FrameUnit>> {
        let rows: Vec<(String, String, String, i64)> = with_conn!(self, c => contacts::table
            .inner_join(list_uploads::table.on(list_uploads::id.eq(contacts::upload_id)))
            .filter(contacts::wave_id.eq(wave_id))
            .filter(list_uploads::status.eq(CONFIRMED))
            .select((contacts::id, contacts::locality_code, contacts::agency_code, contacts::line))
            .load(c)?);
        Ok(rows
            .into_iter()
            .map(|(id, locality_code, agency_code, line)| FrameUnit { id, locality_code, agency_code, line })
            .collect())
    }

    /// Records a draw and marks each selected contact, all at once.
    pub fn record_draw(
        &self,
        wave_id: &str,
        drawn_by: &str,
        seed: u64,
        design: &str,
        strata: &str,
        selections: &[Selection],
    ) -> StorageResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now().naive_utc();
        with_conn!(self, c => c.transaction::<_, StorageError, _>(|c| {
            diesel::update(contacts::table.filter(contacts::wave_id.eq(wave_id)))
                .set((contacts::selection.eq("frame"), contacts::stratum.eq(None::<String>), contacts::draw_rank.eq(None::<i64>)))
                .execute(c)?;
            for s in selections {
                diesel::update(contacts::table.find(&s.contact_id))
                    .set((contacts::selection.eq(s.selection), contacts::stratum.eq(&s.stratum), contacts::draw_rank.eq(s.rank)))
                    .execute(c)?;
            }
            diesel::insert_into(sample_draws::table)
                .values((
                    sample_draws::id.eq(&id),
                    sample_draws::wave_id.eq(wave_id),
                    sample_draws::drawn_by.eq(drawn_by),
                    sample_draws::drawn_at.eq(now),
                    // Seeds are kept below 2^53 so they survive JSON clients; stored as i64.
                    sample_draws::seed.eq(seed as i64),
                    sample_draws::design.eq(design),
                    sample_draws::strata.eq(strata),
                ))
                .execute(c)?;
            Ok(())
        }))?;
        Ok(id)
    }

    pub fn draws(&self, wave_id: &str) -> StorageResult<Vec<DrawRecord>> {
        type Row = (String, String, NaiveDateTime, i64, String, String);
        let rows: Vec<Row> = with_conn!(self, c => sample_draws::table
            .filter(sample_draws::wave_id.eq(wave_id))
            .order(sample_draws::drawn_at.desc())
            .select((sample_draws::id, sample_draws::drawn_by, sample_draws::drawn_at, sample_draws::seed, sample_draws::design, sample_draws::strata))
            .load(c)?);
        rows.into_iter()
            .map(|(id, drawn_by, drawn_at, seed, design, strata)| {
                let parse = |s: &str| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string()));
                Ok(DrawRecord { id, drawn_by, drawn_at, seed, design: parse(&design)?, strata: parse(&strata)? })
            })
            .collect()
    }

    /// Whether the wave's contacts carry a draw: a newly confirmed list resets it, and the
    /// latest recorded draw is then no longer the current one.
    pub fn sample_drawn(&self, wave_id: &str) -> StorageResult<bool> {
        let any: Option<String> = with_conn!(self, c => contacts::table
            .filter(contacts::wave_id.eq(wave_id))
            .filter(contacts::selection.ne("frame"))
            .select(contacts::id)
            .first(c)
            .optional()?);
        Ok(any.is_some())
    }

    /// Contact ids selected in the current draw, by stratum and rank (for tests and invitations).
    pub fn selected(&self, wave_id: &str, selection: &str) -> StorageResult<Vec<(String, String, i64)>> {
        Ok(with_conn!(self, c => contacts::table
            .filter(contacts::wave_id.eq(wave_id))
            .filter(contacts::selection.eq(selection))
            .select((contacts::id, contacts::stratum.assume_not_null(), contacts::draw_rank.assume_not_null()))
            .order((contacts::stratum, contacts::draw_rank))
            .load(c)?))
    }
}
