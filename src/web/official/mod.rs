//! Pages for officials: sign-in, the list of waves, opening and closing, results; sampling,
//! progress and enumerators' visits in their own modules.

mod assignments;
mod lists;
mod password;
mod progress;
mod report;
mod sampling;

use super::AppState;
use super::api::waves::{ResultsParams, find_wave};
use super::auth::{CSRF_FIELD, PageUser, csrf_valid, session_cookie, token_hash};
use super::citizen::form_fields;
use super::error::ApiError;
use crate::domain::account::Role;
use crate::domain::indices::Figure;
pub(super) use crate::domain::rounding::one_decimal;
/// Counts on pages are written as Vietnamese write them (one rule, the domain's).
pub(crate) use crate::domain::text::thousands;
use crate::domain::wave::WaveStatus;
use crate::service::report_text::unit_name;
use crate::service::results::wave_results;
use crate::service::waves::{WaveError, WaveRequest};
use crate::storage::accounts::TokenKind;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dang-nhap", web::get().to(login_page))
        .route("/dang-nhap", web::post().to(login))
        .route("/dang-xuat", web::post().to(logout))
        .route("/quan-ly", web::get().to(dashboard))
        .route("/quan-ly/dot", web::post().to(create_wave))
        .route("/quan-ly/dot/{id}", web::get().to(results_page))
        .route("/quan-ly/dot/{id}/mo", web::post().to(open_wave))
        .route("/quan-ly/dot/{id}/dong", web::post().to(close_wave))
        .configure(sampling::routes)
        .configure(progress::routes)
        .configure(report::routes)
        .configure(assignments::routes)
        .configure(lists::routes)
        .configure(password::routes);
}

/// Figures built on fewer valid answers than this are hidden on the page.
pub(super) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to.to_string())).finish()
}

async fn login_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    state.page(&req, StatusCode::OK, "login.html", context! { title => "Đăng nhập", email => "" })
}

async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let fields = form_fields(&body);
    let first = |k: &str| fields.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let email = first("email");
    let retry = |status, error: &str| {
        state.page(&req, status, "login.html", context! { title => "Đăng nhập", email => email.clone(), error })
    };
    if !csrf_valid(&req, Some(&first(CSRF_FIELD))) {
        return retry(StatusCode::FORBIDDEN, "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.");
    }
    let user = match state.sign_in(&req, &email, &first("password")).await {
        Ok(user) => user,
        Err(ApiError::RetryLater(secs)) => {
            let mut response = retry(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Có quá nhiều lần đăng nhập đang chờ từ mạng của bạn, vui lòng thử lại sau {secs} giây."),
            );
            response
                .headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(secs));
            return response;
        }
        Err(_) => return retry(StatusCode::UNAUTHORIZED, "Email hoặc mật khẩu không đúng."),
    };
    let Ok((token, _)) = state.issue_token(&user, TokenKind::Session).await else {
        return retry(StatusCode::INTERNAL_SERVER_ERROR, "Lỗi máy chủ, vui lòng thử lại.");
    };
    // Enumerators go straight to their visits.
    let mut response = redirect(if user.role == Role::Enumerator { assignments::PATH } else { "/quan-ly" });
    let _ = response.add_cookie(&session_cookie(&token, state.settings.secure_cookies, state.settings.token_ttl));
    response
}

/// Signs out whatever session the cookie names, CSRF token or not: the cookie is cleared,
/// so the session must end with it. A forged cross-site sign-out is not possible anyway: the
/// session cookie is `SameSite=Strict`, so such a request carries none.
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(cookie) = req.cookie(super::auth::SESSION_COOKIE) {
        let hash = token_hash(cookie.value());
        if state.survey.db.run(move |db| db.revoke_token(&hash)).await.is_err() {
            // Keep the cookie rather than clear it over a session that stays valid.
            return HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Lỗi máy chủ, chưa đăng xuất được, vui lòng thử lại.");
        }
    }
    let mut response = redirect("/dang-nhap");
    let mut gone = Cookie::new(super::auth::SESSION_COOKIE, "");
    gone.set_path("/");
    gone.make_removal();
    let _ = response.add_cookie(&gone);
    response
}

async fn dashboard(state: web::Data<AppState>, req: HttpRequest, user: Option<PageUser>) -> HttpResponse {
    let Some(PageUser(user)) = user else {
        return redirect("/dang-nhap");
    };
    let waves = match state.survey.db.run(|db| db.waves()).await {
        Ok(waves) => waves,
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    let waves: Vec<_> = waves
        .iter()
        .map(|w| context! { id => w.id, name => w.name, form_id => w.form_id, status => w.status, status_label => w.status.label() })
        .collect();
    let forms: Vec<_> = state.survey.forms.all_newest().map(|f| context! { id => f.id, title => f.title }).collect();
    let notice = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("ok").cloned())
        .map(|_| "Đã lưu thay đổi.");
    state.page(
        &req,
        StatusCode::OK,
        "dashboard.html",
        context! {
            title => "Các đợt khảo sát", waves, forms, notice, is_admin => user.role == Role::Administrator,
            nav => nav(&user),
        },
    )
}

