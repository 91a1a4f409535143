//! `GET /metrics`: the Prometheus exposition (see `crate::metrics`), for clients in
//! `PHIEU_METRICS_NETWORKS` (loopback by default) or holding `PHIEU_METRICS_TOKEN`.

use crate::config::Settings;
use crate::web::AppState;
use crate::web::auth::bearer_token;
use crate::web::error::ApiError;
use crate::web::ratelimit::client_address;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Whether this request may read the metrics: its client address (behind a trusted proxy,
/// the one the proxy saw, so that a proxy on loopback does not open them to everyone) lies
/// in an allowed network, or it carries the token.
fn allowed(req: &HttpRequest, settings: &Settings) -> bool {
    let token_matches = settings.metrics_token.as_deref().is_some_and(|expected| {
        // Digests compared, so the comparison's time says nothing about the token.
        bearer_token(req).is_some_and(|given| Sha256::digest(given) == Sha256::digest(expected))
    });
    let in_network = client_address(req, settings.trust_proxy).is_some_and(|address| {
        let v4 = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        settings.metrics_networks.iter().any(|n| n.contains(&address) || v4.is_some_and(|v4| n.contains(&v4)))
    });
    token_matches || in_network
}

pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if !allowed(&req, &state.settings) {
        return Err(ApiError::Forbidden("Không được xem số liệu vận hành từ địa chỉ này.".into()));
    }
    let scraped = state.survey.db.run(|db| Ok(db.scrape_state())).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(state.survey.db.metrics.render(&scraped)))
}
