//! Builds the application from settings: database, forms, state, middleware, routes, jobs.

use crate::config::Settings;
use crate::domain::account::{EmailAddress, NewPassword, Role};
use crate::domain::code::CodeHasher;
use crate::domain::form::{self, FormRegistry};
use crate::scratch::Scratch;
use crate::service::Survey;
use crate::service::crosstab::CrosstabCounts;
use crate::service::disclosure::SUPPRESSIONS_KEPT;
use crate::service::recent::Recent;
use crate::storage::Database;
use crate::storage::accounts::NewUser;
use crate::storage::responses::ResponseWriter;
use crate::web::ratelimit::RateLimiter;
use crate::web::templates::Templates;
use crate::web::{self, AppState};
use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer};
use anyhow::Context;
use rand::RngCore;
use std::net::TcpListener;
use std::sync::Arc;

pub struct Application {
    port: u16,
    server: Server,
    pub survey: Survey,
}

/// Opens the database and loads the forms: everything but HTTP, shared by `serve` and the
/// other commands.
pub fn open_survey(settings: &Settings) -> anyhow::Result<Survey> {
    let forms = form::load_dir(&settings.forms_dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("survey forms in {} are invalid:\n{}", settings.forms_dir.display(), lines.join("\n"))
    })?;
    let db = Database::connect_with_cache(&settings.database_url, settings.pool_size, settings.sqlite_cache_mib)
        .context("opening the database")?;
    let forms = FormRegistry::new(forms);
    crate::service::forms::pin_forms_of_earlier_waves(&db, &forms).context("pinning forms to earlier waves")?;
    crate::service::recount::rebuild_missing_tallies(&db, &forms).context("rebuilding result tallies")?;
    let key = match &settings.secret_key {
        Some(key) => key.clone(),
        None => db.instance_secret(crate::storage::operator::CODE_KEY_NAME, || {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        })?,
    };
    Ok(Survey {
        writer: ResponseWriter::start(db.clone()),
        db,
        forms: Arc::new(forms),
        hasher: CodeHasher::new(key.as_bytes()),
        base_url: settings.base_url.clone().into(),
        utc_offset: chrono::FixedOffset::east_opt(settings.utc_offset_hours * 3600)
            .ok_or_else(|| anyhow::anyhow!("PHIEU_UTC_OFFSET_HOURS must be between -23 and 23"))?,
        mail_enabled: settings.smtp_url.is_some(),
        sms_gateway: settings.sms_gateway.is_some(),
        scratch: Scratch::open(&settings.data_dir.join("scratch"))
            .with_context(|| format!("opening {}", settings.data_dir.join("scratch").display()))?,
        max_invitations_per_wave: settings.max_invitations_per_wave,
        min_cell: settings.min_cell,
        report_comments: settings.report_comments,
        suppressions: Arc::new(Recent::new(SUPPRESSIONS_KEPT)),
        crosstabs: Arc::new(CrosstabCounts::new(settings.crosstab_memory)),
    })
}

/// On first start, an administrator from PHIEU_ADMIN_EMAIL / PHIEU_ADMIN_PASSWORD, or with a
/// generated password printed once.
pub fn ensure_administrator(survey: &Survey, settings: &Settings) -> anyhow::Result<()> {
    if survey.db.count_users()? > 0 {
        return Ok(());
    }
    let email = EmailAddress::parse(settings.admin_email.as_deref().unwrap_or("admin@phieu.local"))
        .map_err(|e| anyhow::anyhow!("PHIEU_ADMIN_EMAIL: {e}"))?;
    let (password, generated) = match &settings.admin_password {
        Some(p) => (NewPassword::parse(p, &email).map_err(|e| anyhow::anyhow!("PHIEU_ADMIN_PASSWORD: {e}"))?, false),
        None => (NewPassword::generate(&email), true),
    };
    let hash = web::auth::hash_password(password.expose());
    let created = survey
        .db
        .create_user(&NewUser {
            email: email.as_str(),
            password_hash: &hash,
            role: Role::Administrator,
            agency_code: None,
        })?
        .is_some();
    // Another instance starting at the same moment may have created it: then say nothing.
    if generated && created {
        // Printed, not logged: shown once to whoever started the service.
        println!("Tài khoản quản trị / administrator: {}  mật khẩu / password: {}", email.as_str(), password.expose());
    }
    Ok(())
}

/// Blocking work is nearly all database work, which waits for one of the pool's connections:
/// threads beyond them only wait, and each keeps the allocator's pages of whatever it last
/// ran (a burst of answers grew the default pool of 512 a worker to some 80 threads).
fn blocking_threads_per_worker(pool_size: u32) -> usize {
    (pool_size as usize).max(4)
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind).with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        if settings.base_url.is_empty() {
            // Links must be typable: a wildcard bind address is not one (set PHIEU_BASE_URL).
            let host = match settings.bind.ip() {
                ip if ip.is_unspecified() => "localhost".to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            settings.base_url = format!("http://{host}:{port}");
            tracing::warn!(base_url = %settings.base_url, "PHIEU_BASE_URL is not set; invitation links use this address");
        }
        let settings = Arc::new(settings);
        let survey = {
            let s = settings.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<Survey> {
                let survey = open_survey(&s)?;
                ensure_administrator(&survey, &s)?;
                Ok(survey)
            })
            .await??
        };
        let state = actix_web::web::Data::new(AppState {
            survey: survey.clone(),
            settings: settings.clone(),
            limiter: RateLimiter::new(settings.rate_window, survey.hasher.clone()),
            sign_in_waiting: Default::default(),
            sign_in_verifications: tokio::sync::Semaphore::new(settings.sign_in_verifications),
            templates: Templates::load(),
        });
        spawn_rate_exchange(state.clone(), settings.rate_sync);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer"))
                        .add(("X-Frame-Options", "DENY"))
                        .add((
                            "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
                        )),
                )
                .wrap(from_fn(web::refuse_control_characters))
                .wrap(from_fn(crate::telemetry::log_request))
                .app_data(state.clone())
                .app_data(web::api::json_config())
                .app_data(actix_web::web::PayloadConfig::new(4 * 1024 * 1024))
                .configure(web::routes)
        })
        .on_connect(send_without_delay)
        .worker_max_blocking_threads(blocking_threads_per_worker(settings.pool_size))
        .listen(listener)?
        .run();
        crate::jobs::spawn(survey.clone(), settings.clone());
        crate::outbox::start_workers(survey.db.clone(), settings.clone(), survey.base_url.clone())?;
        Ok(Self { port, server, survey })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Every `every`, this instance's rate-limit counts are exchanged with the other instances'.
fn spawn_rate_exchange(state: actix_web::web::Data<AppState>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let state = state.clone();
            let db = state.survey.db.clone();
            if let Err(error) = db.run(move |db| state.limiter.exchange(db)).await {
                tracing::warn!(%error, "rate limit counts not exchanged");
            }
        }
    });
}

/// Turns off Nagle's algorithm on each connection: a response streamed in several writes
/// (results, reports) otherwise waits for the client's delayed acknowledgement, 40 ms on
/// Linux, before its last part, on every reused connection.
fn send_without_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(socket) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(error) = socket.set_nodelay(true)
    {
        tracing::warn!(%error, "could not turn off Nagle's algorithm on a connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn connections_send_without_waiting_for_acknowledgements() {
        let listener = actix_web::rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = actix_web::rt::net::TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(!accepted.nodelay().unwrap(), "a new connection starts with Nagle's algorithm on");
        send_without_delay(&accepted, &mut actix_web::dev::Extensions::new());
        assert!(accepted.nodelay().unwrap());
    }
}
