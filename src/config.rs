//! Settings from environment variables, each with a safe default (documented in README).

use crate::domain::account::SignInDelays;
use crate::sms::GatewayTemplate;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: String,
    /// Where the server keeps its own files: temporary list files (encrypted, under
    /// `scratch/`), swept at start-up.
    pub data_dir: PathBuf,
    pub pool_size: u32,
    /// SQLite: how much memory all connections' page caches may hold together, in MiB.
    pub sqlite_cache_mib: u32,
    /// Answers read (and written) per page of a microdata export: each page in flight holds
    /// them, raw and written.
    pub export_page_rows: i64,
    pub forms_dir: PathBuf,
    /// Public address used in invitation links; empty means the bound address.
    pub base_url: String,
    /// Key for hashing invitation codes; generated and kept in the database when unset.
    pub secret_key: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub token_ttl: Duration,
    /// Use X-Forwarded-For for the client address (only behind a trusted proxy).
    pub trust_proxy: bool,
    pub rate_window: Duration,
    /// Failed code look-ups a network prefix may make per window.
    pub rate_failed_codes_per_prefix: u32,
    /// Requests for one code per window.
    pub rate_requests_per_code: u32,
    /// How failed sign-ins slow the next attempts (see `SignInDelays`).
    pub sign_in_delays: SignInDelays,
    /// Sign-in attempts one network prefix may have in progress at once (waiting out a delay
    /// or being checked); more are refused with a Retry-After, so they cannot exhaust the server.
    pub sign_in_waiting_per_prefix: u32,
    /// Password checks (Argon2, about 19 MiB each) running at once on this instance.
    pub sign_in_verifications: usize,
    /// How often PostgreSQL answers are re-mixed (see README, anonymity), and how often the
    /// other scheduled jobs run.
    pub mix_interval: Duration,
    /// New answers a mix takes at least, so that each is hidden among that many (PostgreSQL).
    pub mix_min_answers: i64,
    /// How often an instance exchanges its rate-limit counts with the others.
    pub rate_sync: Duration,
    /// How long a scheduled job's lease lasts without renewal (a crashed holder's job waits
    /// this long before another instance runs it).
    pub job_lease: Duration,
    pub secure_cookies: bool,
    /// Offset of the local day (Vietnam: +7) for wave dates and the day stored with answers.
    pub utc_offset_hours: i32,
    /// Largest list file accepted.
    pub max_upload_bytes: usize,
    /// Invitations one wave may hold, sampled and issued together.
    pub max_invitations_per_wave: u64,
    /// Disclosure threshold: figures on fewer valid answers are hidden (a wave may set its own).
    pub min_cell: u64,
    /// Comments the report workbook lists (read in random order until it has that many).
    pub report_comments: usize,
    /// Bytes one wave's crosstab counts per locality may take before localities are merged
    /// into their parents'.
    pub crosstab_memory: usize,
    /// Who runs the survey, as letters and messages name it.
    pub organisation: String,
    /// Days after a wave closes before its contact data is deleted.
    pub retention_days: i64,
    /// `smtp://host:port` (plain, local), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465` (TLS); unset: no email channel.
    pub smtp_url: Option<String>,
    /// A PEM file of root certificates trusted for the SMTP server's TLS besides the usual
    /// ones (a province's internal certificate authority).
    pub smtp_ca_file: Option<PathBuf>,
    pub mail_from: String,
    /// Emails sent per second at most, and by how many parallel SMTP connections.
    pub mail_rate: f64,
    pub mail_workers: usize,
    /// How long a claimed email may stay in sending before it is declared uncertain.
    pub mail_lease: Duration,
    pub mail_max_attempts: i64,
    /// First wait after a temporary failure; doubled at each attempt, capped at an hour.
    /// Lease, attempts and back-off apply to SMS through a gateway too.
    pub mail_retry_base: Duration,
    /// The SMS gateway; unset: SMS are exported for the operator to send.
    pub sms_gateway: Option<GatewayTemplate>,
    /// SMS handed to the gateway per second at most.
    pub sms_rate: f64,
    /// How long the gateway has to answer a request; a later answer leaves the SMS
    /// uncertain (never sent again).
    pub sms_timeout: Duration,
    /// Days without an answer before a reminder, and reminders at most per person.
    pub reminder_after_days: i64,
    pub reminder_max: i64,
    /// Whether the scheduler sends email reminders by itself.
    pub reminders_automatic: bool,
    /// Networks whose clients may read `/metrics` without a token (loopback by default).
    pub metrics_networks: Vec<ipnet::IpNet>,
    /// A bearer token that lets anyone holding it read `/metrics`; unset: none does.
    pub metrics_token: Option<String>,
}

