//! HTTP: thin handlers that parse, call a use case and render.

pub mod api;
pub mod auth;
pub mod citizen;
pub mod error;
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
    pub templates: Templates,
}

impl AppState {
    /// Records an official's action: who, what, on what — never answers or personal data.
    pub async fn audit(&self, user: &User, action: &str, target: &str) -> Result<(), ApiError> {
        let (actor, action, target) = (user.id.clone(), action.to_string(), target.to_string());
        self.survey.db.run(move |db| db.audit(&actor, &action, &target)).await?;
        Ok(())
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/static/site.css", web::get().to(|| async { asset("text/css; charset=utf-8", templates::SITE_CSS) }))
        .route("/static/form.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", templates::FORM_JS) }))
        .configure(api::routes)
        .configure(official::routes)
        .configure(citizen::routes);
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(body)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let backend = format!("{:?}", state.survey.db.backend()).to_lowercase();
    match state.survey.db.run(|db| db.ping()).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": {"status": "ok", "backend": backend}})),
        Err(error) => {
            tracing::error!(%error, "health check failed");
            HttpResponse::ServiceUnavailable().json(json!({"status": "error", "database": {"status": "unavailable", "backend": backend}}))
        }
    }
}
