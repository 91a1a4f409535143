use crate::web::AppState;
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/forms", web::get().to(list)).route("/forms/{form_id}", web::get().to(show));
}

/// Questionnaires are public: citizens see every question anyway.
async fn list(state: web::Data<AppState>) -> HttpResponse {
    let forms: Vec<_> = state
        .survey
        .forms
        .all()
        .map(|f| json!({"id": f.id, "version": f.version, "title": f.title, "items": f.items.len(), "indices": f.indices.len()}))
        .collect();
    HttpResponse::Ok().json(json!({"forms": forms}))
}

async fn show(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let form =
        state.survey.forms.get(&path).ok_or_else(|| ApiError::NotFound(format!("Không có bộ phiếu “{path}”.")))?;
    Ok(HttpResponse::Ok().json(form.as_ref()))
}
