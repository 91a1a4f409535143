//! Agencies' lists, their contacts, and sample draws. The only tables holding personal data.

use super::schema::{contacts, list_files, list_lines, list_uploads, sample_draws, waves};
use super::{Database, Pool, StorageError, StorageResult, with_conn, write_transaction};
use crate::domain::respondent_list::{CleanedBatch, LineReport, LineStatus, RespondentKind};
use crate::domain::wave::WaveStatus;
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

pub struct NewUpload<'a> {
    pub wave_id: &'a str,
    pub agency_code: &'a str,
    pub uploaded_by: &'a str,
}

/// What an import ended with.
pub struct ImportCounts {
    pub rows: usize,
    pub accepted: usize,
    pub rejected: usize,
    /// The header and the column mapping, as JSON.
    pub columns: String,
}

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = list_uploads)]
pub struct Upload {
    pub id: String,
    pub wave_id: String,
    pub agency_code: String,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
    pub status: String,
    pub rows: i64,
    pub accepted: i64,
    pub rejected: i64,
    #[serde(skip)]
    #[diesel(column_name = column_map)]
    pub columns: String,
    /// Why a `failed` upload could not be read (never cell contents).
    pub failure: Option<String>,
}

impl Upload {
    /// Refused or cut off: nothing of it is stored but the reason.
    pub fn failed(&self) -> bool {
        self.status == FAILED
    }
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
    /// The wave is closed: its frame stays as it was.
    WaveClosed,
    /// A sample is drawn and the caller did not ask to reset it.
    SampleDrawn,
    /// Invitations went out from the current sample: replacing a list would take people
    /// out of it.
    InvitationsSent,
}

/// An upload's file was not kept (it was confirmed, replaced or purged).
#[derive(Debug)]
pub struct FileGone;

/// A contact as sampling sees it: where it belongs and a stable position, no personal data.
#[derive(Debug, Clone)]
pub struct FrameUnit {
    pub id: String,
    pub locality_code: String,
    pub agency_code: String,
    pub line: i64,
}

