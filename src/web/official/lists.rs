//! Pages for agencies' lists: upload a file for a wave, see how each line was read, correct
//! which column holds what, download the report, confirm. Every action goes through the
//! same calls as the API's.

use super::{local_time, redirect, refused, session_expired, signed_form, thousands};
use crate::domain::account::Role;
use crate::domain::respondent_list::Field;
use crate::service::lists::ListColumns;
use crate::storage::accounts::User;
use crate::storage::lists::Upload;
use crate::web::AppState;
use crate::web::api::lists::{
    ConfirmRequest, LIST_ROLES, ReportFormat, accept_list, apply_mapping, confirm_list, owned_upload, receive_list,
    report_file,
};
use crate::web::api::waves::find_wave;
use crate::web::auth::{CSRF_FIELD, PageUser, csrf_valid, require};
use crate::web::error::ApiError;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/quan-ly/dot/{id}/danh-sach", web::get().to(wave_lists))
        .route("/quan-ly/dot/{id}/danh-sach", web::post().to(upload))
        .route("/quan-ly/danh-sach/{id}", web::get().to(upload_page))
        .route("/quan-ly/danh-sach/{id}/cot", web::post().to(remap))
        .route("/quan-ly/danh-sach/{id}/xac-nhan", web::post().to(confirm))
        .route("/quan-ly/danh-sach/{id}/bao-cao.csv", web::get().to(report_csv))
        .route("/quan-ly/danh-sach/{id}/bao-cao.xlsx", web::get().to(report_xlsx));
}

pub fn may_upload(role: Role) -> bool {
    LIST_ROLES.contains(&role)
}

/// Problem lines shown on the page; the downloads carry every line.
const SHOWN_PROBLEMS: i64 = 200;

fn status_label(status: &str) -> &'static str {
    match status {
        "pending" => "Chờ xác nhận",
        "confirmed" => "Đã xác nhận",
        "replaced" => "Đã được thay bằng danh sách mới",
        "failed" => "Không đọc được",
        _ => "Đang đọc",
    }
}

/// The wave's lists page: the upload form and the uploads so far (an agency officer's own).
async fn wave_lists(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else { return redirect("/dang-nhap") };
    render_wave_lists(&state, &req, &user, &path, StatusCode::OK, None).await
}

async fn render_wave_lists(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    wave_id: &str,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let found = async {
        require(user, LIST_ROLES)?;
        let wave = find_wave(state, wave_id).await?;
        let own = (user.role == Role::AgencyOfficer).then(|| user.agency_code.clone().unwrap_or_default());
        let id = wave.id.clone();
        let (uploads, agencies) =
            state.survey.db.run(move |db| Ok((db.uploads_of_wave(&id, own.as_deref())?, db.all_agencies()?))).await?;
        Ok::<_, ApiError>((wave, uploads, agencies))
    };
    let (wave, uploads, agencies) = match found.await {
        Ok(found) => found,
        Err(e) => return refused(state, req, &e),
    };
    let agency_name =
        |code: &str| agencies.iter().find(|a| a.code == code).map_or(code.to_string(), |a| a.name.clone());
    let uploads: Vec<_> = uploads
        .iter()
        .map(|u| {
            context! {
                id => u.id, agency => agency_name(&u.agency_code), when => local_time(state, u.uploaded_at),
                status => status_label(&u.status), failure => u.failure, rows => thousands(u.rows), accepted => thousands(u.accepted),
                rejected => thousands(u.rejected),
            }
        })
        .collect();
    let choices: Vec<_> = if user.role == Role::Administrator {
        agencies.iter().map(|a| context! { code => a.code, name => a.name }).collect()
    } else {
        Vec::new()
    };
    let own_agency = user.agency_code.as_deref().map(agency_name);
    state.page(
        req,
        status,
        "lists.html",
        context! {
            title => format!("Danh sách người đã giải quyết thủ tục: {}", wave.name),
            wave => context! { id => wave.id, name => wave.name, status_label => wave.status.label() },
            uploads, agencies => choices, own_agency, error,
            max_megabytes => state.settings.max_upload_bytes / 1_048_576,
        },
    )
}

async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
    form: Multipart,
) -> HttpResponse {
    let Some(PageUser(user)) = user else { return redirect("/dang-nhap") };
    let unreadable = |e: ApiError| refused(&state, &req, &e);
    if let Err(e) = require(&user, LIST_ROLES) {
        return unreadable(e);
    }
    let received = match receive_list(&state.survey.scratch, form, state.settings.max_upload_bytes).await {
        Ok(received) => received,
        Err(ApiError::BadRequest(message)) => {
            return render_wave_lists(&state, &req, &user, &path, StatusCode::BAD_REQUEST, Some(message)).await;
        }
        Err(e) => return unreadable(e),
    };
    if !csrf_valid(&req, received.fields.get(CSRF_FIELD).map(String::as_str)) {
        return session_expired();
    }
    match accept_list(&state, &user, &path, received).await {
        Ok(summary) => redirect(&format!("/quan-ly/danh-sach/{}", summary.upload_id)),
        Err(ApiError::Invalid(errors) | ApiError::InvalidUpload { errors, .. }) => {
            let message = errors.into_values().collect::<Vec<_>>().join(" ");
            render_wave_lists(&state, &req, &user, &path, StatusCode::UNPROCESSABLE_ENTITY, Some(message)).await
        }
        Err(e) => unreadable(e),
    }
}

