//! The JSON API under /api/v1. Extend it, never break it.

mod auth;
pub mod delivery;
mod forms;
pub mod lists;
pub mod openapi;
mod places;
mod responses;
pub mod sampling;
mod users;
pub mod waves;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(auth::routes)
            .configure(delivery::routes)
            .configure(forms::routes)
            .configure(lists::routes)
            .configure(places::routes)
            .configure(waves::routes)
            .configure(responses::routes)
            .configure(sampling::routes)
            .configure(users::routes),
    );
}

/// A JSON body that failed to parse becomes a 400 with serde's explanation.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(4 * 1024 * 1024)
        .error_handler(|err, _| super::error::ApiError::BadRequest(format!("Dữ liệu JSON không hợp lệ: {err}")).into())
}
