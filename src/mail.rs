//! Invitation emails: the SMTP transport (lettre), plain, STARTTLS or TLS, optionally
//! trusting an extra certificate authority. The queue worker is in [`crate::outbox`].

use crate::config::Settings;
use crate::domain::delivery::{MailValues, render_mail};
use crate::outbox::{Carrier, FailureKind, Invitation, SendFailure};
use crate::storage::mail::QueuedMessage;
use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::path::Path;
use std::time::Duration;

pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    organisation: String,
    retention_days: i64,
}

impl Mailer {
    /// The transport of `PHIEU_SMTP_URL` (port, credentials and TLS mode as lettre reads the
    /// URL), its TLS also trusting the roots of `PHIEU_SMTP_CA_FILE` when set.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let url = settings.smtp_url.as_deref().context("PHIEU_SMTP_URL is not set")?;
        let mut transport = SmtpTransport::from_url(url).map_err(|e| anyhow::anyhow!("PHIEU_SMTP_URL: {e}"))?;
        if let Some(ca_file) = &settings.smtp_ca_file {
            transport = transport.tls(tls_trusting(url, ca_file)?);
        }
        let from = settings.mail_from.parse().map_err(|e| anyhow::anyhow!("PHIEU_MAIL_FROM: {e}"))?;
        Ok(Self {
            transport: transport.timeout(Some(Duration::from_secs(30))).build(),
            from,
            organisation: settings.organisation.clone(),
            retention_days: settings.retention_days,
        })
    }

    pub fn send(&self, to: &str, subject: &str, body: String) -> Result<(), SendFailure> {
        let invalid = |message: String| SendFailure { message, kind: FailureKind::Permanent { bounced: true } };
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
        self.transport.send(&message).map(|_| ()).map_err(|e| smtp_failure(&e))
    }
}

/// An SMTP error described without the server's text, which often quotes the recipient
/// ("5.1.1 <a@b.vn>: Recipient address rejected"): the reply code, or the kind of failure
/// with what the client's own libraries say about it (a TLS certificate problem, a missing
/// STARTTLS).
///
/// lettre does not say which command a network error or a timeout interrupted, so one after
/// the message's DATA cannot be told from one before it: both are retried, and a server
/// that took the message but dropped the connection before its reply may get it twice.
fn smtp_failure(error: &lettre::transport::smtp::Error) -> SendFailure {
    if let Some(code) = error.status() {
        return match error.is_permanent() {
            true => SendFailure {
                message: format!("smtp {code} (permanent)"),
                kind: FailureKind::Permanent { bounced: true },
            },
            false => SendFailure { message: format!("smtp {code} (transient)"), kind: FailureKind::Temporary },
        };
    }
    let message = if let Some(tls) = find_source::<rustls::Error>(error) {
        format!("tls: {tls}")
    } else if error.is_tls() {
        "tls".to_string()
    } else if error.is_timeout() {
        "timeout".to_string()
    } else if error.is_client() {
        // lettre's own fixed sentences ("STARTTLS is not supported on this server").
        match std::error::Error::source(error) {
            Some(reason) => format!("client: {reason}"),
            None => "client".to_string(),
        }
    } else if error.is_response() {
        "response: unreadable reply".to_string()
    } else if let Some(io) = find_source::<std::io::Error>(error) {
        format!("connection: {:?}", io.kind())
    } else {
        "connection".to_string()
    };
    SendFailure { message, kind: FailureKind::Temporary }
}

/// The first error of type `E` in `error`'s chain of sources, looking inside I/O errors.
fn find_source<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<E>() {
            return Some(found);
        }
        next = match current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    None
}

impl Carrier for Mailer {
    fn send(&self, message: &QueuedMessage, invitation: &Invitation) -> Result<(), SendFailure> {
        let values = MailValues {
            name: &message.name,
            grouped_code: invitation.grouped_code,
            url: invitation.url,
            opt_out_url: invitation.opt_out_url,
            organisation: &self.organisation,
            retention_days: self.retention_days,
        };
        let (subject, body) = render_mail(
            message.subject_template.as_deref(),
            message.body_template.as_deref(),
            &values,
            message.kind == "reminder",
        );
        Mailer::send(self, &message.to, &subject, body)
    }
}

/// The TLS mode of `url` (as lettre reads it: `smtps://` TLS from the first byte,
/// `?tls=required` or `?tls=opportunistic` STARTTLS), its certificate checked against the
/// usual roots and those of `ca_file`.
fn tls_trusting(url: &str, ca_file: &Path) -> anyhow::Result<Tls> {
    let pem = std::fs::read(ca_file).with_context(|| format!("PHIEU_SMTP_CA_FILE: reading {}", ca_file.display()))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        anyhow::bail!("PHIEU_SMTP_CA_FILE: {} holds no PEM certificate", ca_file.display());
    }
    let roots = Certificate::from_pem(&pem).map_err(|e| anyhow::anyhow!("PHIEU_SMTP_CA_FILE: {e}"))?;
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("PHIEU_SMTP_URL: {e}"))?;
    let host = parsed.host_str().context("PHIEU_SMTP_URL has no host")?.to_string();
    let parameters = TlsParameters::builder(host)
        .add_root_certificate(roots)
        .build_rustls()
        .map_err(|e| anyhow::anyhow!("PHIEU_SMTP_CA_FILE: {e}"))?;
    let tls = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    match (parsed.scheme(), tls.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(parameters)),
        ("smtp", Some("required")) => Ok(Tls::Required(parameters)),
        ("smtp", Some("opportunistic")) => Ok(Tls::Opportunistic(parameters)),
        _ => anyhow::bail!(
            "PHIEU_SMTP_CA_FILE is set but PHIEU_SMTP_URL uses no TLS: use smtps://… or smtp://…?tls=required"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, ca_file: Option<&Path>) -> Settings {
        let mut settings = Settings::from_env().expect("defaults");
        settings.smtp_url = Some(url.into());
        settings.smtp_ca_file = ca_file.map(Path::to_path_buf);
        settings
    }

    #[test]
    fn a_ca_file_needs_a_tls_url_and_a_certificate_in_it() {
        let dir = std::env::temp_dir().join(format!("phieu-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "không phải chứng chỉ").unwrap();
        let error = Mailer::new(&settings("smtps://mail.example.vn", Some(&not_pem))).err().unwrap();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        let missing = Mailer::new(&settings("smtps://mail.example.vn", Some(&dir.join("missing.pem")))).err().unwrap();
        assert!(missing.to_string().contains("PHIEU_SMTP_CA_FILE"), "{missing}");
        assert!(Mailer::new(&settings("smtps://mail.example.vn", None)).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
