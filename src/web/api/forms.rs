use crate::web::AppState;
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FormVersion {
    /// An earlier version; the newest when omitted.
    version: Option<String>,
}

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
        .all_newest()
        .map(|f| {
            let versions: Vec<_> = state.survey.forms.versions(&f.id).iter().map(|v| v.version.as_str()).collect();
            json!({"id": f.id, "version": f.version, "versions": versions, "title": f.title,
                   "items": f.items.len(), "indices": f.indices.len()})
        })
        .collect();
    HttpResponse::Ok().json(json!({"forms": forms}))
}

#[utoipa::path(
    get,
    path = "/forms/{form_id}",
    tag = "forms",
    params(
        ("form_id" = String, Path, description = "the form's id, e.g. sipas-2017"),
        FormVersion,
    ),
    responses(
        (status = 200, description = "one questionnaire: items, options, show_if, indices"),
        (status = 404, description = "unknown form"),
    ),
)]
async fn show(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<FormVersion>,
) -> Result<HttpResponse, ApiError> {
    let form = match &query.version {
        None => state.survey.forms.newest(&path),
        Some(version) => state.survey.forms.version(&path, version),
    };
    let form = form.ok_or_else(|| match &query.version {
        None => ApiError::NotFound(format!("Không có bộ phiếu “{path}”.")),
        Some(version) => ApiError::NotFound(format!("Bộ phiếu “{path}” không có phiên bản “{version}”.")),
    })?;
    Ok(HttpResponse::Ok().json(form.as_ref()))
}
