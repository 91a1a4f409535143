//! Reading an agency's list into a pending upload with a report for every line.

use super::Survey;
use super::list_files::{ListFileError, open_rows};
use crate::domain::locality::LocalityTree;
use crate::domain::respondent_list::{LineReport, LineStatus, ListContext, clean_rows, find_header};
use crate::storage::StorageError;
use crate::storage::lists::NewUpload;
use crate::storage::localities::Agency;
use crate::storage::waves::Wave;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Serialize)]
pub struct UploadSummary {
    pub upload_id: String,
    pub rows: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub report: Vec<LineReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    File(#[from] ListFileError),
    #[error("không tìm thấy dòng tiêu đề: cần ít nhất cột họ tên và một cột địa chỉ, điện thoại hoặc email")]
    NoHeader,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Rows looked at for the header.
const HEADER_SEARCH: usize = 30;

impl Survey {
    /// Reads the file at `path` for `wave` (as `agency`'s list) and stores it as pending.
    /// A file that cannot be read changes nothing.
    pub async fn read_list(
        &self,
        wave: Wave,
        agency: Option<Agency>,
        path: PathBuf,
        uploaded_by: String,
    ) -> Result<UploadSummary, ListError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut rows = open_rows(&path)?;
            let mut head = Vec::new();
            let mut report: Vec<LineReport> = Vec::new();
            for row in rows.by_ref().take(HEADER_SEARCH) {
                head.push(row?);
            }
            let cells: Vec<Vec<String>> = head.iter().map(|(_, c)| c.clone()).collect();
            let (header, columns) = find_header(&cells).ok_or(ListError::NoHeader)?;
            let all = db.all_localities()?;
            let tree = LocalityTree::new(all.clone());
            let localities: Vec<_> = all
                .into_iter()
                .filter(|l| {
                    wave.localities.is_empty() || wave.localities.iter().any(|root| tree.is_within(&l.code, root))
                })
                .collect();
            let period = wave.period_from.zip(wave.period_to);
            let context = ListContext {
                period,
                localities: &localities,
                default_locality: agency.as_ref().map(|a| a.locality_code.as_str()),
            };
            // Lines the reader itself could not read are reported, and reading goes on.
            let mut unreadable = Vec::new();
            let data = head.into_iter().skip(header + 1).map(Ok).chain(rows).filter_map(|row| match row {
                Ok(row) => Some(row),
                Err(ListFileError::BadLine { line, reason }) => {
                    unreadable.push(LineReport { line, status: LineStatus::Rejected, reason });
                    None
                }
                Err(other) => {
                    unreadable.push(LineReport { line: 0, status: LineStatus::Rejected, reason: other.to_string() });
                    None
                }
            });
            let list = clean_rows(data, &columns, &context);
            report.extend(list.report.iter().cloned());
            report.extend(unreadable);
            report.sort_by_key(|r| r.line);
            let rejected = report.iter().filter(|r| r.status == LineStatus::Rejected).count();
            let report_json = serde_json::to_string(&report).expect("report serialises");
            let agency_code = agency.as_ref().map_or("", |a| a.code.as_str());
            let upload_id = db.store_upload(&NewUpload {
                wave_id: &wave.id,
                agency_code,
                uploaded_by: &uploaded_by,
                rows: report.len(),
                rejected,
                report_json: &report_json,
                contacts: &list.contacts,
            })?;
            Ok(UploadSummary { upload_id, rows: report.len(), accepted: list.accepted(), rejected, report })
        })
        .await
        .map_err(|e| ListError::Storage(StorageError::Task(e.to_string())))?
    }
}
