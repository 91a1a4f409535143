//! HTTP: thin handlers that parse, call a use case and render.

pub mod api;
pub mod auth;
pub mod citizen;
pub mod csv_export;
pub mod docx;
pub mod error;
pub mod metrics;
pub mod official;
pub mod ratelimit;
pub mod templates;

use crate::config::Settings;
use crate::service::Survey;
use crate::storage::accounts::User;
use actix_web::{HttpResponse, web};
use error::ApiError;
use ratelimit::RateLimiter;
use serde_json::json;
use std::sync::Arc;
use templates::Templates;

pub struct AppState {
    pub survey: Survey,
    pub settings: Arc<Settings>,
    pub limiter: RateLimiter,
    /// Sign-ins in progress, per client network.
    pub sign_in_waiting: ratelimit::WaitingGate,
    /// Password checks in progress on this instance: each holds about 19 MiB.
    pub sign_in_verifications: tokio::sync::Semaphore,
    pub templates: Templates,
}

/// Paths and queries carrying control characters (`%00` above all) are refused before any
/// handler runs: such an id or code can match nothing, and PostgreSQL, unlike SQLite,
/// cannot even compare text holding a NUL, so both backends answer alike.
pub async fn refuse_control_characters(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let uri = req.uri();
    let control = |text: &str| percent_encoding::percent_decode_str(text).any(|b| b < 0x20 || b == 0x7f);
    if control(uri.path()) || uri.query().is_some_and(control) {
        let refused = ApiError::BadRequest("Đường dẫn chứa ký tự điều khiển (như ký tự NUL).".into());
        return Ok(req.error_response(refused).map_into_right_body());
    }
    next.call(req).await.map(actix_web::dev::ServiceResponse::map_into_left_body)
}

impl AppState {
    /// Records an official's action: who, what, on what — never answers or personal data.
    pub async fn audit(&self, user: &User, action: &str, target: &str) -> Result<(), ApiError> {
        let (actor, action, target) = (user.id.clone(), action.to_string(), target.to_string());
        self.survey.db.run(move |db| db.audit(&actor, &action, &target)).await?;
        Ok(())
    }
}

impl AppState {
    /// Rate limits around an invitation-code look-up: a client network that tried too many
    /// unknown codes is paused, and each code can be requested only so often. Returns the
    /// key under which a failed look-up is to be counted, or `None` when refused.
    pub fn admit_code(
        &self,
        req: &actix_web::HttpRequest,
        code: &crate::domain::code::InvitationCode,
    ) -> Option<String> {
        let failures = format!("failed:{}", ratelimit::client_network(req, self.settings.trust_proxy));
        let paused = self.limiter.exhausted(&failures, self.settings.rate_failed_codes_per_prefix);
        let code_key = format!("code:{}", self.survey.hasher.hash(code));
        (!paused && self.limiter.hit(&code_key, self.settings.rate_requests_per_code)).then_some(failures)
    }

    /// A page with its CSRF token (in the forms, and in the cookie it is checked against)
    /// and whether an official is signed in.
    pub fn page(
        &self,
        req: &actix_web::HttpRequest,
        status: actix_web::http::StatusCode,
        name: &str,
        ctx: minijinja::Value,
    ) -> HttpResponse {
        let csrf = auth::csrf_token(req);
        let signed_in = req.cookie(auth::SESSION_COOKIE).is_some();
        let ctx = minijinja::context! { csrf => csrf.clone(), signed_in, ..ctx };
        let mut response = self.templates.page(status, name, ctx);
        let _ = response.add_cookie(&auth::csrf_cookie(&csrf, self.settings.secure_cookies));
        response
    }

    /// Counts a look-up of a code that does not exist against the client's network.
    pub fn note_code_failure(&self, failures: &str, error: &crate::service::answering::AnswerError) {
        if matches!(error, crate::service::answering::AnswerError::UnknownCode) {
            self.limiter.hit(failures, self.settings.rate_failed_codes_per_prefix);
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/static/site.css", web::get().to(|| async { asset("text/css; charset=utf-8", templates::SITE_CSS) }))
        .route(
            "/static/letters.css",
            web::get().to(|| async { asset("text/css; charset=utf-8", templates::LETTERS_CSS) }),
        )
        .route(
            "/static/form.js",
            web::get().to(|| async { asset("text/javascript; charset=utf-8", templates::FORM_JS) }),
        )
        .configure(api::routes)
        .configure(official::routes)
        .configure(citizen::routes);
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "public, max-age=3600")).body(body)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let backend = format!("{:?}", state.survey.db.backend()).to_lowercase();
    match state.survey.db.run(|db| db.ping()).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": {"status": "ok", "backend": backend}})),
        Err(error) => {
            tracing::error!(%error, "health check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "error", "database": {"status": "unavailable", "backend": backend}}))
        }
    }
}
