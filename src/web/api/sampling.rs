//! Drawing the sample of a wave, and the record of past draws.

use crate::domain::account::Role;
use crate::service::sampling::{SampleError, SampleOutcome, SampleRequest};
use crate::storage::accounts::User;
use crate::storage::lists::DrawRecord;
use crate::storage::waves::Wave;
use crate::web::AppState;
use crate::web::api::waves::find_wave;
use crate::web::auth::{ApiUser, require};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/sample", web::post().to(draw)).route("/waves/{id}/sample", web::get().to(history));
}

/// Who may draw (and redraw) a wave's sample.
pub const DRAW_ROLES: &[Role] = &[Role::Administrator];
/// Who may read the record of draws (no contact data in it).
pub const HISTORY_ROLES: &[Role] = &[Role::Administrator, Role::Analyst];

#[utoipa::path(
    post,
    path = "/waves/{id}/sample",
    tag = "sampling",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 201, description = "`{draw_id, seed, strata}`"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 409, description = "not in this state"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn draw(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<SampleRequest>,
) -> Result<HttpResponse, ApiError> {
    let outcome = draw_sample(&state, &user.0, &path, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(outcome))
}

/// Draws a wave's sample and records who did it, for the API and the sampling page.
pub async fn draw_sample(
    state: &AppState,
    user: &User,
    wave_id: &str,
    request: SampleRequest,
) -> Result<SampleOutcome, ApiError> {
    require(user, DRAW_ROLES)?;
    let wave = find_wave(state, wave_id).await?;
    let outcome = state.survey.draw_sample(&wave.id, &user.id, request).await.map_err(|e| match e {
        SampleError::Invalid(field, message) => ApiError::Invalid([(field.to_string(), message)].into()),
        SampleError::AlreadyInvited => ApiError::Conflict(SampleError::AlreadyInvited.to_string()),
        SampleError::Storage(e) => e.into(),
    })?;
    state
        .audit(user, "sample.draw", &format!("wave={} draw={} seed={}", wave.id, outcome.draw_id, outcome.seed))
        .await?;
    Ok(outcome)
}

#[utoipa::path(
    get,
    path = "/waves/{id}/sample",
    tag = "sampling",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "every draw: who, when, seed, design, N and n per stratum"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn history(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (_, draws) = draw_history(&state, &user.0, &path).await?;
    Ok(HttpResponse::Ok().json(json!({"draws": draws})))
}

/// A wave and every draw of its sample, the latest first.
pub async fn draw_history(state: &AppState, user: &User, wave_id: &str) -> Result<(Wave, Vec<DrawRecord>), ApiError> {
    require(user, HISTORY_ROLES)?;
    let wave = find_wave(state, wave_id).await?;
    let id = wave.id.clone();
    let draws = state.survey.db.run(move |db| db.draws(&id)).await?;
    Ok((wave, draws))
}
