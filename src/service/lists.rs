//! Reading an agency's list into a pending upload with a report for every line. Rows are
//! cleaned and stored a batch at a time, duplicates found through the hashed keys of the
//! contacts kept so far (12 bytes each), so a list's memory is bounded by its row limit.

use super::Survey;
use super::list_files::{KeptCopy, ListFileError, Row, Rows, kept_copy_rows, open_rows};
use super::list_limits::MAX_LABEL_CHARS;
use crate::domain::locality::LocalityTree;
use crate::domain::respondent_list::{
    CleanedBatch, ColumnMap, Field, LineReport, LineStatus, ListCleaner, ListContext, find_header, never_kept,
};
use crate::domain::wave::WaveStatus;
use crate::scratch::{SealedFile, SealedHandle};
use crate::storage::lists::{ImportCounts, NewUpload, Upload};
use crate::storage::localities::Agency;
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// An import as it ended; the per-line report is read from storage page by page.
#[derive(Debug, Serialize)]
pub struct UploadSummary {
    pub upload_id: String,
    /// pending (awaiting confirmation), confirmed, replaced or failed.
    pub status: String,
    /// Why a failed upload could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub rows: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub columns: ListColumns,
}

/// The header as read and the mapping used, kept with the upload so that the officer can
/// see it and correct it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListColumns {
    /// Rows before the data: the title block and the header.
    pub header_rows: usize,
    pub labels: Vec<String>,
    pub fields: ColumnMap,
    /// Columns never stored (identity documents, birth dates), so never mappable.
    #[serde(default)]
    pub dropped: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    File(#[from] ListFileError),
    #[error("không tìm thấy dòng tiêu đề: cần ít nhất cột họ tên và một cột địa chỉ, điện thoại hoặc email")]
    NoHeader,
    #[error("cách đọc cột không dùng được: {0}")]
    Mapping(String),
    #[error("danh sách này đã được xác nhận hoặc đã bị thay thế")]
    NotPending,
    #[error("đợt khảo sát đã kết thúc")]
    WaveClosed,
    #[error("Danh sách này không đọc được nên không thể chọn lại cột hay xác nhận: hãy sửa tệp và tải lên lại.")]
    UploadFailed,
    /// The import failed and its upload is kept as `failed`, with `error` as its reason.
    #[error("{error}")]
    Failed { upload_id: String, error: Box<ListError> },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Rows looked at for the header.
const HEADER_SEARCH: usize = 30;
/// Rows cleaned and stored together: large enough to amortise a transaction, small enough
/// to keep memory flat.
const BATCH_ROWS: usize = 2_000;
/// And flushed earlier when their cells reach this size (rows may be long).
const BATCH_BYTES: usize = 8 * 1024 * 1024;

impl Survey {
    /// Reads `file` for `wave` (as `agency`'s list) and stores it as pending, with a copy
    /// of its rows (never the columns that must not be kept) for a corrected mapping. A
    /// file that cannot be read changes nothing but leaves the upload `failed`, with why.
    /// The file is deleted once read.
    pub async fn read_list(
        &self,
        wave: Wave,
        agency: Option<Agency>,
        file: SealedFile,
        uploaded_by: String,
    ) -> Result<UploadSummary, ListError> {
        let db = self.db.clone();
        let scratch = self.scratch.clone();
        blocking(move || {
            let agency_code = agency.as_ref().map_or("", |a| a.code.as_str());
            let id = db.begin_import(&NewUpload { wave_id: &wave.id, agency_code, uploaded_by: &uploaded_by })?;
            let imported = without_panics(|| {
                let copy = scratch.create().map_err(io)?;
                let source = Source::File { rows: open_rows(&file)?, copy: copy.open().map_err(io)? };
                let summary = import(&db, &id, &wave, agency.as_ref(), source, None)?;
                db.keep_file(&id, &mut copy.open().map_err(io)?)?;
                Ok(summary)
            });
            fail_on_error(&db, &id, imported)
        })
        .await
    }

    /// Reads a pending upload's kept file again with the officer's mapping (field → column,
    /// counted from 0), replacing its contacts and report; not once the wave is closed.
    pub async fn remap_list(&self, upload: Upload, fields: HashMap<Field, usize>) -> Result<UploadSummary, ListError> {
        let db = self.db.clone();
        let scratch = self.scratch.clone();
        if upload.failed() {
            return Err(ListError::UploadFailed);
        }
        blocking(move || {
            let stored: ListColumns =
                serde_json::from_str(&upload.columns).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            if let Some(column) = fields.values().find(|c| stored.dropped.contains(c)) {
                let label = stored.labels.get(*column).map_or("", String::as_str);
                return Err(ListError::Mapping(format!(
                    "cột thứ {} (“{label}”) không được lưu nên không dùng được",
                    column + 1
                )));
            }
            let fields = ColumnMap::chosen(fields, stored.labels.len()).map_err(ListError::Mapping)?;
            let wave = db.wave(&upload.wave_id)?.ok_or_else(|| StorageError::Corrupt("upload without wave".into()))?;
            if wave.status == WaveStatus::Closed {
                return Err(ListError::WaveClosed);
            }
            let agency = match upload.agency_code.as_str() {
                "" => None,
                code => db.agency(code)?,
            };
            let copy = scratch.create().map_err(io)?;
            if db.copy_kept_file(&upload.id, &mut copy.open().map_err(io)?)?.is_err()
                || !db.restart_import(&upload.id)?
            {
                return Err(ListError::NotPending);
            }
            let columns = ListColumns { fields, ..stored };
            let source = Source::KeptCopy(kept_copy_rows(&copy)?);
            let imported = without_panics(|| import(&db, &upload.id, &wave, agency.as_ref(), source, Some(columns)));
            fail_on_error(&db, &upload.id, imported)
        })
        .await
    }
}

fn io(e: std::io::Error) -> ListError {
    ListError::Storage(StorageError::Io(e.to_string()))
}

/// Where an import reads its rows: an uploaded file, copied as it is read, or the copy
/// kept from an earlier reading.
enum Source {
    File { rows: Rows, copy: SealedHandle },
    KeptCopy(Rows),
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ListError> + Send + 'static,
) -> Result<T, ListError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ListError::Storage(StorageError::Task(e.to_string())))?
}

