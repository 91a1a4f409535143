//! Agencies' lists: upload (multipart), correct the column mapping, confirm, and the
//! per-line report (JSON, CSV, XLSX), streamed from storage a page at a time.

use crate::domain::account::Role;
use crate::domain::respondent_list::{Field, LineReport};
use crate::domain::wave::{WaveStatus, covers_agency};
use crate::scratch::{Scratch, SealedFile};
use crate::service::lists::{ListError, UploadSummary};
use crate::storage::lists::{ConfirmOutcome, Upload};
use crate::storage::{Database, StorageError};
use crate::web::AppState;
use crate::web::User;
use crate::web::api::waves::find_wave;
use crate::web::auth::{ApiUser, require, require_agency_access};
use crate::web::csv_export::{Cell, CsvWriter};
use crate::web::error::ApiError;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;

/// Who may upload lists and see their reports (agency officers only their agency's).
pub const LIST_ROLES: &[Role] = &[Role::Administrator, Role::AgencyOfficer];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/lists", web::post().to(upload))
        .route("/uploads/{id}", web::get().to(show))
        .route("/uploads/{id}/columns", web::put().to(remap))
        .route("/uploads/{id}/confirm", web::post().to(confirm))
        .route("/uploads/{id}/report.csv", web::get().to(report_csv_route))
        .route("/uploads/{id}/report.xlsx", web::get().to(report_xlsx_route));
}

/// A list file as received, on disk only while it is read and only encrypted (it holds
/// personal data, columns never kept included), and the form's other fields.
pub struct ReceivedList {
    pub file: SealedFile,
    pub fields: HashMap<String, String>,
}

/// Parts of an upload form (the file, `agency_code`, the page's CSRF token …).
const MAX_FORM_PARTS: usize = 16;

/// Reads a multipart form with a `file` field, refusing files over `limit` bytes.
pub async fn receive_list(scratch: &Scratch, mut form: Multipart, limit: usize) -> Result<ReceivedList, ApiError> {
    let mut file: Option<SealedFile> = None;
    let mut fields = HashMap::new();
    let mut parts = 0;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::BadRequest(format!("Dữ liệu tải lên không hợp lệ: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        // The form has a file and a field or two: anything much larger is not ours.
        parts += 1;
        if parts > MAX_FORM_PARTS || (name == "file" && file.is_some()) {
            return Err(ApiError::BadRequest(format!(
                "Biểu mẫu tải lên chỉ có một tệp và tối đa {MAX_FORM_PARTS} trường."
            )));
        }
        if name == "file" {
            let sealed = scratch.create().map_err(|_| ApiError::Internal)?;
            let mut out = sealed.open().map_err(|_| ApiError::Internal)?;
            let mut size = 0usize;
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Tệp tải lên bị gián đoạn: {e}")))?;
                size += chunk.len();
                if size > limit {
                    return Err(ApiError::BadRequest(format!("Tệp lớn hơn giới hạn {} MB.", limit / 1_048_576)));
                }
                out.write_all(&chunk).map_err(|_| ApiError::Internal)?;
            }
            file = Some(sealed).filter(|_| size > 0);
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                value.extend_from_slice(&chunk.map_err(|_| ApiError::BadRequest("Biểu mẫu không đọc được.".into()))?);
                if value.len() > 4096 {
                    return Err(ApiError::BadRequest(format!("Trường “{name}” quá dài.")));
                }
            }
            fields.insert(name, String::from_utf8_lossy(&value).trim().to_string());
        }
    }
    let file = file.ok_or_else(|| ApiError::BadRequest("Thiếu tệp danh sách (trường “file”).".into()))?;
    Ok(ReceivedList { file, fields })
}

/// Reads a received list into `wave` for `user`: an agency officer's own agency unless an
/// administrator names one.
pub async fn accept_list(
    state: &AppState,
    user: &User,
    wave_id: &str,
    received: ReceivedList,
) -> Result<UploadSummary, ApiError> {
    require(user, LIST_ROLES)?;
    let wave = find_wave(state, wave_id).await?;
    if wave.status == WaveStatus::Closed {
        return Err(ApiError::wave_closed());
    }
    let mut agency_code = received.fields.get("agency_code").cloned().filter(|c| !c.is_empty());
    if user.role == Role::AgencyOfficer && agency_code.is_none() {
        agency_code = user.agency_code.clone();
    }
    require_agency_access(user, agency_code.as_deref())?;
    let agency = match agency_code {
        Some(code) => {
            let (agency, tree) = state.survey.db.run(move |db| Ok((db.agency(&code)?, db.current_tree()?))).await?;
            let agency = agency.ok_or_else(|| {
                ApiError::Invalid([("agency_code".to_string(), "Cơ quan chưa có trong hệ thống.".to_string())].into())
            })?;
            // A list may only come from an agency the wave covers, seated in its area.
            covers_agency(&wave.agencies, &wave.localities, &agency.code, &agency.locality_code, &tree)
                .map_err(|out| ApiError::Forbidden(out.message().into()))?;
            Some(agency)
        }
        None => None,
    };
    let summary =
        state.survey.read_list(wave, agency, received.file, user.id.clone()).await.map_err(list_error("file"))?;
    state.audit(user, "list.upload", &format!("upload={} rows={}", summary.upload_id, summary.rows)).await?;
    Ok(summary)
}