/// `PHIEU_METRICS_NETWORKS`: a comma-separated list of networks (`10.0.0.0/8`) or addresses,
/// or `none`.
pub fn parse_networks(text: &str) -> anyhow::Result<Vec<ipnet::IpNet>> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>().or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(
                |_| anyhow::anyhow!("PHIEU_METRICS_NETWORKS: \"{part}\" is not a network (10.0.0.0/8) or address"),
            )
        })
        .collect()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| anyhow::anyhow!("{name}: cannot read \"{v}\"")),
    }
}

/// The directory of the SQLite file; `data` with PostgreSQL.
pub fn default_data_dir(database_url: &str) -> PathBuf {
    if database_url.starts_with("postgres") {
        return PathBuf::from("data");
    }
    let file = std::path::Path::new(database_url.strip_prefix("sqlite://").unwrap_or(database_url));
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let bind: SocketAddr = parsed("PHIEU_BIND", "127.0.0.1:8080".parse()?)?;
        let base_url = var("PHIEU_BASE_URL").unwrap_or_default();
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/phieu.db".into());
        Ok(Self {
            bind,
            data_dir: var("PHIEU_DATA_DIR").map_or_else(|| default_data_dir(&database_url), PathBuf::from),
            database_url,
            pool_size: parsed("PHIEU_DB_POOL_SIZE", 8)?,
            sqlite_cache_mib: parsed("PHIEU_SQLITE_CACHE_MIB", crate::storage::DEFAULT_SQLITE_CACHE_MIB)?,
            export_page_rows: parsed("PHIEU_EXPORT_PAGE_ROWS", 2_000i64)?.max(1),
            forms_dir: PathBuf::from(var("PHIEU_FORMS_DIR").unwrap_or_else(|| "survey_forms".into())),
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key: var("PHIEU_SECRET_KEY"),
            admin_email: var("PHIEU_ADMIN_EMAIL"),
            admin_password: var("PHIEU_ADMIN_PASSWORD"),
            token_ttl: Duration::from_secs(parsed("PHIEU_TOKEN_TTL_HOURS", 12u64)? * 3600),
            trust_proxy: parsed("PHIEU_TRUST_PROXY", false)?,
            rate_window: Duration::from_secs(parsed("PHIEU_RATE_WINDOW_SECS", 600u64)?),
            rate_failed_codes_per_prefix: parsed("PHIEU_RATE_FAILED_CODES_PER_PREFIX", 30)?,
            rate_requests_per_code: parsed("PHIEU_RATE_REQUESTS_PER_CODE", 60)?,
            sign_in_delays: SignInDelays {
                free: parsed("PHIEU_SIGNIN_FREE_FAILURES", 5)?,
                base: Duration::from_millis(parsed("PHIEU_SIGNIN_DELAY_MS", 1000u64)?),
                max: Duration::from_secs(parsed("PHIEU_SIGNIN_DELAY_MAX_SECS", 10u64)?),
            },
            sign_in_waiting_per_prefix: parsed("PHIEU_SIGNIN_WAITING_PER_PREFIX", 4u32)?.max(1),
            sign_in_verifications: parsed("PHIEU_SIGNIN_VERIFICATIONS", 2 * crate::cores())?.max(1),
            mix_interval: Duration::from_secs(parsed("PHIEU_MIX_INTERVAL_SECS", 300u64)?.max(1)),
            mix_min_answers: parsed("PHIEU_MIX_MIN_ANSWERS", 50i64)?.max(1),
            rate_sync: Duration::from_millis(parsed("PHIEU_RATE_SYNC_MS", 1000u64)?.max(10)),
            job_lease: Duration::from_secs(parsed("PHIEU_JOB_LEASE_SECS", 60u64)?.max(1)),
            secure_cookies: parsed("PHIEU_SECURE_COOKIES", false)?,
            utc_offset_hours: parsed("PHIEU_UTC_OFFSET_HOURS", 7)?,
            max_upload_bytes: parsed("PHIEU_MAX_UPLOAD_MB", 200usize)? * 1_048_576,
            max_invitations_per_wave: parsed("PHIEU_MAX_INVITATIONS_PER_WAVE", 2_000_000u64)?,
            min_cell: parsed("PHIEU_MIN_CELL", 5u64)?.max(1),
            report_comments: parsed("PHIEU_REPORT_COMMENTS", 2_000usize)?,
            crosstab_memory: parsed("PHIEU_CROSSTAB_MEMORY_MB", 160usize)? * 1_048_576,
            organisation: var("PHIEU_ORGANISATION").unwrap_or_else(|| "Sở Nội vụ".into()),
            retention_days: parsed("PHIEU_RETENTION_DAYS", 30)?,
            smtp_url: var("PHIEU_SMTP_URL"),
            smtp_ca_file: var("PHIEU_SMTP_CA_FILE").map(PathBuf::from),
            mail_from: var("PHIEU_MAIL_FROM").unwrap_or_else(|| "Khảo sát sự hài lòng <khaosat@localhost>".into()),
            mail_rate: parsed("PHIEU_MAIL_RATE", 10.0)?,
            mail_workers: parsed("PHIEU_MAIL_WORKERS", 4)?,
            mail_lease: Duration::from_secs(parsed("PHIEU_MAIL_LEASE_SECS", 600u64)?),
            mail_max_attempts: parsed("PHIEU_MAIL_MAX_ATTEMPTS", 5)?,
            mail_retry_base: Duration::from_secs(parsed("PHIEU_MAIL_RETRY_SECS", 30u64)?),
            sms_gateway: var("PHIEU_SMS_GATEWAY_URL")
                .map(|url| {
                    GatewayTemplate::parse(&url, &var("PHIEU_SMS_GATEWAY_METHOD").unwrap_or_else(|| "GET".into()))
                })
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?,
            sms_rate: parsed("PHIEU_SMS_RATE", 5.0)?,
            sms_timeout: Duration::from_secs(parsed("PHIEU_SMS_TIMEOUT_SECS", 30u64)?.max(1)),
            reminder_after_days: parsed("PHIEU_REMINDER_AFTER_DAYS", 7)?,
            reminder_max: parsed("PHIEU_REMINDER_MAX", 2)?,
            reminders_automatic: parsed("PHIEU_REMINDERS_AUTOMATIC", true)?,
            metrics_networks: parse_networks(
                &var("PHIEU_METRICS_NETWORKS").unwrap_or_else(|| "127.0.0.0/8, ::1".into()),
            )?,
            metrics_token: var("PHIEU_METRICS_TOKEN"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_defaults_to_that_of_the_sqlite_file() {
        assert_eq!(default_data_dir("sqlite://data/phieu.db"), PathBuf::from("data"));
        assert_eq!(default_data_dir("sqlite:///srv/phieu/phieu.db"), PathBuf::from("/srv/phieu"));
        assert_eq!(default_data_dir("phieu.db"), PathBuf::from("."));
        assert_eq!(default_data_dir("postgres://db/phieu"), PathBuf::from("data"));
        assert_eq!(default_data_dir("postgresql://db/phieu"), PathBuf::from("data"));
    }

    #[test]
    fn metrics_networks_are_cidr_lists_addresses_or_none() {
        let networks = parse_networks("10.1.0.0/16, 192.0.2.7,::1").unwrap();
        let strings: Vec<String> = networks.iter().map(ToString::to_string).collect();
        assert_eq!(strings, ["10.1.0.0/16", "192.0.2.7/32", "::1/128"]);
        assert!(parse_networks("none").unwrap().is_empty());
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("intranet").is_err());
    }
}
