//! Answers sent as JSON: by integrations and by enumerators typing in paper forms.

use crate::domain::code::InvitationCode;
use crate::web::AppState;
use crate::web::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/responses", web::post().to(submit));
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ResponseBody {
    code: String,
    answers: BTreeMap<String, Value>,
}

/// An answer is a code, a list of codes, or a text; numbers are taken as their digits.
fn as_strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Number(n) => Some(vec![n.to_string()]),
        Value::Null => Some(vec![]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

#[utoipa::path(
    post,
    path = "/responses",
    tag = "responses",
    responses(
        (status = 201, description = "stored"),
        (status = 404, description = "unknown code"),
        (status = 409, description = "this code was answered already"),
        (status = 410, description = "the wave is closed"),
        (status = 422, description = "invalid input: `errors` by field"),
        (status = 429, description = "too many tries from this network or for this code"),
    ),
)]
async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ResponseBody>,
) -> Result<HttpResponse, ApiError> {
    let code = InvitationCode::parse(&body.code)
        .map_err(|e| ApiError::Invalid(BTreeMap::from([("code".to_string(), e.to_string())])))?;
    let failures = state.admit_code(&req, &code).ok_or(ApiError::TooManyRequests)?;
    let mut given = BTreeMap::new();
    let mut shape_errors = BTreeMap::new();
    for (item, value) in &body.answers {
        match as_strings(value) {
            Some(values) => {
                given.insert(item.clone(), values);
            }
            None => {
                shape_errors.insert(item.clone(), "Câu trả lời phải là mã, danh sách mã hoặc văn bản.".to_string());
            }
        }
    }
    let open = state.survey.open_invitation(&code).await.inspect_err(|e| state.note_code_failure(&failures, e))?;
    if !shape_errors.is_empty() {
        return Err(ApiError::Invalid(shape_errors));
    }
    state.survey.answer(&code, &open, &given).await?;
    Ok(HttpResponse::Created().json(json!({"status": "stored"})))
}
