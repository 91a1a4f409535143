//! Sending invitation emails: the SMTP transport (lettre) and the worker that drains the
//! queue at a bounded rate, retrying temporary failures with back-off.

use crate::config::Settings;
use crate::domain::code::InvitationCode;
use crate::domain::delivery::{MailValues, render_mail};
use crate::storage::Database;
use crate::storage::mail::MailJob;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::{Message, SmtpTransport, Transport};
use std::sync::Arc;
use std::time::Duration;

pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

#[derive(Debug)]
pub struct SendFailure {
    pub message: String,
    pub permanent: bool,
    /// The server refused the recipient (a 5xx): the address does not work.
    pub bounced: bool,
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| anyhow::anyhow!("PHIEU_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from.parse().map_err(|e| anyhow::anyhow!("PHIEU_MAIL_FROM: {e}"))?;
        Ok(Self { transport, from })
    }

    pub fn send(&self, to: &str, subject: &str, body: String) -> Result<(), SendFailure> {
        let invalid = |message: String| SendFailure { message, permanent: true, bounced: true };
        let to: Mailbox = to.parse().map_err(|e| invalid(format!("địa chỉ không hợp lệ: {e}")))?;
        // Base64 keeps Vietnamese text intact through any server, 8BITMIME or not.
        let part =
            SinglePart::builder().header(ContentType::TEXT_PLAIN).header(ContentTransferEncoding::Base64).body(body);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(part)
            .map_err(|e| invalid(e.to_string()))?;
        self.transport.send(&message).map(|_| ()).map_err(|e| SendFailure {
            message: e.to_string(),
            permanent: e.is_permanent(),
            bounced: e.is_permanent() && e.status().is_some(),
        })
    }
}

/// Drains the queue until the process ends, with `mail_workers` threads: lettre's SMTP
/// client blocks, and each message waits out a TCP delayed ACK (~40 ms) between its body and
/// the final dot, so parallel connections are what raises throughput. Claims are per row,
/// so workers (and instances) never send the same email. The rate limit is shared.
pub fn start_worker(db: Database, settings: Arc<Settings>, base_url: Arc<str>) -> anyhow::Result<()> {
    let Some(url) = settings.smtp_url.clone() else { return Ok(()) };
    let workers = settings.mail_workers.max(1);
    for n in 0..workers {
        let mailer = Mailer::new(&url, &settings.mail_from)?;
        let (db, settings, base_url) = (db.clone(), settings.clone(), base_url.clone());
        std::thread::Builder::new().name(format!("mail-worker-{n}")).spawn(move || {
            let pause = Duration::from_secs_f64(workers as f64 / settings.mail_rate.max(0.01));
            loop {
                let now = chrono::Utc::now().naive_utc();
                let lease = chrono::Duration::from_std(settings.mail_lease).unwrap_or(chrono::Duration::minutes(10));
                let jobs = db.expire_mail_leases(now - lease).and_then(|_| db.claim_due_mail(1, now));
                match jobs {
                    Ok(jobs) if jobs.is_empty() => std::thread::sleep(Duration::from_millis(250)),
                    Ok(jobs) => {
                        for job in jobs {
                            deliver(&db, &mailer, &settings, &base_url, &job);
                            std::thread::sleep(pause);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "mail queue unavailable");
                        std::thread::sleep(Duration::from_secs(5));
                    }
                }
            }
        })?;
    }
    Ok(())
}

fn deliver(db: &Database, mailer: &Mailer, settings: &Settings, base_url: &str, job: &MailJob) {
    let Ok(code) = InvitationCode::parse(&job.code) else {
        let _ = db.mail_failed(job, "mã mời hỏng", false);
        return;
    };
    let url = format!("{base_url}/s/{}", code.as_str());
    let opt_out_url = format!("{url}/tu-choi");
    let grouped = code.grouped();
    let values = MailValues {
        name: &job.name,
        grouped_code: &grouped,
        url: &url,
        opt_out_url: &opt_out_url,
        organisation: &settings.organisation,
        retention_days: settings.retention_days,
    };
    let (subject, body) =
        render_mail(job.subject_template.as_deref(), job.body_template.as_deref(), &values, job.kind == "reminder");
    let recorded = match mailer.send(&job.to, &subject, body) {
        Ok(()) => db.mail_sent(job),
        Err(failure) if failure.permanent || job.attempts + 1 >= settings.mail_max_attempts => {
            tracing::warn!(error = %failure.message, "email failed for good");
            db.mail_failed(job, &failure.message, failure.bounced)
        }
        Err(failure) => {
            // The base wait, doubled at each attempt, capped at an hour.
            let base = settings.mail_retry_base.as_millis() as i64;
            let wait = (base << job.attempts.clamp(0, 12)).min(3_600_000);
            let next = chrono::Utc::now().naive_utc() + chrono::Duration::milliseconds(wait);
            db.mail_retry(job, &failure.message, next)
        }
    };
    if let Err(error) = recorded {
        tracing::error!(%error, "could not record an email's outcome");
    }
}
