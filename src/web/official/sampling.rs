//! The sampling page of a wave: draw (or redraw) the sample, the current draw per stratum
//! and the record of draws; then invitations by channel, and the letters and mail merges.
//! Every action goes through the same calls as the API's.

use super::{admin_form, level_label, local_time, redirect, refused, thousands};
use crate::domain::account::Role;
use crate::service::sampling::SampleRequest;
use crate::storage::accounts::User;
use crate::storage::lists::DrawRecord;
use crate::web::AppState;
use crate::web::api::delivery::{self as delivery_api, ExportParams, SEND_ROLES};
use crate::web::api::sampling::{DRAW_ROLES, HISTORY_ROLES, draw_history, draw_sample};
use crate::web::auth::PageUser;
use crate::web::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/quan-ly/dot/{id}/mau", web::get().to(page))
        .route("/quan-ly/dot/{id}/mau", web::post().to(draw))
        .route("/quan-ly/dot/{id}/gui-thu-moi", web::post().to(send))
        .route("/quan-ly/dot/{id}/thu-moi", web::get().to(letters))
        .route("/quan-ly/dot/{id}/thu-moi.csv", web::get().to(letters_csv))
        .route("/quan-ly/dot/{id}/tin-nhan.csv", web::get().to(sms_csv));
}

/// Whoever may read the record of draws may open the page; drawing and sending are shown
/// only to those the API lets do them.
pub fn may_view(role: Role) -> bool {
    HISTORY_ROLES.contains(&role)
}

/// The design form as typed, kept to show it again beside its errors.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
struct DesignForm {
    level: String,
    by_agency: bool,
    method: String,
    margin: String,
    quota: String,
    total: String,
    reserve: String,
    seed: String,
}

type FieldErrors = BTreeMap<String, String>;

impl DesignForm {
    fn suggested(levels: &BTreeSet<String>) -> Self {
        let level = if levels.contains("commune") {
            "commune".into()
        } else {
            levels.iter().next().cloned().unwrap_or_default()
        };
        Self { level, method: "slovin".into(), margin: "0,05".into(), reserve: "0,2".into(), ..Self::default() }
    }

    fn from_fields(fields: &BTreeMap<String, Vec<String>>) -> Self {
        let first = |k: &str| fields.get(k).and_then(|v| v.first()).map(|v| v.trim().to_string()).unwrap_or_default();
        Self {
            level: first("level"),
            by_agency: !first("by_agency").is_empty(),
            method: first("method"),
            margin: first("margin"),
            quota: first("quota"),
            total: first("total"),
            reserve: first("reserve"),
            seed: first("seed"),
        }
    }

    /// The request the API would receive. Only the typing is checked here (numbers as
    /// Vietnamese write them: 0,05 and 1.000); what the numbers may be is the service's rule.
    fn request(&self) -> Result<SampleRequest, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut note = |field: &str, message: &str| {
            errors.insert(field.to_string(), message.to_string());
        };
        let margin = decimal(&self.margin).unwrap_or_else(|| {
            note("margin", "Sai số phải là một số, ví dụ 0,05.");
            None
        });
        let reserve = decimal(&self.reserve).unwrap_or_else(|| {
            note("reserve", "Tỷ lệ dự phòng phải là một số, ví dụ 0,2.");
            None
        });
        let quota = whole(&self.quota).unwrap_or_else(|| {
            note("quota", "Số người mỗi nhóm phải là số nguyên không âm.");
            None
        });
        let total = whole(&self.total).unwrap_or_else(|| {
            note("total", "Tổng cỡ mẫu phải là số nguyên không âm.");
            None
        });
        let seed = whole(&self.seed).unwrap_or_else(|| {
            note("seed", "Hạt giống phải là số nguyên không âm (để trống: hệ thống tự chọn).");
            None
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SampleRequest {
            level: self.level.clone(),
            by_agency: self.by_agency,
            method: self.method.clone(),
            margin,
            quota: quota.map(|q| q as usize),
            total: total.map(|t| t as usize),
            seed,
            reserve,
        })
    }
}

/// `None` when not a number; `Some(None)` when empty. Accepts a decimal comma.
fn decimal(text: &str) -> Option<Option<f64>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(None);
    }
    text.replace(',', ".").parse::<f64>().ok().filter(|v| v.is_finite()).map(Some)
}

