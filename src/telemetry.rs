//! Logging. Requests are logged without invitation codes: the code in `/s/{code}` is a
//! credential, and a log that lists codes could tie an answer's time to an invitation.
//! Panics are logged by where they happened, never by their message, which can quote the
//! data being handled (a list cell, an answer).
//!
//! Every request runs in a span carrying its request id (also sent back as `X-Request-Id`),
//! so each line it logs, from the handler or from database work, names it. With
//! `PHIEU_LOG_FORMAT=json` lines are JSON objects on standard error; otherwise text.

use crate::web::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub fn init() {
    let filter = EnvFilter::try_from_env("PHIEU_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("PHIEU_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match format.trim() {
        "json" => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .try_init(),
        _ => builder.try_init(),
    };
    if !matches!(format.trim(), "" | "text" | "json") {
        tracing::warn!(format = format.trim(), "PHIEU_LOG_FORMAT is neither text nor json; logging text");
    }
    std::panic::set_hook(Box::new(|info| tracing::error!(location = %panic_location(info), "panic")));
}

fn panic_location(info: &std::panic::PanicHookInfo) -> String {
    info.location().map_or_else(|| "?".to_string(), |l| format!("{}:{}", l.file(), l.line()))
}

/// The path as it may be logged: invitation codes replaced.
pub fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/s/") {
        Some(_) => "/s/{code}".to_string(),
        None => path.to_string(),
    }
}

/// A request id a trusted proxy sent, when it is short and plain; otherwise a new one.
fn request_id(req: &ServiceRequest, trust_proxy: bool) -> String {
    let forwarded =
        trust_proxy.then(|| req.headers().get(REQUEST_ID_HEADER)).flatten().and_then(|v| v.to_str().ok()).filter(|v| {
            (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    forwarded.map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string)
}

/// Logs each request (codes redacted) under its request id, counts it by route pattern and
/// status, and returns the id in `X-Request-Id`.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
    let id = request_id(&req, state.as_ref().is_some_and(|s| s.settings.trust_proxy));
    // At the highest level, so that the span (and its id) exists whatever level is logged.
    let span = tracing::error_span!("request", request_id = %id);
    let method = req.method().clone();
    let path = loggable_path(req.path());
    let result = next.call(req).instrument(span.clone()).await;
    let (status, route) = match &result {
        Ok(response) => (response.status(), response.request().match_pattern()),
        Err(error) => (error.as_response_error().status_code(), None),
    };
    if let Some(state) = &state {
        state.survey.db.metrics.request(method.as_str(), route.as_deref(), status.as_u16(), started.elapsed());
    }
    let ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| tracing::info!(%method, path, status = status.as_u16(), ms, "request"));
    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_never_reach_the_log() {
        assert_eq!(loggable_path("/s/K7QM3XD9PT2AQ"), "/s/{code}");
        assert_eq!(loggable_path("/api/v1/forms"), "/api/v1/forms");
    }
}