fn list_error(field: &'static str) -> impl Fn(ListError) -> ApiError {
    move |e| match e {
        ListError::Failed { upload_id, error } => match list_error(field)(*error) {
            ApiError::Invalid(errors) => ApiError::InvalidUpload { upload_id, errors },
            other => other,
        },
        ListError::Storage(e) => e.into(),
        ListError::NotPending => ApiError::Conflict(e.to_string()),
        ListError::UploadFailed => failed_upload(),
        ListError::WaveClosed => ApiError::wave_closed(),
        other => ApiError::Invalid([(field.to_string(), other.to_string())].into()),
    }
}

/// A failed upload holds nothing to remap or confirm.
fn failed_upload() -> ApiError {
    ApiError::Conflict(ListError::UploadFailed.to_string())
}

#[utoipa::path(
    post,
    path = "/waves/{id}/lists",
    tag = "lists",
    params(("id" = String, Path, description = "the wave's id")),
    request_body(content_type = "multipart/form-data", description = "`file` (.csv or .xlsx) and optionally `agency_code`"),
    responses(
        (status = 201, description = "the upload's summary and per-line report, pending confirmation"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 422, description = "file unreadable or beyond a limit; the upload is kept as failed"),
    ),
    security(("bearer" = [])),
)]
async fn upload(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, LIST_ROLES)?;
    let received = receive_list(&state.survey.scratch, form, state.settings.max_upload_bytes).await?;
    let summary = accept_list(&state, &user.0, &path, received).await?;
    Ok(with_report(StatusCode::CREATED, state.survey.db.clone(), &summary))
}

/// An upload the user may manage: administrators any, agency officers their agency's.
pub async fn owned_upload(state: &AppState, user: &User, id: &str) -> Result<Upload, ApiError> {
    require(user, LIST_ROLES)?;
    let id = id.to_string();
    let upload = state
        .survey
        .db
        .run(move |db| db.upload(&id))
        .await?
        .filter(|u| u.status != "importing")
        .ok_or_else(|| ApiError::NotFound("Không tìm thấy danh sách.".into()))?;
    if user.role != Role::Administrator {
        require_agency_access(user, Some(&upload.agency_code))?;
    }
    Ok(upload)
}

