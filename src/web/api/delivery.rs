//! Sending invitations to the sample, the exports that carry them, progress, and purge.

use crate::domain::account::Role;
use crate::domain::delivery::{Channel, invitation_sms};
use crate::domain::wave::WaveStatus;
use crate::service::delivery::{DeliveryError, InvitationLink, SendOutcome};
use crate::service::progress::WaveProgress;
use crate::storage::accounts::User;
use crate::storage::delivery::Addressee;
use crate::storage::waves::Wave;
use crate::web::AppState;
use crate::web::api::waves::{find_wave, issue_error};
use crate::web::auth::{ApiUser, require};
use crate::web::csv_export::{Cell, CsvWriter};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/invitations/send", web::post().to(send))
        .route("/waves/{id}/letters", web::get().to(letters))
        .route("/waves/{id}/letters.csv", web::get().to(letters_csv))
        .route("/waves/{id}/sms.csv", web::get().to(sms_csv))
        .route("/waves/{id}/progress", web::get().to(progress))
        .route("/waves/{id}/replacements", web::post().to(replace))
        .route("/waves/{id}/reminders", web::post().to(remind))
        .route("/waves/{id}/mail-template", web::put().to(set_mail_template))
        .route("/waves/{id}/purge", web::post().to(purge))
        .route("/assignments", web::get().to(assignments));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    channel: String,
    #[serde(default)]
    enumerators: Vec<String>,
}

/// Who may send invitations and export letters and messages (they carry contact data).
pub const SEND_ROLES: &[Role] = &[Role::Administrator];
/// Who may follow a wave's progress (counts only, no contact data).
pub const PROGRESS_ROLES: &[Role] = &[Role::Administrator, Role::Analyst];

#[utoipa::path(
    post,
    path = "/waves/{id}/invitations/send",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "`{queued, unreachable}`"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn send(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let outcome = send_invitations(&state, &user.0, &path, &body.channel, body.enumerators).await?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// Sends invitations of a wave on `channel` (`email`, `letter`, `sms`, `enumerator` or
/// `auto`), as the API and the sampling page do.
pub async fn send_invitations(
    state: &AppState,
    user: &User,
    wave_id: &str,
    channel_name: &str,
    enumerators: Vec<String>,
) -> Result<SendOutcome, ApiError> {
    require(user, SEND_ROLES)?;
    let wave = find_wave(state, wave_id).await?;
    if wave.status == WaveStatus::Closed {
        return Err(ApiError::wave_closed());
    }
    let channel = match channel_name {
        "auto" => None,
        other => Some(serde_json::from_value::<Channel>(json!(other)).map_err(|_| {
            ApiError::Invalid(
                [("channel".to_string(), "Kênh phải là email, letter, sms, enumerator hoặc auto.".to_string())].into(),
            )
        })?),
    };
    let outcome = state.survey.send_invitations(&wave.id, channel, enumerators).await.map_err(|e| match e {
        DeliveryError::Invalid(message) => ApiError::Invalid([("channel".to_string(), message)].into()),
        DeliveryError::Limit(e) => issue_error("channel", e),
        DeliveryError::Storage(e) => e.into(),
    })?;
    state
        .audit(user, "invitations.send", &format!("wave={} channel={channel_name} count={}", wave.id, outcome.queued))
        .await?;
    Ok(outcome)
}

fn invitation(state: &AppState, addressee: &Addressee) -> Result<InvitationLink, ApiError> {
    Ok(state.survey.invitation_link(&addressee.code)?)
}

/// `?reminders=1` on an export: only the people of the latest reminder run.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    reminders: Option<u8>,
}

async fn addressees(
    state: &AppState,
    user: &User,
    wave_id: &str,
    channel: Channel,
    params: &ExportParams,
) -> Result<(String, Vec<Addressee>), ApiError> {
    require(user, SEND_ROLES)?;
    let wave = find_wave(state, wave_id).await?;
    let id = wave.id.clone();
    let reminders = params.reminders == Some(1);
    let list = state.survey.db.run(move |db| db.addressees(&id, channel.as_str(), None, reminders)).await?;
    Ok((wave.name, list))
}

fn qr_svg(url: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|_| ApiError::Internal)?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(180, 180).build();
    // Inline in HTML: the XML declaration has no place there.
    Ok(svg.split_once("?>").map_or(svg.clone(), |(_, rest)| rest.to_string()))
}

