use crate::web::AppState;
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/forms", web::get().to(list)).route("/forms/{form_id}", web::get().to(show));
}

/// Questionnaires are public: citizens see every question anyway.
#[utoipa::path(
    get,
    path = "/forms",
    tag = "forms",
    responses((status = 200, description = "the questionnaires as loaded")),
)]
async fn list(state: web::Data<AppState>) -> HttpResponse {
    let forms: Vec<_> = state
        .survey
        .forms
        .all()
        .map(|f| json!({"id": f.id, "version": f.version, "title": f.title, "items": f.items.len(), "indices": f.indices.len()}))
        .collect();
    HttpResponse::Ok().json(json!({"forms": forms}))
}

#[utoipa::path(
    get,
    path = "/forms/{form_id}",
    tag = "forms",
    params(("form_id" = String, Path, description = "the form's id, e.g. sipas-2017")),
    responses(
        (status = 200, description = "one questionnaire: items, options, show_if, indices"),
        (status = 404, description = "unknown form"),
    ),
)]
async fn show(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let form =
        state.survey.forms.get(&path).ok_or_else(|| ApiError::NotFound(format!("Không có bộ phiếu “{path}”.")))?;
    Ok(HttpResponse::Ok().json(form.as_ref()))
}