/// Missing values are written as NULL, not as the column's default: SQLite then takes a
/// batch in one statement (diesel inserts rows one by one where a default may be asked
/// for) and PostgreSQL can COPY it. Owned, so that a fixed-size array of them makes a
/// statement diesel can keep prepared (its cache is keyed by a `'static` type).
#[derive(Insertable)]
#[diesel(table_name = contacts, treat_none_as_default_value = false)]
struct NewContact {
    id: String,
    upload_id: String,
    wave_id: String,
    agency_code: String,
    locality_code: String,
    line: i64,
    name: String,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    procedure_name: Option<String>,
    completed_on: Option<String>,
    kind: &'static str,
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

const IMPORTING: &str = "importing";
const PENDING: &str = "pending";
const REPLACED: &str = "replaced";
const FAILED: &str = "failed";
/// The reason given to imports cut off by a crash.
pub const CUT_OFF: &str = "máy chủ dừng giữa chừng khi đọc tệp";
/// Rows per INSERT: below both backends' limits on bound parameters.
const INSERT_CHUNK: usize = 1000;
/// Bytes per stored chunk of an uploaded file.
const FILE_CHUNK: usize = 1 << 20;

fn line_report((line, status, reason): (i64, String, String)) -> StorageResult<LineReport> {
    let status = LineStatus::parse(&status).ok_or_else(|| StorageError::Corrupt(format!("line status {status}")))?;
    Ok(LineReport { line: line as usize, status, reason })
}

/// Deletes what uploads stored (contacts, report lines, kept file), inside the
/// caller's transaction; a macro because the connection type differs by backend.
macro_rules! delete_upload_data {
    ($c:expr, $ids:expr) => {{
        let ids = $ids;
        diesel::delete(contacts::table.filter(contacts::upload_id.eq_any(ids))).execute($c)?;
        diesel::delete(list_lines::table.filter(list_lines::upload_id.eq_any(ids))).execute($c)?;
        diesel::delete(list_files::table.filter(list_files::upload_id.eq_any(ids))).execute($c)?;
    }};
}

/// Fills `buf` as far as the reader allows; 0 only at the end.
fn read_full(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
const CONFIRMED: &str = "confirmed";

impl Database {
    /// Starts an import: the upload exists, but only as `importing`, outside every count,
    /// until [`Database::finish_import`].
    pub fn begin_import(&self, new: &NewUpload) -> StorageResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now().naive_utc();
        with_conn!(self, c => diesel::insert_into(list_uploads::table)
            .values((
                list_uploads::id.eq(&id),
                list_uploads::wave_id.eq(new.wave_id),
                list_uploads::agency_code.eq(new.agency_code),
                list_uploads::uploaded_by.eq(new.uploaded_by),
                list_uploads::uploaded_at.eq(now),
                list_uploads::import_started_at.eq(now),
                list_uploads::status.eq(IMPORTING),
                list_uploads::rows.eq(0),
                list_uploads::accepted.eq(0),
                list_uploads::rejected.eq(0),
            ))
            .execute(c)?);
        Ok(id)
    }

    /// Keeps the uploaded file, in chunks, while the upload is pending.
    pub fn keep_file(&self, upload_id: &str, file: &mut impl std::io::Read) -> StorageResult<()> {
        let mut chunk = vec![0u8; FILE_CHUNK];
        for seq in 0i64.. {
            let filled = read_full(file, &mut chunk).map_err(|e| StorageError::Io(e.to_string()))?;
            if filled == 0 {
                break;
            }
            with_conn!(self, c => diesel::insert_into(list_files::table)
                .values((list_files::upload_id.eq(upload_id), list_files::seq.eq(seq), list_files::bytes.eq(&chunk[..filled])))
                .execute(c)?);
        }
        Ok(())
    }

    /// Writes the kept file of an upload to `out`, a chunk at a time.
    pub fn copy_kept_file(
        &self,
        upload_id: &str,
        out: &mut impl std::io::Write,
    ) -> StorageResult<Result<(), FileGone>> {
        let mut copied = false;
        for seq in 0i64.. {
            let chunk: Option<Vec<u8>> = with_conn!(self, c => list_files::table
                .find((upload_id, seq))
                .select(list_files::bytes)
                .first(c)
                .optional()?);
            let Some(chunk) = chunk else { break };
            out.write_all(&chunk).map_err(|e| StorageError::Io(e.to_string()))?;
            copied = true;
        }
        Ok(if copied { Ok(()) } else { Err(FileGone) })
    }

    /// Stores one cleaned batch (its contacts and report lines) at once.
    pub fn store_batch(
        &self,
        upload_id: &str,
        wave_id: &str,
        agency_code: &str,
        batch: CleanedBatch,
    ) -> StorageResult<()> {
        let CleanedBatch { contacts, report } = batch;
        let contacts: Vec<NewContact> = contacts
            .into_iter()
            .map(|(line, c)| NewContact {
                // Ordered by time: a batch's ids go at the end of the key's index, where
                // random ones would each change a page of it.
                id: uuid::Uuid::now_v7().to_string(),
                upload_id: upload_id.to_string(),
                wave_id: wave_id.to_string(),
                agency_code: agency_code.to_string(),
                locality_code: c.locality_code,
                line: line as i64,
                name: c.name,
                address: c.address,
                phone: c.phone.map(|p| p.as_str().to_string()),
                email: c.email.map(|e| e.as_str().to_string()),
                procedure_name: c.procedure,
                completed_on: c.completed_on.map(|d| d.to_string()),
                kind: match c.kind {
                    RespondentKind::Person => "person",
                    RespondentKind::Organisation => "organisation",
                },
            })
            .collect();
        // An accepted line is its contact: only findings are stored (see `report_page`).
        let lines: Vec<_> = report
            .iter()
            .filter(|r| r.status != LineStatus::Accepted)
            .map(|r| {
                (
                    list_lines::upload_id.eq(upload_id),
                    list_lines::line.eq(r.line as i64),
                    list_lines::status.eq(r.status.as_str()),
                    list_lines::reason.eq(&r.reason),
                )
            })
            .collect();
        // A wave purged while its list was being read takes no more of it.
        macro_rules! refuse_if_purged {
            ($c:expr) => {{
                let purged: Option<NaiveDateTime> = waves::table.find(wave_id).select(waves::purged_at).first($c)?;
                if purged.is_some() {
                    return Err(StorageError::Corrupt("the wave was purged during the import".into()));
                }
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => pool.get()?.immediate_transaction(|c| {
                refuse_if_purged!(c);
                // Full chunks go in as arrays: one SQL text, prepared once per connection
                // (a slice's statement is parsed again every time, most of the cost here).
                let full = contacts.chunks_exact(INSERT_CHUNK);
                let rest = full.remainder();
                for chunk in full {
                    let chunk: &[NewContact; INSERT_CHUNK] = chunk.try_into().expect("an exact chunk");
                    diesel::insert_into(contacts::table).values(chunk).execute(c)?;
                }
                if !rest.is_empty() {
                    diesel::insert_into(contacts::table).values(rest).execute(c)?;
                }
                for chunk in lines.chunks(INSERT_CHUNK) {
                    diesel::insert_into(list_lines::table).values(chunk).execute(c)?;
                }
                Ok(())
            }),
            // COPY: one stream per table instead of a statement per thousand rows, each
            // with its parameters parsed and planned.
            Pool::Postgres(pool) => pool.get()?.transaction(|c| {
                refuse_if_purged!(c);
                diesel::copy_from(contacts::table).from_insertable(contacts).execute(c)?;
                diesel::copy_from(list_lines::table).from_insertable(lines).execute(c)?;
                Ok(())
            }),
        }
    }

    /// Ends an import: the upload becomes pending, with its counts and mapping. A pending
    /// upload of the same agency that it corrects is replaced, with all it stored.
    pub fn finish_import(&self, upload_id: &str, counts: &ImportCounts) -> StorageResult<()> {
        write_transaction!(self, c => {
            let (wave_id, agency_code): (String, String) = list_uploads::table
                .find(upload_id)
                .select((list_uploads::wave_id, list_uploads::agency_code))
                .first(c)?;
            let corrected: Vec<String> = list_uploads::table
                .filter(list_uploads::wave_id.eq(&wave_id))
                .filter(list_uploads::agency_code.eq(&agency_code))
                .filter(list_uploads::status.eq(PENDING))
                .filter(list_uploads::id.ne(upload_id))
                .select(list_uploads::id)
                .load(c)?;
            delete_upload_data!(c, &corrected);
            diesel::update(list_uploads::table.filter(list_uploads::id.eq_any(&corrected)))
                .set(list_uploads::status.eq(REPLACED))
                .execute(c)?;
            // An import given up as cut off stays failed even if it was only slow.
            let finished = diesel::update(list_uploads::table.find(upload_id).filter(list_uploads::status.eq(IMPORTING)))
                .set((
                    list_uploads::status.eq(PENDING),
                    list_uploads::rows.eq(counts.rows as i64),
                    list_uploads::accepted.eq(counts.accepted as i64),
                    list_uploads::rejected.eq(counts.rejected as i64),
                    list_uploads::column_map.eq(&counts.columns),
                ))
                .execute(c)?;
            if finished == 0 {
                return Err(StorageError::Corrupt("the import was given up before it finished".into()));
            }
            Ok(())
        })
    }

    /// Ends an import that failed half-way: the upload stays, `failed` with `reason`, and
    /// nothing else of it (contacts, report, kept file).
    pub fn fail_import(&self, upload_id: &str, reason: &str) -> StorageResult<()> {
        write_transaction!(self, c => {
            delete_upload_data!(c, [upload_id]);
            // One already given up as cut off keeps that reason.
            diesel::update(list_uploads::table.find(upload_id).filter(list_uploads::status.eq(IMPORTING)))
                .set((
                    list_uploads::status.eq(FAILED),
                    list_uploads::failure.eq(reason),
                    list_uploads::rows.eq(0),
                    list_uploads::accepted.eq(0),
                    list_uploads::rejected.eq(0),
                ))
                .execute(c)?;
            Ok(())
        })
    }

    /// Makes a pending upload importing again, empty, to be read anew with another mapping.
    /// `false` if it is no longer pending.
    pub fn restart_import(&self, upload_id: &str) -> StorageResult<bool> {
        write_transaction!(self, c => {
            let claimed = diesel::update(list_uploads::table.find(upload_id).filter(list_uploads::status.eq(PENDING)))
                .set((list_uploads::status.eq(IMPORTING), list_uploads::import_started_at.eq(Utc::now().naive_utc())))
                .execute(c)?;
            if claimed == 0 {
                return Ok(false);
            }
            diesel::delete(contacts::table.filter(contacts::upload_id.eq(upload_id))).execute(c)?;
            diesel::delete(list_lines::table.filter(list_lines::upload_id.eq(upload_id))).execute(c)?;
            Ok(true)
        })
    }

    /// Imports cut off by a crash, started before `cutoff`: failed, with nothing they stored.
    pub fn fail_stale_imports(&self, cutoff: NaiveDateTime) -> StorageResult<usize> {
        let stale: Vec<String> = with_conn!(self, c => list_uploads::table
            .filter(list_uploads::status.eq(IMPORTING))
            .filter(list_uploads::import_started_at.lt(cutoff))
            .select(list_uploads::id)
            .load(c)?);
        for id in &stale {
            self.fail_import(id, CUT_OFF)?;
        }
        Ok(stale.len())
    }

    /// Report lines after `after_line`, in line order, at most `limit`: the stored findings
    /// merged with the lines of the contacts that have none, which were accepted as read.
    pub fn report_page(&self, upload_id: &str, after_line: i64, limit: i64) -> StorageResult<Vec<LineReport>> {
        // Both parts from one snapshot: a reading again of the upload replaces them together.
        type Parts = (Vec<(i64, String, String)>, Vec<i64>);
        let (findings, contact_lines): Parts = with_conn!(self, c => c.transaction(|c| Ok::<_, StorageError>((
            list_lines::table
                .filter(list_lines::upload_id.eq(upload_id))
                .filter(list_lines::line.gt(after_line))
                .order(list_lines::line)
                .limit(limit)
                .select((list_lines::line, list_lines::status, list_lines::reason))
                .load(c)?,
            contacts::table
                .filter(contacts::upload_id.eq(upload_id))
                .filter(contacts::line.gt(after_line))
                .order(contacts::line)
                .limit(limit)
                .select(contacts::line)
                .load(c)?,
        )))?);
        let findings = findings.into_iter().map(line_report).collect::<StorageResult<Vec<_>>>()?;
        // The first `limit` lines of the merge are among the first `limit` of each part.
        let mut findings = findings.into_iter().peekable();
        let mut contact_lines = contact_lines.into_iter().map(|line| line as usize).peekable();
        let mut page = Vec::new();
        while page.len() < limit as usize {
            let (finding, contact) = (findings.peek().map(|f| f.line), contact_lines.peek().copied());
            let finding_first = match (finding, contact) {
                (None, None) => break,
                (Some(finding), Some(contact)) => finding <= contact,
                (finding, _) => finding.is_some(),
            };
            if finding_first {
                // A flagged contact's line is its finding.
                if contact == finding {
                    contact_lines.next();
                }
                page.extend(findings.next());
            } else {
                page.extend(contact_lines.next().map(|line| LineReport {
                    line,
                    status: LineStatus::Accepted,
                    reason: String::new(),
                }));
            }
        }
        Ok(page)
    }

    pub fn upload(&self, id: &str) -> StorageResult<Option<Upload>> {
        Ok(with_conn!(self, c => list_uploads::table
            .find(id)
            .select(Upload::as_select())
            .first(c)
            .optional()?))
    }

    /// A wave's uploads (of one agency, if given), newest first; imports under way left out.
    pub fn uploads_of_wave(&self, wave_id: &str, agency_code: Option<&str>) -> StorageResult<Vec<Upload>> {
        Ok(with_conn!(self, c => {
            let mut query = list_uploads::table
                .filter(list_uploads::wave_id.eq(wave_id))
                .filter(list_uploads::status.ne(IMPORTING))
                .order(list_uploads::uploaded_at.desc())
                .select(Upload::as_select())
                .into_boxed();
            if let Some(agency) = agency_code {
                query = query.filter(list_uploads::agency_code.eq(agency));
            }
            query.load(c)?
        }))
    }

    /// The first `limit` lines that were not simply accepted, in line order.
    pub fn problem_lines(&self, upload_id: &str, limit: i64) -> StorageResult<Vec<LineReport>> {
        let rows: Vec<(i64, String, String)> = with_conn!(self, c => list_lines::table
            .filter(list_lines::upload_id.eq(upload_id))
            .filter(list_lines::status.ne(LineStatus::Accepted.as_str()))
            .order(list_lines::line)
            .limit(limit)
            .select((list_lines::line, list_lines::status, list_lines::reason))
            .load(c)?);
        rows.into_iter().map(line_report).collect()
    }

    /// Puts a pending upload into the frame; an earlier confirmed list of the same agency
    /// in the same wave is replaced and its contacts deleted. Refused once the wave is
    /// closed or any invitation of it went out, and, once a sample is drawn, unless
    /// `reset_sample` (the whole wave's draw is then undone).
    pub fn confirm_upload(&self, id: &str, reset_sample: bool) -> StorageResult<ConfirmOutcome> {
        write_transaction!(self, c => {
            let found: Option<(String, String, String)> = list_uploads::table
                .find(id)
                .select((list_uploads::wave_id, list_uploads::agency_code, list_uploads::status))
                .first(c)
                .optional()?;
            let Some((wave_id, agency_code, status)) = found else { return Ok(ConfirmOutcome::NotFound) };
            if status != PENDING {
                return Ok(ConfirmOutcome::NotPending);
            }
            let wave_status: String = waves::table.find(&wave_id).select(waves::status).first(c)?;
            if wave_status == WaveStatus::Closed.as_str() {
                return Ok(ConfirmOutcome::WaveClosed);
            }
            let invited: i64 = contacts::table
                .filter(contacts::wave_id.eq(&wave_id))
                .filter(contacts::code_hash.is_not_null())
                .count()
                .get_result(c)?;
            if invited > 0 {
                return Ok(ConfirmOutcome::InvitationsSent);
            }
            let selected: i64 = contacts::table
                .filter(contacts::wave_id.eq(&wave_id))
                .filter(contacts::selection.ne("frame"))
                .count()
                .get_result(c)?;
            if selected > 0 && !reset_sample {
                return Ok(ConfirmOutcome::SampleDrawn);
            }
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
            delete_upload_data!(c, &earlier);
            diesel::update(list_uploads::table.filter(list_uploads::id.eq_any(&earlier)))
                .set(list_uploads::status.eq(REPLACED))
                .execute(c)?;
            // The file was kept only for a corrected mapping, which a confirmed list no longer takes.
            diesel::delete(list_files::table.filter(list_files::upload_id.eq(id))).execute(c)?;
            diesel::update(list_uploads::table.find(id)).set(list_uploads::status.eq(CONFIRMED)).execute(c)?;
            Ok(ConfirmOutcome::Confirmed { replaced: earlier.len(), sample_reset: selected > 0 })
        })
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
        write_transaction!(self, c => {
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
        })?;
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
