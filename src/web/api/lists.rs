//! Agencies' lists: upload (multipart), confirm, per-line report.

use crate::domain::account::Role;
use crate::domain::wave::WaveStatus;
use crate::service::lists::ListError;
use crate::storage::lists::ConfirmOutcome;
use crate::web::AppState;
use crate::web::api::waves::find_wave;
use crate::web::auth::{ApiUser, require, require_agency_access};
use crate::web::error::ApiError;
use actix_multipart::Multipart;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;
use std::io::Write;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/lists", web::post().to(upload))
        .route("/uploads/{id}/confirm", web::post().to(confirm))
        .route("/uploads/{id}/report.csv", web::get().to(report_csv));
}

/// The uploaded file, kept on disk only while it is read: it holds personal data.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn upload(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator, Role::AgencyOfficer])?;
    let wave = find_wave(&state, &path).await?;
    if wave.status == WaveStatus::Closed {
        return Err(ApiError::Gone("Đợt khảo sát đã kết thúc.".into()));
    }
    let limit = state.settings.max_upload_bytes;
    let file = TempFile(std::env::temp_dir().join(format!("phieu-list-{}", uuid::Uuid::new_v4().simple())));
    let mut agency_code: Option<String> = None;
    let mut received = false;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::BadRequest(format!("Dữ liệu tải lên không hợp lệ: {e}")))?;
        match field.name() {
            Some("file") => {
                let mut out = std::fs::File::create(&file.0).map_err(|_| ApiError::Internal)?;
                let mut size = 0usize;
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Tệp tải lên bị gián đoạn: {e}")))?;
                    size += chunk.len();
                    if size > limit {
                        return Err(ApiError::BadRequest(format!("Tệp lớn hơn giới hạn {} MB.", limit / 1_048_576)));
                    }
                    out.write_all(&chunk).map_err(|_| ApiError::Internal)?;
                }
                received = true;
            }
            Some("agency_code") => {
                let mut value = Vec::new();
                while let Some(chunk) = field.next().await {
                    value.extend_from_slice(
                        &chunk.map_err(|_| ApiError::BadRequest("Mã cơ quan không đọc được.".into()))?,
                    );
                }
                agency_code = Some(String::from_utf8_lossy(&value).trim().to_string()).filter(|c| !c.is_empty());
            }
            _ => {}
        }
    }
    if !received {
        return Err(ApiError::BadRequest("Thiếu tệp danh sách (trường “file”).".into()));
    }
    // An agency officer uploads its own agency's list.
    if user.0.role == Role::AgencyOfficer && agency_code.is_none() {
        agency_code = user.0.agency_code.clone();
    }
    require_agency_access(&user.0, agency_code.as_deref())?;
    let agency = match &agency_code {
        Some(code) => {
            let code = code.clone();
            Some(state.survey.db.run(move |db| db.agency(&code)).await?.ok_or_else(|| {
                ApiError::Invalid([("agency_code".to_string(), "Cơ quan chưa có trong hệ thống.".to_string())].into())
            })?)
        }
        None => None,
    };
    let summary =
        state.survey.read_list(wave, agency, file.0.clone(), user.0.id.clone()).await.map_err(|e| match e {
            ListError::Storage(e) => e.into(),
            other => ApiError::Invalid([("file".to_string(), other.to_string())].into()),
        })?;
    drop(file);
    state.audit(&user.0, "list.upload", &format!("upload={} rows={}", summary.upload_id, summary.rows)).await?;
    Ok(HttpResponse::Created().json(summary))
}

async fn owned_upload(state: &AppState, user: &ApiUser, id: &str) -> Result<crate::storage::lists::Upload, ApiError> {
    require(&user.0, &[Role::Administrator, Role::AgencyOfficer])?;
    let id = id.to_string();
    let upload = state
        .survey
        .db
        .run(move |db| db.upload(&id))
        .await?
        .ok_or_else(|| ApiError::NotFound("Không tìm thấy danh sách.".into()))?;
    if user.0.role != Role::Administrator {
        require_agency_access(&user.0, Some(&upload.agency_code))?;
    }
    Ok(upload)
}

async fn confirm(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let upload = owned_upload(&state, &user, &path).await?;
    let id = upload.id.clone();
    match state.survey.db.run(move |db| db.confirm_upload(&id)).await? {
        ConfirmOutcome::Confirmed { replaced, sample_reset } => {
            state.audit(&user.0, "list.confirm", &format!("upload={}", upload.id)).await?;
            Ok(HttpResponse::Ok().json(json!({
                "upload_id": upload.id, "status": "confirmed", "accepted": upload.accepted,
                "replaced": replaced, "sample_reset": sample_reset,
            })))
        }
        ConfirmOutcome::NotFound => Err(ApiError::NotFound("Không tìm thấy danh sách.".into())),
        ConfirmOutcome::NotPending => {
            Err(ApiError::Conflict("Danh sách này đã được xác nhận hoặc đã bị thay thế.".into()))
        }
    }
}

/// The report as a spreadsheet-friendly CSV (UTF-8 with BOM so Excel shows diacritics).
async fn report_csv(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let upload = owned_upload(&state, &user, &path).await?;
    let lines: Vec<crate::domain::respondent_list::LineReport> =
        serde_json::from_str(&upload.report).map_err(|_| ApiError::Internal)?;
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let write =
        |w: &mut csv::Writer<Vec<u8>>, record: [&str; 3]| w.write_record(record).map_err(|_| ApiError::Internal);
    write(&mut writer, ["Dòng", "Kết quả", "Lý do"])?;
    for line in &lines {
        let status = match line.status {
            crate::domain::respondent_list::LineStatus::Accepted => "Nhận",
            crate::domain::respondent_list::LineStatus::Warning => "Nhận, cần lưu ý",
            crate::domain::respondent_list::LineStatus::Duplicate => "Trùng, đã gộp",
            crate::domain::respondent_list::LineStatus::Rejected => "Loại",
        };
        write(&mut writer, [&line.line.to_string(), status, &line.reason])?;
    }
    let body = writer.into_inner().map_err(|_| ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"bao-cao-danh-sach.csv\""))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}