/// A panic while reading a file (a bug, most likely in a reader meeting an odd file) is
/// a failed import like any other: marked failed, answered 422, never left `importing`.
fn without_panics(work: impl FnOnce() -> Result<UploadSummary, ListError>) -> Result<UploadSummary, ListError> {
    // The panic's message is not logged: it can quote the cell being read (the panic hook
    // has logged where it happened).
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        tracing::error!("reading a list panicked");
        Err(ListFileError::Unreadable("lỗi bất thường khi đọc tệp".into()).into())
    })
}

/// Nothing is half-imported: a failed import keeps its upload, `failed` with the reason,
/// and nothing else it stored.
fn fail_on_error(
    db: &Database,
    id: &str,
    imported: Result<UploadSummary, ListError>,
) -> Result<UploadSummary, ListError> {
    db.metrics.import_finished(imported.is_ok());
    imported.map_err(|error| {
        if let Err(e) = db.fail_import(id, &failure_reason(&error)) {
            tracing::error!(upload = id, error = %e, "could not mark a failed import");
        }
        ListError::Failed { upload_id: id.to_string(), error: Box::new(error) }
    })
}

/// What the officer is told about a failed import: the file's fault in the words of the
/// 422, a server fault (its details are logged, not shown) in general terms.
fn failure_reason(error: &ListError) -> String {
    match error {
        ListError::File(_) | ListError::NoHeader | ListError::Mapping(_) => error.to_string(),
        _ => "lỗi máy chủ khi đọc tệp".into(),
    }
}

