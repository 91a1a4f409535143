//! The workers that drain the queue of outgoing messages: emails through SMTP
//! ([`crate::mail`]) and, with a gateway, SMS over HTTP ([`crate::sms`]). Every channel gets
//! the same guarantees: a message is claimed before it is handed over and recorded after, so
//! a crash leaves at most the messages in flight `uncertain` (never sent twice); a failure
//! after which the other side may have the message (an SMS gateway that took the request
//! but did not answer in time) is `uncertain` too; failures before anything was handed over
//! are retried with a doubling back-off; a channel's rate limit is shared by its workers.

use crate::config::Settings;
use crate::domain::code::InvitationCode;
use crate::domain::delivery::Channel;
use crate::mail::Mailer;
use crate::sms::SmsGateway;
use crate::storage::Database;
use crate::storage::mail::QueuedMessage;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct SendFailure {
    /// Why, without personal data nor the other side's own text (which may quote the
    /// address): it is logged and stored.
    pub message: String,
    pub kind: FailureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing was delivered: tried again later, up to the maximum of attempts.
    Temporary,
    /// It will not work: given up. `bounced`: the server refused the address.
    Permanent { bounced: bool },
    /// The other side may have the message: never sent again.
    Uncertain,
}

/// What every message says about its invitation, whatever carries it.
pub struct Invitation<'a> {
    pub grouped_code: &'a str,
    pub url: &'a str,
    pub opt_out_url: &'a str,
}

/// Hands one message to the outside world, blocking until it is accepted or refused.
pub trait Carrier {
    fn send(&self, message: &QueuedMessage, invitation: &Invitation) -> Result<(), SendFailure>;
}

/// Starts the workers of every configured channel: `mail_workers` parallel SMTP
/// connections (lettre blocks, and each message waits out a TCP delayed ACK between its body
/// and the final dot, so parallel connections are what raises throughput), and one SMS
/// worker. Claims are per row, so workers (and instances) never send the same message.
pub fn start_workers(db: Database, settings: Arc<Settings>, base_url: Arc<str>) -> anyhow::Result<()> {
    let queue = Queue { db, settings: settings.clone(), base_url };
    if settings.smtp_url.is_some() {
        let workers = settings.mail_workers.max(1);
        for n in 0..workers {
            // Built here, so that a wrong URL or CA file stops the start.
            let mailer = Mailer::new(&settings)?;
            queue.spawn(format!("mail-worker-{n}"), Channel::Email, workers, settings.mail_rate, move || Ok(mailer))?;
        }
    }
    if let Some(gateway) = settings.sms_gateway.clone() {
        let (organisation, timeout) = (settings.organisation.clone(), settings.sms_timeout);
        // The blocking HTTP client may not be built inside the async runtime: the worker
        // thread builds it.
        queue.spawn("sms-worker".into(), Channel::Sms, 1, settings.sms_rate, move || {
            SmsGateway::connect(gateway, organisation, timeout)
        })?;
    }
    Ok(())
}

#[derive(Clone)]
struct Queue {
    db: Database,
    settings: Arc<Settings>,
    base_url: Arc<str>,
}

impl Queue {
    /// One worker thread of `channel`, one of `workers` sharing `rate` messages per second.
    fn spawn<C: Carrier>(
        &self,
        name: String,
        channel: Channel,
        workers: usize,
        rate: f64,
        connect: impl FnOnce() -> anyhow::Result<C> + Send + 'static,
    ) -> anyhow::Result<()> {
        let queue = self.clone();
        let pause = Duration::from_secs_f64(workers as f64 / rate.max(0.01));
        std::thread::Builder::new().name(name).spawn(move || {
            let carrier = match connect() {
                Ok(carrier) => carrier,
                Err(error) => {
                    tracing::error!(%error, channel = channel.as_str(), "delivery worker cannot start");
                    return;
                }
            };
            loop {
                let now = chrono::Utc::now().naive_utc();
                let claimed = queue.db.claim_due_messages(channel, 1, now);
                match claimed {
                    Ok(messages) if messages.is_empty() => std::thread::sleep(Duration::from_millis(250)),
                    Ok(messages) => {
                        for message in messages {
                            queue.deliver(&carrier, channel, &message);
                            std::thread::sleep(pause);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, channel = channel.as_str(), "message queue unavailable");
                        std::thread::sleep(Duration::from_secs(5));
                    }
                }
            }
        })?;
        Ok(())
    }

    fn deliver(&self, carrier: &impl Carrier, channel: Channel, message: &QueuedMessage) {
        let (db, settings) = (&self.db, &self.settings);
        let Ok(code) = InvitationCode::parse(&message.code) else {
            let _ = db.message_failed(message, "mã mời hỏng", false);
            return;
        };
        let url = code.url(&self.base_url);
        let opt_out_url = format!("{url}/tu-choi");
        let grouped = code.grouped();
        let invitation = Invitation { grouped_code: &grouped, url: &url, opt_out_url: &opt_out_url };
        let failed_for_good = |failure: &SendFailure, bounced: bool| {
            tracing::warn!(error = %failure.message, channel = channel.as_str(), "message failed for good");
            db.message_failed(message, &failure.message, bounced)
        };
        let recorded = match carrier.send(message, &invitation) {
            Ok(()) => db.message_sent(message),
            Err(failure) => match failure.kind {
                FailureKind::Uncertain => {
                    tracing::warn!(error = %failure.message, channel = channel.as_str(), "message perhaps delivered: not sent again");
                    db.message_uncertain(message, &failure.message)
                }
                FailureKind::Permanent { bounced } => failed_for_good(&failure, bounced),
                FailureKind::Temporary if message.attempts + 1 >= settings.mail_max_attempts => {
                    failed_for_good(&failure, false)
                }
                FailureKind::Temporary => {
                    // The base wait, doubled at each attempt, capped at an hour.
                    let base = settings.mail_retry_base.as_millis() as i64;
                    let wait = (base << message.attempts.clamp(0, 12)).min(3_600_000);
                    let next = chrono::Utc::now().naive_utc() + chrono::Duration::milliseconds(wait);
                    db.message_retry(message, &failure.message, next)
                }
            },
        };
        if let Err(error) = recorded {
            tracing::error!(%error, channel = channel.as_str(), "could not record a message's outcome");
        }
    }
}