/// `None` when not a whole number; `Some(None)` when empty. Accepts dots between groups
/// of three digits (1.000) and spaces.
fn whole(text: &str) -> Option<Option<u64>> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return Some(None);
    }
    let groups: Vec<&str> = text.split('.').collect();
    let grouped = groups.len() == 1 || ((1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3));
    if !grouped || !groups.iter().all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    groups.concat().parse().ok().map(Some)
}

fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn field_label(field: &str) -> &'static str {
    match field {
        "level" => "Cấp địa bàn",
        "method" => "Phương pháp",
        "margin" => "Sai số",
        "quota" => "Số người mỗi nhóm",
        "total" => "Tổng cỡ mẫu",
        "reserve" => "Tỷ lệ dự phòng",
        "seed" => "Hạt giống",
        "channel" => "Kênh gửi",
        _ => "Mẫu",
    }
}

fn method_label(method: &str) -> &'static str {
    match method {
        "slovin" => "Công thức Slovin (theo sai số)",
        "quota" => "Cùng một số người mỗi nhóm",
        "proportional" => "Tổng cỡ mẫu chia theo tỷ lệ",
        _ => "Phương pháp khác",
    }
}

fn vi_decimal(value: f64) -> String {
    value.to_string().replace('.', ",")
}

/// A recorded design in words.
fn describe(design: &serde_json::Value) -> String {
    let Ok(d) = serde_json::from_value::<SampleRequest>(design.clone()) else {
        return design.to_string();
    };
    let size = match d.method.as_str() {
        "slovin" => format!("công thức Slovin, sai số {}", vi_decimal(d.margin.unwrap_or(0.05))),
        "quota" => format!("{} người mỗi nhóm", d.quota.unwrap_or_default()),
        "proportional" => format!("tổng {} người chia theo tỷ lệ", d.total.unwrap_or_default()),
        other => other.to_string(),
    };
    format!(
        "nhóm theo {}{}; {size}; dự phòng {}",
        level_label(&d.level).to_lowercase(),
        if d.by_agency { " và cơ quan" } else { "" },
        vi_decimal(d.reserve.unwrap_or(0.2))
    )
}

#[derive(Deserialize)]
struct RecordedStratum {
    locality_code: String,
    agency_code: Option<String>,
    population: i64,
    sample: i64,
    reserve: i64,
}

/// What the page shows besides the form: loaded under the API's rule for reading draws.
struct Shown {
    wave: crate::storage::waves::Wave,
    draws: Vec<DrawRecord>,
    levels: BTreeSet<String>,
    locality_names: HashMap<String, String>,
    agency_names: HashMap<String, String>,
    emails: HashMap<String, String>,
    enumerators: Vec<(String, String)>,
    drawn: bool,
    invited: bool,
}

async fn load(state: &AppState, user: &User, wave_id: &str) -> Result<Shown, ApiError> {
    let (wave, draws) = draw_history(state, user, wave_id).await?;
    let (id, drawers) = (wave.id.clone(), draws.iter().map(|d| d.drawn_by.clone()).collect::<Vec<_>>());
    let may_send = SEND_ROLES.contains(&user.role);
    let (localities, agencies, emails, enumerators, drawn, invited) = state
        .survey
        .db
        .run(move |db| {
            let enumerators = if may_send { db.accounts_with_role(Role::Enumerator)? } else { Vec::new() };
            Ok((
                db.all_localities()?,
                db.all_agencies()?,
                db.account_emails(&drawers)?,
                enumerators,
                db.sample_drawn(&id)?,
                db.sample_invited(&id)?,
            ))
        })
        .await?;
    Ok(Shown {
        wave,
        draws,
        levels: localities.iter().map(|l| l.level.clone()).collect(),
        locality_names: localities.into_iter().map(|l| (l.code, l.name)).collect(),
        agency_names: agencies.into_iter().map(|a| (a.code, a.name)).collect(),
        emails: emails.into_iter().collect(),
        enumerators,
        drawn,
        invited,
    })
}

/// What went wrong with a form, and which form.
#[derive(Default)]
struct Problems {
    design: Option<DesignForm>,
    design_errors: FieldErrors,
    send_error: Option<String>,
}