#[utoipa::path(
    get,
    path = "/uploads/{id}",
    tag = "lists",
    params(("id" = String, Path, description = "the upload's id")),
    responses(
        (status = 200, description = "summary, status and report"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown upload"),
    ),
    security(("bearer" = [])),
)]
async fn show(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let upload = owned_upload(&state, &user.0, &path).await?;
    let summary = UploadSummary {
        upload_id: upload.id.clone(),
        status: upload.status.clone(),
        failure: upload.failure.clone(),
        rows: upload.rows as usize,
        accepted: upload.accepted as usize,
        rejected: upload.rejected as usize,
        columns: serde_json::from_str(&upload.columns).map_err(|_| ApiError::Internal)?,
    };
    Ok(with_report(StatusCode::OK, state.survey.db.clone(), &summary))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MappingRequest {
    /// Field → column, counted from 0.
    #[schema(value_type = HashMap<String, usize>)]
    columns: HashMap<Field, usize>,
}

/// Applies the officer's mapping to a pending upload: it is read again from its kept file.
pub async fn apply_mapping(
    state: &AppState,
    user: &User,
    upload_id: &str,
    fields: HashMap<Field, usize>,
) -> Result<UploadSummary, ApiError> {
    let upload = owned_upload(state, user, upload_id).await?;
    let summary = state.survey.remap_list(upload, fields).await.map_err(list_error("columns"))?;
    state.audit(user, "list.remap", &format!("upload={} rows={}", summary.upload_id, summary.rows)).await?;
    Ok(summary)
}

#[utoipa::path(
    put,
    path = "/uploads/{id}/columns",
    tag = "lists",
    params(("id" = String, Path, description = "the upload's id")),
    responses(
        (status = 200, description = "the upload read again with this mapping"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown upload"),
        (status = 409, description = "not in this state"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn remap(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<MappingRequest>,
) -> Result<HttpResponse, ApiError> {
    let summary = apply_mapping(&state, &user.0, &path, body.into_inner().columns).await?;
    Ok(with_report(StatusCode::OK, state.survey.db.clone(), &summary))
}

/// The body of a confirmation: an administrator resets a drawn sample only by saying so.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    #[serde(default)]
    pub reset_sample: bool,
}

/// Puts a pending upload into the frame. Once a sample is drawn, a new list changes the
/// frame every agency's sample came from, so only an administrator may confirm it, and only
/// by asking for the sample to be reset (it must then be drawn again).
pub async fn confirm_list(
    state: &AppState,
    user: &User,
    upload_id: &str,
    request: ConfirmRequest,
) -> Result<serde_json::Value, ApiError> {
    let upload = owned_upload(state, user, upload_id).await?;
    if upload.failed() {
        return Err(failed_upload());
    }
    let id = upload.id.clone();
    let reset_sample = request.reset_sample && user.role == Role::Administrator;
    match state.survey.db.run(move |db| db.confirm_upload(&id, reset_sample)).await? {
        ConfirmOutcome::Confirmed { replaced, sample_reset } => {
            let detail = format!("upload={} sample_reset={sample_reset}", upload.id);
            state.audit(user, "list.confirm", &detail).await?;
            Ok(json!({
                "upload_id": upload.id, "status": "confirmed", "accepted": upload.accepted,
                "replaced": replaced, "sample_reset": sample_reset,
            }))
        }
        ConfirmOutcome::NotFound => Err(ApiError::NotFound("Không tìm thấy danh sách.".into())),
        ConfirmOutcome::NotPending => {
            Err(ApiError::Conflict("Danh sách này đã được xác nhận hoặc đã bị thay thế.".into()))
        }
        ConfirmOutcome::WaveClosed => Err(ApiError::wave_closed()),
        ConfirmOutcome::SampleDrawn if user.role == Role::Administrator => Err(ApiError::Conflict(
            "Mẫu đã được chọn từ các danh sách hiện có: xác nhận danh sách này sẽ hủy mẫu của mọi cơ quan \
             trong đợt. Gửi {\"reset_sample\": true} để xác nhận và hủy mẫu, rồi chọn mẫu lại."
                .into(),
        )),
        ConfirmOutcome::SampleDrawn => Err(ApiError::Conflict(
            "Mẫu đã được chọn nên cơ quan không thể tự xác nhận danh sách mới: Nội vụ phải xác nhận \
             danh sách này và chọn mẫu lại."
                .into(),
        )),
        ConfirmOutcome::InvitationsSent => {
            Err(ApiError::Conflict("Thư mời đã được gửi từ mẫu hiện tại nên không thể thay danh sách nữa.".into()))
        }
    }
}

#[utoipa::path(
    post,
    path = "/uploads/{id}/confirm",
    tag = "lists",
    params(("id" = String, Path, description = "the upload's id")),
    request_body(content = ConfirmRequest, description = "optional: an empty body confirms without resetting the sample"),
    responses(
        (status = 200, description = "the list is in the sampling frame"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown upload"),
        (status = 409, description = "not in this state"),
    ),
    security(("bearer" = [])),
)]
async fn confirm(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The body is optional: an empty one confirms without resetting anything.
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        ConfirmRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("Dữ liệu không hợp lệ: {e}")))?
    };
    Ok(HttpResponse::Ok().json(confirm_list(&state, &user.0, &path, request).await?))
}

/// Report lines per database round trip.
const REPORT_PAGE: i64 = 5_000;

/// Where the page after `page` starts, if a full page suggests there is one.
fn next_page_after(page: &[LineReport]) -> Option<i64> {
    page.last().filter(|_| page.len() as i64 == REPORT_PAGE).map(|last| last.line as i64)
}

/// An upload's report lines in line order, a page at a time.
fn report_pages(db: Database, upload_id: String) -> impl Stream<Item = Result<Vec<LineReport>, StorageError>> {
    stream::try_unfold(Some(0i64), move |after| {
        let (db, id) = (db.clone(), upload_id.clone());
        async move {
            let Some(after) = after else { return Ok(None) };
            let page = db.run(move |db| db.report_page(&id, after, REPORT_PAGE)).await?;
            if page.is_empty() {
                return Ok(None);
            }
            let next = next_page_after(&page);
            Ok(Some((page, next)))
        }
    })
}

fn streaming_error(e: StorageError) -> actix_web::Error {
    tracing::error!(error = %e, "report stream failed");
    actix_web::error::ErrorInternalServerError("report")
}