/// One A4 page per person: address block, the code in large type, a QR code of the link,
/// and the notice on personal data. Printing the page prints the letters.
#[utoipa::path(
    get,
    path = "/waves/{id}/letters",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id"), ExportParams),
    responses(
        (status = 200, description = "print-ready letters, one A4 page each", content_type = "text/html"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn letters(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    letters_html(&state, &user.0, &path, &params).await
}

/// The printable letters, for the API and the pages alike.
pub async fn letters_html(
    state: &AppState,
    user: &User,
    wave_id: &str,
    params: &ExportParams,
) -> Result<HttpResponse, ApiError> {
    let (wave_name, list) = addressees(state, user, wave_id, Channel::Letter, params).await?;
    let mut letters = Vec::with_capacity(list.len());
    for a in &list {
        let invitation = invitation(state, a)?;
        letters.push(context! { name => a.name, address => a.address, grouped => invitation.grouped, qr => qr_svg(&invitation.url)?, url => invitation.url });
    }
    Ok(state.templates.page(
        actix_web::http::StatusCode::OK,
        "letters.html",
        context! {
            wave_name, letters,
            organisation => state.settings.organisation,
            retention_days => state.settings.retention_days,
            entry_url => format!("{}/", state.survey.base_url),
        },
    ))
}

fn csv_response(name: &str, csv: CsvWriter) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("Cache-Control", "no-store"))
        .body(csv.into_bytes())
}

/// Mail merge for the post office.
#[utoipa::path(
    get,
    path = "/waves/{id}/letters.csv",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id"), ExportParams),
    responses(
        (status = 200, description = "mail merge for the post office", content_type = "text/csv"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn letters_csv(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    letters_merge(&state, &user.0, &path, &params).await
}

pub async fn letters_merge(
    state: &AppState,
    user: &User,
    wave_id: &str,
    params: &ExportParams,
) -> Result<HttpResponse, ApiError> {
    let (_, list) = addressees(state, user, wave_id, Channel::Letter, params).await?;
    let mut csv = CsvWriter::new();
    csv.header(&["Họ tên", "Địa chỉ", "Mã khảo sát", "Đường dẫn"]);
    for a in &list {
        let invitation = invitation(state, a)?;
        let address = a.address.as_deref().unwrap_or_default();
        csv.row(&[
            Cell::Text(&a.name),
            Cell::Text(address),
            Cell::Text(&invitation.grouped),
            Cell::Text(&invitation.url),
        ]);
    }
    Ok(csv_response("thu-moi.csv", csv))
}

/// Messages ready for an SMS gateway: GSM-7 text without diacritics, with its length.
#[utoipa::path(
    get,
    path = "/waves/{id}/sms.csv",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id"), ExportParams),
    responses(
        (status = 200, description = "SMS texts (GSM-7) with length and parts", content_type = "text/csv"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn sms_csv(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    sms_merge(&state, &user.0, &path, &params).await
}

pub async fn sms_merge(
    state: &AppState,
    user: &User,
    wave_id: &str,
    params: &ExportParams,
) -> Result<HttpResponse, ApiError> {
    let (_, list) = addressees(state, user, wave_id, Channel::Sms, params).await?;
    let mut csv = CsvWriter::new();
    csv.header(&["Số điện thoại", "Nội dung", "Số ký tự GSM-7", "Số phần tin"]);
    for a in &list {
        let invitation = invitation(state, a)?;
        let sms = invitation_sms(&state.settings.organisation, &invitation.grouped, &invitation.url);
        let length = sms.gsm7_length.map_or(Cell::Text("UCS-2"), |n| Cell::Integer(n as i64));
        let phone = a.phone.as_deref().unwrap_or_default();
        csv.row(&[Cell::Text(phone), Cell::Text(&sms.text), length, Cell::Integer(sms.parts as i64)]);
    }
    Ok(csv_response("tin-nhan.csv", csv))
}

/// An enumerator's visits: whom to see, where, and the code to answer with.
#[utoipa::path(
    get,
    path = "/assignments",
    tag = "delivery",
    responses(
        (status = 200, description = "`{assignments}`: this enumerator's visits with codes"),
        (status = 403, description = "the role may not"),
    ),
    security(("bearer" = [])),
)]
async fn assignments(state: web::Data<AppState>, user: ApiUser) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Enumerator])?;
    let visits = state.survey.assignments(&user.0.id).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({"assignments": visits})))
}

#[utoipa::path(
    get,
    path = "/waves/{id}/progress",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "sampled, invited, delivered, answered per stratum and locality; queued messages by status"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn progress(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, progress) = wave_progress(&state, &user.0, &path).await?;
    Ok(HttpResponse::Ok().json(progress))
}