/// Reads, cleans and stores the rows of `path` into the importing upload `id`, with the
/// given mapping or the one recognised from the header.
fn import(
    db: &Database,
    id: &str,
    wave: &Wave,
    agency: Option<&Agency>,
    source: Source,
    columns: Option<ListColumns>,
) -> Result<UploadSummary, ListError> {
    let (mut rows, copy) = match source {
        Source::File { rows, copy } => (rows, Some(copy)),
        Source::KeptCopy(rows) => (rows, None),
    };
    let head = rows.by_ref().take(HEADER_SEARCH).collect::<Result<Vec<Row>, _>>()?;
    let columns = match columns {
        Some(columns) => columns,
        None => {
            let cells: Vec<Vec<String>> = head.iter().map(|(_, cells)| cells.clone()).collect();
            let header = find_header(&cells).ok_or(ListError::NoHeader)?;
            let dropped = header.labels.iter().enumerate().filter(|(_, l)| never_kept(l)).map(|(i, _)| i).collect();
            // Labels are shown on the upload's page: a long one is cut there.
            let labels = header.labels.into_iter().map(|l| l.chars().take(MAX_LABEL_CHARS).collect()).collect();
            ListColumns { header_rows: header.rows, labels, fields: header.columns, dropped }
        }
    };
    let mut copy = copy.map(|file| KeptCopy::new(file, columns.dropped.clone()));
    if let Some(copy) = copy.as_mut() {
        head.iter().try_for_each(|row| copy.row(row)).map_err(io)?;
    }
    let all = db.all_localities()?;
    let tree = LocalityTree::new(all.clone());
    let localities: Vec<_> = all
        .into_iter()
        .filter(|l| wave.localities.is_empty() || wave.localities.iter().any(|root| tree.is_within(&l.code, root)))
        .collect();
    let context = ListContext {
        period: wave.period_from.zip(wave.period_to),
        localities: &localities,
        default_locality: agency.map(|a| a.locality_code.as_str()),
    };
    let mut cleaner = ListCleaner::new(columns.fields.clone(), context, id);
    let agency_code = agency.map_or("", |a| a.code.as_str());
    let mut counts = ImportCounts { rows: 0, accepted: 0, rejected: 0, columns: String::new() };
    let started = Instant::now();
    let storing = std::thread::scope(|scope| {
        // Batches are stored on a thread of their own while the next one is read and
        // cleaned, so the database's work and ours overlap; one batch waits at most.
        let (send, receive) = std::sync::mpsc::sync_channel::<CleanedBatch>(1);
        let storer = scope.spawn(move || -> Result<Duration, StorageError> {
            let mut busy = Duration::ZERO;
            for batch in receive {
                let began = Instant::now();
                db.store_batch(id, &wave.id, agency_code, batch)?;
                busy += began.elapsed();
            }
            Ok(busy)
        });
        let (cleaner, counts) = (&mut cleaner, &mut counts);
        // Owns the sender: dropping it ends the storer's loop.
        let mut flush = move |batch: Vec<Row>, unreadable: Vec<LineReport>| -> Result<(), ListError> {
            let mut cleaned = cleaner.clean_batch(batch);
            cleaned.report.extend(unreadable);
            counts.rows += cleaned.report.len();
            counts.accepted += cleaned.contacts.len();
            counts.rejected += cleaned.rejected();
            db.metrics.import_rows(cleaned.report.len());
            // Refused only once the storer stopped, on an error that its join returns.
            send.send(cleaned).map_err(|_| StorageError::Task("storing the list stopped".into()).into())
        };
        let read = read_rows(head, rows, &columns, copy, &mut flush);
        drop(flush);
        let stored = storer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failure to store is why reading stopped, so it is the one reported.
        let busy = stored?;
        read?;
        Ok::<_, ListError>(busy)
    })?;
    tracing::info!(
        upload = id,
        rows = counts.rows,
        seconds = started.elapsed().as_secs_f64(),
        storing_seconds = storing.as_secs_f64(),
        "list read"
    );
    counts.columns = serde_json::to_string(&columns).expect("columns serialise");
    db.finish_import(id, &counts)?;
    Ok(UploadSummary {
        upload_id: id.to_string(),
        status: "pending".into(),
        failure: None,
        rows: counts.rows,
        accepted: counts.accepted,
        rejected: counts.rejected,
        columns,
    })
}

/// Reads the data rows after `head` into batches for `flush`, copying every row (and every
/// line the reader could not read) into `copy` when there is one.
fn read_rows(
    head: Vec<Row>,
    rows: Rows,
    columns: &ListColumns,
    mut copy: Option<KeptCopy>,
    flush: &mut impl FnMut(Vec<Row>, Vec<LineReport>) -> Result<(), ListError>,
) -> Result<(), ListError> {
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut batch_bytes = 0;
    // Lines the reader itself could not read are reported, and reading goes on.
    let mut unreadable = Vec::new();
    // Rows of the head are in the copy already; the rest are copied as they are read.
    let head_data = head.into_iter().skip(columns.header_rows).map(|row| (Ok(row), false));
    for (row, to_copy) in head_data.chain(rows.map(|row| (row, true))) {
        if to_copy && let Some(copy) = copy.as_mut() {
            match &row {
                Ok(row) => copy.row(row),
                Err(ListFileError::BadLine { line, reason }) => copy.unreadable(*line, reason),
                Err(_) => Ok(()),
            }
            .map_err(io)?;
        }
        match row {
            Ok(row) => {
                // Empty cells cost their `String` too: a row of separators is not free.
                batch_bytes += row.1.iter().map(|c| c.len() + std::mem::size_of::<String>()).sum::<usize>();
                batch.push(row)
            }
            Err(ListFileError::BadLine { line, reason }) if line > 0 => {
                unreadable.push(LineReport { line, status: LineStatus::Rejected, reason })
            }
            Err(other) => return Err(other.into()),
        }
        if batch.len() + unreadable.len() >= BATCH_ROWS || batch_bytes >= BATCH_BYTES {
            batch_bytes = 0;
            flush(std::mem::take(&mut batch), std::mem::take(&mut unreadable))?;
        }
    }
    flush(batch, unreadable)?;
    if let Some(copy) = copy {
        copy.finish().map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_reading_is_a_failed_import_not_a_crash() {
        let result = without_panics(|| panic!("a reader met an odd file"));
        assert!(matches!(result, Err(ListError::File(ListFileError::Unreadable(_)))));
    }
}