/// A form post refused because its CSRF token is missing or stale.
pub(super) fn session_expired() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body("Phiên làm việc đã hết hạn, vui lòng tải lại trang.")
}

type FormFields = std::collections::BTreeMap<String, Vec<String>>;

/// Page forms: signed in and CSRF-checked; the user and the fields, or the response.
pub(super) async fn signed_form(
    req: &HttpRequest,
    body: &[u8],
    user: Option<PageUser>,
) -> Result<(crate::storage::accounts::User, FormFields), HttpResponse> {
    let Some(PageUser(user)) = user else {
        return Err(redirect("/dang-nhap"));
    };
    let fields = form_fields(body);
    if !csrf_valid(req, fields.get(CSRF_FIELD).and_then(|v| v.first()).map(String::as_str)) {
        return Err(session_expired());
    }
    Ok((user, fields))
}

/// Page forms of administrators only.
pub(super) async fn admin_form(
    req: &HttpRequest,
    body: &[u8],
    user: Option<PageUser>,
) -> Result<(crate::storage::accounts::User, FormFields), HttpResponse> {
    let (user, fields) = signed_form(req, body, user).await?;
    if user.role != Role::Administrator {
        return Err(HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("Tài khoản không có quyền thực hiện thao tác này."));
    }
    Ok((user, fields))
}

/// A stored UTC time as the officials' local time.
pub(super) fn local_time(state: &AppState, at: chrono::NaiveDateTime) -> String {
    chrono::TimeZone::from_utc_datetime(&state.survey.utc_offset, &at).format("%d/%m/%Y %H:%M").to_string()
}

async fn create_wave(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    user: Option<PageUser>,
) -> HttpResponse {
    let (user, fields) = match admin_form(&req, &body, user).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let first = |k: &str| fields.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let request = WaveRequest { name: first("name"), form_id: first("form_id"), ..WaveRequest::default() };
    match state.survey.create_wave(request).await {
        Ok(id) => match state.audit(&user, "wave.create", &id).await {
            Ok(()) => redirect("/quan-ly?ok=1"),
            Err(_) => HttpResponse::InternalServerError().finish(),
        },
        Err(WaveError::Invalid(errors)) => HttpResponse::UnprocessableEntity()
            .content_type("text/plain; charset=utf-8")
            .body(errors.into_values().collect::<Vec<_>>().join("\n")),
        Err(WaveError::Storage(_)) => HttpResponse::InternalServerError().finish(),
    }
}

async fn open_wave(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    user: Option<PageUser>,
) -> HttpResponse {
    change_status(&state, &req, &path, &body, user, WaveStatus::Open).await
}

async fn close_wave(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    user: Option<PageUser>,
) -> HttpResponse {
    change_status(&state, &req, &path, &body, user, WaveStatus::Closed).await
}