/// A wave and its progress, for those allowed to follow it.
pub async fn wave_progress(state: &AppState, user: &User, wave_id: &str) -> Result<(Wave, WaveProgress), ApiError> {
    require(user, PROGRESS_ROLES)?;
    let wave = find_wave(state, wave_id).await?;
    let progress = state.survey.progress(&wave.id).await?;
    Ok((wave, progress))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MailTemplate {
    subject: String,
    body: String,
}

/// The wave's own invitation email. Placeholders: {ten}, {ma}, {duong_dan}, {tu_choi},
/// {co_quan}; the notice on personal data is always appended.
#[utoipa::path(
    put,
    path = "/waves/{id}/mail-template",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 204, description = "template stored"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn set_mail_template(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<MailTemplate>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let wave = find_wave(&state, &path).await?;
    let subject: String = unicode_normalization::UnicodeNormalization::nfc(body.subject.trim()).collect();
    let text: String = unicode_normalization::UnicodeNormalization::nfc(body.body.as_str()).collect();
    crate::domain::delivery::check_template(&subject, &text)
        .map_err(|e| ApiError::Invalid([("body".to_string(), e)].into()))?;
    let id = wave.id.clone();
    state.survey.db.run(move |db| db.set_mail_template(&id, &subject, &text)).await?;
    state.audit(&user.0, "wave.mail_template", &wave.id).await?;
    Ok(HttpResponse::Ok().json(json!({"wave_id": wave.id})))
}

/// Refusals, bounces and unreachable people give way to the next reserve of their stratum;
/// the newcomers are invited by the next send.
#[utoipa::path(
    post,
    path = "/waves/{id}/replacements",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "people replaced from the reserve"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn replace(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let wave = find_wave(&state, &path).await?;
    let id = wave.id.clone();
    let summary = state.survey.db.run(move |db| db.replace_from_reserve(&id)).await?;
    let replaced: usize = summary.iter().map(|s| s.1).sum();
    state.audit(&user.0, "sample.replace", &format!("wave={} replaced={replaced}", wave.id)).await?;
    let strata: Vec<_> = summary
        .into_iter()
        .map(|(stratum, replaced, short)| json!({"stratum": stratum, "replaced": replaced, "reserve_exhausted": short}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"replaced": replaced, "strata": strata})))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReminderRequest {
    after_days: Option<i64>,
    max: Option<i64>,
}

/// A reminder run on demand, on every channel: emails (and SMS, with a gateway) are queued,
/// letters and other messages are exported with `?reminders=1`, visits are listed again.
#[utoipa::path(
    post,
    path = "/waves/{id}/reminders",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "reminders queued or exported, per channel"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn remind(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: Option<web::Json<ReminderRequest>>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let wave = find_wave(&state, &path).await?;
    if wave.status != WaveStatus::Open {
        return Err(ApiError::Conflict("Chỉ nhắc trong đợt đang khảo sát.".into()));
    }
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    let after_days = body.after_days.unwrap_or(state.settings.reminder_after_days);
    let max = body.max.unwrap_or(state.settings.reminder_max);
    let cutoff = chrono::Utc::now().naive_utc() - chrono::Duration::days(after_days);
    let id = wave.id.clone();
    let queued = state.survey.queued_channels();
    let reminded = state
        .survey
        .db
        .run(move |db| db.remind(&id, cutoff, max, &["email", "letter", "sms", "enumerator"], queued))
        .await?;
    let total: usize = reminded.iter().map(|r| r.1).sum();
    state.audit(&user.0, "reminders.send", &format!("wave={} count={total}", wave.id)).await?;
    let by_channel: serde_json::Map<String, serde_json::Value> =
        reminded.into_iter().map(|(c, n)| (c, json!(n))).collect();
    Ok(HttpResponse::Ok().json(json!({"reminded": total, "channels": by_channel})))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    #[serde(default)]
    force: bool,
}

#[utoipa::path(
    post,
    path = "/waves/{id}/purge",
    tag = "delivery",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "contacts deleted"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 409, description = "not in this state"),
    ),
    security(("bearer" = [])),
)]
async fn purge(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: Option<web::Json<PurgeRequest>>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let wave = find_wave(&state, &path).await?;
    let force = body.is_some_and(|b| b.force);
    if wave.status != WaveStatus::Closed {
        return Err(ApiError::Conflict("Chỉ xóa dữ liệu liên hệ của đợt đã kết thúc.".into()));
    }
    // The same rule as the scheduler's: closed, retention passed, not purged yet.
    let cutoff = chrono::Utc::now().naive_utc() - chrono::Duration::days(state.settings.retention_days);
    let id = wave.id.clone();
    let due = state.survey.db.run(move |db| db.waves_due_for_purge(cutoff)).await?.contains(&id);
    if !due && !force {
        return Err(ApiError::Conflict(format!(
            "Thời hạn lưu giữ {} ngày sau khi kết thúc đợt chưa hết; dùng \"force\": true để xóa ngay.",
            state.settings.retention_days
        )));
    }
    let id = wave.id.clone();
    let deleted = state.survey.db.run(move |db| db.purge_contacts(&id)).await?;
    state.audit(&user.0, "wave.purge", &format!("wave={} contacts={deleted} force={force}", wave.id)).await?;
    Ok(HttpResponse::Ok().json(json!({"wave_id": wave.id, "deleted": deleted})))
}
