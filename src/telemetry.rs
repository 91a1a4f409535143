//! Logging. Requests are logged without invitation codes: the code in `/s/{code}` is a
//! credential, and a log that lists codes could tie an answer's time to an invitation.
//! Panics are logged by where they happened, never by their message, which can quote the
//! data being handled (a list cell, an answer).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("PHIEU_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
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

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.path());
    let response = next.call(req).await?;
    tracing::info!(%method, path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
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