async fn upload_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else { return redirect("/dang-nhap") };
    let notice = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("ok").cloned())
        .map(|_| "Đã đọc lại danh sách theo cách chọn cột mới.");
    render_upload(&state, &req, &user, &path, StatusCode::OK, notice.map(str::to_string), None).await
}

async fn render_upload(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    upload_id: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> HttpResponse {
    let found = async {
        let upload = owned_upload(state, user, upload_id).await?;
        let wave = find_wave(state, &upload.wave_id).await?;
        let id = upload.id.clone();
        let wave_id = upload.wave_id.clone();
        let (problems, sample_drawn) = state
            .survey
            .db
            .run(move |db| Ok((db.problem_lines(&id, SHOWN_PROBLEMS)?, db.sample_drawn(&wave_id)?)))
            .await?;
        let columns: ListColumns = serde_json::from_str(&upload.columns).map_err(|_| ApiError::Internal)?;
        Ok::<_, ApiError>((upload, wave, problems, columns, sample_drawn))
    };
    let (upload, wave, problems, columns, sample_drawn): (Upload, _, _, _, _) = match found.await {
        Ok(found) => found,
        Err(e) => return refused(state, req, &e),
    };
    let fields: Vec<_> = Field::ALL.iter().map(|f| context! { value => f.as_str(), label => f.label() }).collect();
    let chosen: HashMap<usize, &str> =
        columns.fields.0.iter().map(|(field, column)| (*column, field.as_str())).collect();
    let column_rows: Vec<_> = columns
        .labels
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let field = chosen.get(&index).copied().unwrap_or("");
            context! { index, number => index + 1, label, field, dropped => columns.dropped.contains(&index) }
        })
        .collect();
    let problems: Vec<_> =
        problems.iter().map(|p| context! { line => p.line, status => p.status.label(), reason => p.reason }).collect();
    state.page(
        req,
        status,
        "upload.html",
        context! {
            title => "Kết quả đọc danh sách",
            wave => context! { id => wave.id, name => wave.name },
            upload => context! {
                id => upload.id, status => upload.status, status_label => status_label(&upload.status),
                failure => upload.failure,
                when => local_time(state, upload.uploaded_at), rows => thousands(upload.rows),
                accepted => thousands(upload.accepted), rejected => thousands(upload.rejected),
                problems_shown => problems.len(),
            },
            pending => upload.status == "pending", sample_drawn,
            may_reset => user.role == Role::Administrator, problems, columns => column_rows, fields, notice, error,
        },
    )
}

/// The mapping chosen on the page: `col-{n}` holds the field of column n, or nothing.
fn chosen_mapping(fields: &std::collections::BTreeMap<String, Vec<String>>) -> Result<HashMap<Field, usize>, String> {
    let mut mapping = HashMap::new();
    for (name, values) in fields {
        let (Some(column), Some(value)) = (name.strip_prefix("col-"), values.first()) else { continue };
        if value.is_empty() {
            continue;
        }
        let column: usize = column.parse().map_err(|_| "Biểu mẫu chọn cột không hợp lệ.".to_string())?;
        let field = Field::parse(value).ok_or_else(|| "Biểu mẫu chọn cột không hợp lệ.".to_string())?;
        if mapping.insert(field, column).is_some() {
            return Err(format!("“{}” được chọn cho hai cột: mỗi thông tin chỉ lấy từ một cột.", field.label()));
        }
    }
    Ok(mapping)
}

async fn remap(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
    body: web::Bytes,
) -> HttpResponse {
    let (user, fields) = match signed_form(&req, &body, user).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let invalid = |message: String| {
        render_upload(&state, &req, &user, &path, StatusCode::UNPROCESSABLE_ENTITY, None, Some(message))
    };
    let mapping = match chosen_mapping(&fields) {
        Ok(mapping) => mapping,
        Err(message) => return invalid(message).await,
    };
    match apply_mapping(&state, &user, &path, mapping).await {
        Ok(summary) => redirect(&format!("/quan-ly/danh-sach/{}?ok=1", summary.upload_id)),
        Err(ApiError::Invalid(errors) | ApiError::InvalidUpload { errors, .. }) => {
            invalid(errors.into_values().collect::<Vec<_>>().join(" ")).await
        }
        Err(e) => refused(&state, &req, &e),
    }
}

async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
    body: web::Bytes,
) -> HttpResponse {
    let (user, fields) = match signed_form(&req, &body, user).await {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let request = ConfirmRequest { reset_sample: fields.contains_key("reset_sample") };
    match confirm_list(&state, &user, &path, request).await {
        Ok(_) => redirect(&format!("/quan-ly/danh-sach/{path}")),
        Err(e) => refused(&state, &req, &e),
    }
}

async fn report(
    state: &AppState,
    req: &HttpRequest,
    upload_id: &str,
    user: Option<PageUser>,
    format: ReportFormat,
) -> HttpResponse {
    let Some(PageUser(user)) = user else { return redirect("/dang-nhap") };
    report_file(state, &user, upload_id, format).await.unwrap_or_else(|e| refused(state, req, &e))
}

async fn report_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
) -> HttpResponse {
    report(&state, &req, &path, user, ReportFormat::Csv).await
}

async fn report_xlsx(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
) -> HttpResponse {
    report(&state, &req, &path, user, ReportFormat::Xlsx).await
}
