//! Drawing the sample of a wave, and the record of past draws.

use crate::domain::account::Role;
use crate::service::sampling::{SampleError, SampleRequest};
use crate::web::AppState;
use crate::web::api::waves::find_wave;
use crate::web::auth::{ApiUser, require};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/sample", web::post().to(draw)).route("/waves/{id}/sample", web::get().to(history));
}

async fn draw(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<SampleRequest>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let wave = find_wave(&state, &path).await?;
    let outcome = state.survey.draw_sample(&wave.id, &user.0.id, body.into_inner()).await.map_err(|e| match e {
        SampleError::Invalid(field, message) => ApiError::Invalid([(field.to_string(), message)].into()),
        SampleError::AlreadyInvited => ApiError::Conflict(SampleError::AlreadyInvited.to_string()),
        SampleError::Storage(e) => e.into(),
    })?;
    state
        .audit(&user.0, "sample.draw", &format!("wave={} draw={} seed={}", wave.id, outcome.draw_id, outcome.seed))
        .await?;
    Ok(HttpResponse::Created().json(outcome))
}

async fn history(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator, Role::Analyst])?;
    let wave = find_wave(&state, &path).await?;
    let draws = state.survey.db.run(move |db| db.draws(&wave.id)).await?;
    Ok(HttpResponse::Ok().json(json!({"draws": draws})))
}