async fn change_status(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    body: &[u8],
    user: Option<PageUser>,
    next: WaveStatus,
) -> HttpResponse {
    let (user, _) = match admin_form(req, body, user).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    match state.change_wave_status(&user, id, next).await {
        Ok(crate::storage::waves::TransitionOutcome::Done(_)) => redirect("/quan-ly?ok=1"),
        Ok(crate::storage::waves::TransitionOutcome::NotFound) => {
            HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("Không tìm thấy đợt khảo sát.")
        }
        Ok(crate::storage::waves::TransitionOutcome::NotAllowed(current)) => {
            HttpResponse::Conflict().content_type("text/plain; charset=utf-8").body(format!(
                "Đợt khảo sát đang ở trạng thái “{}”, không chuyển sang “{}” được.",
                current.label(),
                next.label()
            ))
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// Which of the wave pages the official may open, by the rules of the API behind them.
fn nav(user: &crate::storage::accounts::User) -> minijinja::Value {
    context! {
        lists => lists::may_upload(user.role),
        sampling => sampling::may_view(user.role),
        progress => progress::may_view(user.role),
        assignments => user.role == Role::Enumerator,
    }
}

/// A refusal or failure of a page, explained in Vietnamese, with the way back.
pub(super) fn refused(state: &AppState, req: &HttpRequest, error: &ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    if matches!(error, ApiError::Unauthorized) {
        return redirect("/dang-nhap");
    }
    let message = match error {
        ApiError::Invalid(errors) => errors.values().cloned().collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    };
    let title = match error.status_code() {
        StatusCode::FORBIDDEN => "Không có quyền truy cập",
        StatusCode::NOT_FOUND => "Không tìm thấy",
        _ => "Không thực hiện được",
    };
    let link = context! { href => "/quan-ly", label => "Về danh sách đợt khảo sát" };
    state.page(req, error.status_code(), "message.html", context! { title, paragraphs => vec![message], link })
}

/// Levels are data; the usual ones get their Vietnamese names.
pub(super) fn level_label(level: &str) -> String {
    match level {
        "province" => "Tỉnh, thành phố".into(),
        "district" => "Quận, huyện, thị xã".into(),
        "commune" => "Xã, phường, thị trấn".into(),
        other => other.into(),
    }
}

/// What the results page adds to the results' parameters.
#[derive(serde::Deserialize)]
struct ResultsPageParams {
    /// Also list the units without answers (hidden by default: at commune level they are
    /// most of the table while a wave is young).
    all: Option<String>,
}

async fn results_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ResultsParams>,
    page: web::Query<ResultsPageParams>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else {
        return redirect("/dang-nhap");
    };
    let wave = match find_wave(&state, &path).await {
        Ok(w) => w,
        Err(_) => {
            return HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("Không tìm thấy đợt khảo sát.");
        }
    };
    let query = match params.query_for(&user, &wave) {
        Ok(q) => q,
        Err(e) => {
            let message = match e {
                ApiError::Forbidden(m) => m,
                _ => "Tài khoản không có quyền xem kết quả.".into(),
            };
            return HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body(message);
        }
    };
    let Ok(form) = state.survey.wave_form(&wave.form_hash).await else {
        return HttpResponse::InternalServerError().finish();
    };
    let Ok(suppression) = state.survey.suppression(&wave, &form).await else {
        return HttpResponse::InternalServerError().finish();
    };
    let scope = query.agency_scope.clone();
    let (form_q, query_q, wave_q) = (form.clone(), query.clone(), wave.clone());
    let loaded = state
        .survey
        .db
        .run_heavy(move |db| {
            let results = wave_results(db, &form_q, &wave_q, &query_q, &suppression)?;
            let levels = db.current_tree()?.levels_top_down();
            let totals = db.invitation_totals(&wave_q.id, scope.as_deref())?;
            Ok((results, levels, totals))
        })
        .await;
    let Ok((results, levels, (issued, used))) = loaded else {
        return HttpResponse::InternalServerError().finish();
    };
    let shown = form.headline_indices();
    let headers: Vec<&str> = shown.iter().map(|i| i.label.as_str()).collect();
    // Figures are in the form's order of indices.
    let positions: Vec<Option<usize>> =
        shown.iter().map(|def| form.indices.iter().position(|i| i.id == def.id)).collect();
    let figure = |figures: &[Figure], at: Option<usize>| at.and_then(|p| figures.get(p)).copied();
    let row = |name: String, responses: u64, desk: u64, figures: &[Figure]| {
        let cells: Vec<_> = positions
            .iter()
            .map(|&at| {
                let v = figure(figures, at);
                let n = v.map_or(0, |v| v.n);
                let suppressed = v.is_some_and(|v| v.suppressed);
                let value = v.and_then(|v| v.value);
                let ci = v.and_then(|v| Some(format!("{}–{}", one_decimal(v.ci_low?), one_decimal(v.ci_high?))));
                context! { shown => value.is_some(), suppressed, value => value.map(one_decimal), n, ci }
            })
            .collect();
        context! { name, responses, desk, cells }
    };
    let overall = &results.overall;
    let overall_figures: Vec<Figure> = overall.indices.iter().map(|i| i.figure).collect();
    let mut rows = vec![row("Toàn đợt".to_string(), overall.responses, overall.desk_responses, &overall_figures)];
    let all = page.all.is_some();
    for g in results.groups.iter().filter(|g| all || g.responses > 0) {
        rows.push(row(unit_name(g), g.responses, g.desk_responses, &g.figures));
    }
    let rate = if issued > 0 { one_decimal(100.0 * used as f64 / issued as f64) } else { String::new() };
    state.page(
        &req,
        StatusCode::OK,
        "results.html",
        context! {
            title => format!("Kết quả: {}", wave.name),
            wave => context! { id => wave.id, name => wave.name, form_id => wave.form_id },
            status_label => wave.status.label(),
            responses => results.overall.responses,
            issued, rate, headers, rows,
            levels => levels.iter().map(|l| context! { value => l, label => level_label(l) }).collect::<Vec<_>>(),
            level => query.level.unwrap_or_default(),
            by_agency => query.by_agency,
            desk_filter => wave.desk_codes && user.role != Role::AgencyOfficer,
            desk => query.desk.as_str(),
            min_n => wave.min_cell.unwrap_or(state.survey.min_cell),
            nav => nav(&user),
            all,
            wide => true,
        },
    )
}