async fn render(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    wave_id: &str,
    status: StatusCode,
    problems: Problems,
) -> HttpResponse {
    let shown = match load(state, user, wave_id).await {
        Ok(shown) => shown,
        Err(e) => return refused(state, req, &e),
    };
    let when = |d: &DrawRecord| local_time(state, d.drawn_at);
    let who = |d: &DrawRecord| shown.emails.get(&d.drawn_by).cloned().unwrap_or_else(|| d.drawn_by.clone());
    let current = shown.draws.first().filter(|_| shown.drawn).map(|d| {
        let strata: Vec<RecordedStratum> = serde_json::from_value(d.strata.clone()).unwrap_or_default();
        let sum = |f: fn(&RecordedStratum) -> i64| thousands(strata.iter().map(f).sum());
        let totals = context! { population => sum(|s| s.population), sample => sum(|s| s.sample), reserve => sum(|s| s.reserve) };
        let rows: Vec<_> = strata
            .iter()
            .map(|s| {
                let locality = shown.locality_names.get(&s.locality_code).cloned().unwrap_or_else(|| s.locality_code.clone());
                let agency = s.agency_code.as_ref().map(|a| shown.agency_names.get(a).cloned().unwrap_or_else(|| a.clone()));
                context! {
                    locality, agency,
                    population => thousands(s.population), sample => thousands(s.sample), reserve => thousands(s.reserve),
                }
            })
            .collect();
        context! { when => when(d), who => who(d), seed => d.seed, design => describe(&d.design), rows, totals }
    });
    let history: Vec<_> = shown
        .draws
        .iter()
        .map(|d| {
            let strata: Vec<RecordedStratum> = serde_json::from_value(d.strata.clone()).unwrap_or_default();
            let sample = thousands(strata.iter().map(|s| s.sample).sum());
            context! { when => when(d), who => who(d), seed => d.seed, design => describe(&d.design), sample, strata => strata.len() }
        })
        .collect();
    let design = problems.design.unwrap_or_else(|| DesignForm::suggested(&shown.levels));
    let design_errors: Vec<_> = problems
        .design_errors
        .iter()
        .map(|(field, message)| {
            // Named by its field unless the message names it already.
            let (label, message) = (field_label(field), capitalised(message));
            let text =
                if field == "form" || message.starts_with(label) { message } else { format!("{label}: {message}") };
            context! { field, text }
        })
        .collect();
    let field_errors: BTreeMap<&String, String> =
        problems.design_errors.iter().map(|(f, m)| (f, capitalised(m))).collect();
    let notice = notice(req);
    let methods: Vec<_> =
        ["slovin", "quota", "proportional"].iter().map(|m| context! { value => m, label => method_label(m) }).collect();
    state.page(
        req,
        status,
        "sampling.html",
        context! {
            title => format!("Chọn mẫu: {}", shown.wave.name),
            wave => context! { id => shown.wave.id, name => shown.wave.name, status_label => shown.wave.status.label(), closed => shown.wave.status == crate::domain::wave::WaveStatus::Closed },
            may_draw => DRAW_ROLES.contains(&user.role),
            may_send => SEND_ROLES.contains(&user.role),
            mail_enabled => state.survey.mail_enabled,
            invited => shown.invited,
            current, history, design, design_errors, field_errors, methods, notice,
            levels => shown.levels.iter().map(|l| context! { value => l, label => level_label(l) }).collect::<Vec<_>>(),
            enumerators => shown.enumerators.iter().map(|(id, email)| context! { id, email }).collect::<Vec<_>>(),
            send_error => problems.send_error.map(|m| capitalised(&m)),
        },
    )
}

/// What the last action did, carried by the redirect that followed it.
fn notice(req: &HttpRequest) -> Option<String> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string()).ok()?;
    if query.contains_key("da_rut") {
        return Some("Đã rút mẫu và ghi lại thiết kế, hạt giống.".into());
    }
    let sent: usize = query.get("da_gui")?.parse().ok()?;
    let unreachable: usize = query.get("khong_lien_lac").and_then(|n| n.parse().ok()).unwrap_or(0);
    Some(format!(
        "Đã tạo {} thư mời. {} người không liên lạc được qua kênh đã chọn.",
        thousands(sent as i64),
        thousands(unreachable as i64)
    ))
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else {
        return redirect("/dang-nhap");
    };
    render(&state, &req, &user, &path, StatusCode::OK, Problems::default()).await
}