/// The summary as JSON with its `report` array streamed after it.
fn with_report(status: StatusCode, db: Database, summary: &UploadSummary) -> HttpResponse {
    let mut head = serde_json::to_string(summary).expect("summary serialises");
    head.pop();
    head.push_str(",\"report\":[");
    let mut first = true;
    let lines = report_pages(db, summary.upload_id.clone()).map_ok(move |page| {
        let mut out = Vec::new();
        for line in page {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &line).expect("line serialises");
        }
        Bytes::from(out)
    });
    let body = stream::once(async move { Ok(Bytes::from(head)) })
        .chain(lines)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]}")) }))
        .map_err(streaming_error);
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body)
}

const REPORT_HEADER: [&str; 3] = ["Dòng", "Kết quả", "Lý do"];

#[derive(Clone, Copy)]
pub enum ReportFormat {
    Csv,
    Xlsx,
}

/// An upload's report as a file to download, for those who may manage the upload.
pub async fn report_file(
    state: &AppState,
    user: &User,
    upload_id: &str,
    format: ReportFormat,
) -> Result<HttpResponse, ApiError> {
    let upload = owned_upload(state, user, upload_id).await?;
    match format {
        ReportFormat::Csv => report_csv(state, upload),
        ReportFormat::Xlsx => report_xlsx(state, upload).await,
    }
}

#[utoipa::path(
    get,
    path = "/uploads/{id}/report.csv",
    tag = "lists",
    params(("id" = String, Path, description = "the upload's id")),
    responses(
        (status = 200, description = "the per-line report", content_type = "text/csv"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown upload"),
    ),
    security(("bearer" = [])),
)]
async fn report_csv_route(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    report_file(&state, &user.0, &path, ReportFormat::Csv).await
}

#[utoipa::path(
    get,
    path = "/uploads/{id}/report.xlsx",
    tag = "lists",
    params(("id" = String, Path, description = "the upload's id")),
    responses(
        (status = 200, description = "the per-line report as a workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown upload"),
    ),
    security(("bearer" = [])),
)]
async fn report_xlsx_route(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    report_file(&state, &user.0, &path, ReportFormat::Xlsx).await
}

/// The report as a spreadsheet-friendly CSV (UTF-8 with BOM so Excel shows diacritics).
fn report_csv(state: &AppState, upload: Upload) -> Result<HttpResponse, ApiError> {
    let mut head = CsvWriter::new();
    head.header(&REPORT_HEADER);
    let head = head.into_bytes();
    let lines = report_pages(state.survey.db.clone(), upload.id).map_ok(|page| {
        let mut csv = CsvWriter::continued();
        for line in page {
            csv.row(&[Cell::Integer(line.line as i64), Cell::Text(line.status.label()), Cell::Text(&line.reason)]);
        }
        Bytes::from(csv.into_bytes())
    });
    let body = stream::once(async move { Ok(Bytes::from(head)) }).chain(lines).map_err(streaming_error);
    Ok(super::download("text/csv; charset=utf-8", "bao-cao-danh-sach.csv").streaming(body))
}

/// The report as an Excel workbook, written in constant memory to a temporary file and
/// streamed from it.
async fn report_xlsx(state: &AppState, upload: Upload) -> Result<HttpResponse, ApiError> {
    let scratch = state.survey.scratch.clone();
    let file = state.survey.db.run(move |db| report_workbook(db, &scratch, &upload.id)).await?;
    super::stream_file(file, super::XLSX, "bao-cao-danh-sach.xlsx")
}

fn report_workbook(db: &Database, scratch: &Scratch, upload_id: &str) -> Result<SealedFile, StorageError> {
    use rust_xlsxwriter::Format;
    let failed = |e: rust_xlsxwriter::XlsxError| StorageError::Io(e.to_string());
    let io = |e: std::io::Error| StorageError::Io(e.to_string());
    let mut workbook = super::new_workbook(scratch).map_err(failed)?;
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(failed)?;
    sheet.set_name("Báo cáo").map_err(failed)?;
    sheet.set_column_width(1, 18).map_err(failed)?;
    sheet.set_column_width(2, 70).map_err(failed)?;
    let bold = Format::new().set_bold();
    for (column, title) in REPORT_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *title, &bold).map_err(failed)?;
    }
    let mut row = 1u32;
    let mut after = 0i64;
    loop {
        let page = db.report_page(upload_id, after, REPORT_PAGE)?;
        for line in &page {
            sheet.write_number(row, 0, line.line as f64).map_err(failed)?;
            sheet.write_string(row, 1, line.status.label()).map_err(failed)?;
            sheet.write_string(row, 2, &line.reason).map_err(failed)?;
            row += 1;
        }
        match next_page_after(&page) {
            Some(next) => after = next,
            None => break,
        }
    }
    let file = scratch.create().map_err(io)?;
    let mut out = std::io::BufWriter::new(file.open().map_err(io)?);
    workbook.save_to_writer(&mut out).map_err(failed)?;
    out.flush().map_err(io)?;
    drop(out);
    Ok(file)
}