async fn draw(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    user: Option<PageUser>,
) -> HttpResponse {
    let (user, fields) = match admin_form(&req, &body, user).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let typed = DesignForm::from_fields(&fields);
    let outcome = match typed.request() {
        Ok(request) => draw_sample(&state, &user, &path, request).await.map(|o| o.draw_id),
        Err(errors) => Err(ApiError::Invalid(errors)),
    };
    let design_errors = match outcome {
        Ok(_) => return redirect(&format!("/quan-ly/dot/{}/mau?da_rut=1", path.as_str())),
        Err(ApiError::Invalid(errors)) => errors,
        Err(e @ ApiError::Conflict(_)) => FieldErrors::from([("form".to_string(), e.to_string())]),
        Err(e) => return refused(&state, &req, &e),
    };
    let status =
        if design_errors.contains_key("form") { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(&state, &req, &user, &path, status, Problems { design: Some(typed), design_errors, send_error: None }).await
}

async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    user: Option<PageUser>,
) -> HttpResponse {
    let (user, fields) = match admin_form(&req, &body, user).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let channel = fields.get("channel").and_then(|v| v.first()).cloned().unwrap_or_default();
    let enumerators = fields.get("enumerators").cloned().unwrap_or_default();
    match delivery_api::send_invitations(&state, &user, &path, &channel, enumerators).await {
        Ok(outcome) => redirect(&format!(
            "/quan-ly/dot/{}/mau?da_gui={}&khong_lien_lac={}",
            path.as_str(),
            outcome.queued,
            outcome.unreachable
        )),
        Err(e @ (ApiError::Invalid(_) | ApiError::Gone(_))) => {
            let message = match &e {
                ApiError::Invalid(errors) => errors.values().cloned().collect::<Vec<_>>().join(" "),
                other => other.to_string(),
            };
            let problems = Problems { send_error: Some(message), ..Problems::default() };
            render(&state, &req, &user, &path, e.status_code(), problems).await
        }
        Err(e) => refused(&state, &req, &e),
    }
}

enum Export {
    Letters,
    LettersCsv,
    Sms,
}

async fn export(
    state: &AppState,
    req: &HttpRequest,
    wave_id: &str,
    params: &ExportParams,
    user: Option<PageUser>,
    kind: Export,
) -> HttpResponse {
    let Some(PageUser(user)) = user else {
        return redirect("/dang-nhap");
    };
    let response = match kind {
        Export::Letters => delivery_api::letters_html(state, &user, wave_id, params).await,
        Export::LettersCsv => delivery_api::letters_merge(state, &user, wave_id, params).await,
        Export::Sms => delivery_api::sms_merge(state, &user, wave_id, params).await,
    };
    response.unwrap_or_else(|e| refused(state, req, &e))
}

async fn letters(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
    user: Option<PageUser>,
) -> HttpResponse {
    export(&state, &req, &path, &params, user, Export::Letters).await
}

async fn letters_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
    user: Option<PageUser>,
) -> HttpResponse {
    export(&state, &req, &path, &params, user, Export::LettersCsv).await
}

async fn sms_csv(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ExportParams>,
    user: Option<PageUser>,
) -> HttpResponse {
    export(&state, &req, &path, &params, user, Export::Sms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_vietnamese_write_them() {
        assert_eq!(decimal("0,05"), Some(Some(0.05)));
        assert_eq!(decimal("0.05"), Some(Some(0.05)));
        assert_eq!(decimal(" "), Some(None));
        assert_eq!(decimal("năm phần trăm"), None);
        assert_eq!(whole("1.000"), Some(Some(1000)));
        assert_eq!(whole("12 345"), Some(Some(12345)));
        assert_eq!(whole(""), Some(None));
        assert_eq!(whole("1,5"), None);
        assert_eq!(whole("10.00"), None, "a dot only between groups of three");
        assert_eq!(whole("-3"), None);
    }

    #[test]
    fn a_typing_error_names_its_field_and_keeps_nothing_else_from_the_service() {
        let typed = DesignForm {
            level: "commune".into(),
            method: "quota".into(),
            quota: "mười".into(),
            margin: "0,05".into(),
            ..DesignForm::default()
        };
        let errors = typed.request().unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["quota"]);
        let ok = DesignForm { quota: "10".into(), seed: "2026".into(), ..typed }.request().unwrap();
        assert_eq!((ok.quota, ok.seed, ok.margin, ok.reserve), (Some(10), Some(2026), Some(0.05), None));
    }

    #[test]
    fn a_recorded_design_is_described_in_vietnamese() {
        let design = serde_json::json!({"level": "district", "by_agency": true, "method": "slovin", "margin": 0.05,
                                        "quota": null, "total": null, "seed": 7, "reserve": 0.2});
        assert_eq!(
            describe(&design),
            "nhóm theo quận, huyện, thị xã và cơ quan; công thức Slovin, sai số 0,05; dự phòng 0,2"
        );
    }
}
