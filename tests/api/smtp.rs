#![allow(dead_code)] // shared with the benchmarks, which use only part of it

//! A real SMTP server on loopback that keeps what it receives: plain, offering STARTTLS, or
//! TLS from the first byte, with a certificate issued at start by a certificate authority of
//! its own (`ca_file`). Addresses containing "bounce" are refused (550, the reply quoting
//! the address as real servers' replies do); those containing "busy" are told to retry
//! (451) once. It accepts mail in clear even when it offers STARTTLS, so that a client that
//! would fall back to clear text would be seen doing it.

use base64::Engine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Whether it came over TLS.
    pub encrypted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    Plain,
    StartTls,
    Tls,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    security: Security,
    mails: Arc<Mutex<Vec<Mail>>>,
    /// The PEM of the authority that issued the server's certificate.
    ca_pem: String,
}

#[derive(Clone)]
struct Shared {
    mails: Arc<Mutex<Vec<Mail>>>,
    busy_seen: Arc<Mutex<HashMap<String, u32>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_with(Security::Plain).await
    }

    pub async fn start_with(security: Security) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (acceptor, ca_pem) = tls_acceptor();
        let shared = Shared { mails: Arc::default(), busy_seen: Arc::default() };
        let mails = shared.mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, security, acceptor.clone(), shared.clone()));
            }
        });
        Self { port, security, mails, ca_pem }
    }

    /// The `PHIEU_SMTP_URL` of this server.
    pub fn url(&self) -> String {
        match self.security {
            Security::Plain => format!("smtp://127.0.0.1:{}", self.port),
            Security::StartTls => format!("smtp://127.0.0.1:{}?tls=required", self.port),
            Security::Tls => format!("smtps://127.0.0.1:{}", self.port),
        }
    }

    /// A `PHIEU_SMTP_CA_FILE` that makes the server's certificate trusted.
    pub fn ca_file(&self) -> PathBuf {
        let path = std::env::temp_dir().join(format!("phieu-smtp-ca-{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits until at least `count` mails arrived (up to 30 s).
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        for _ in 0..300 {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {count} mails, got {}", self.mails().len());
    }
}

/// A certificate authority, and a certificate for 127.0.0.1 that it issued.
fn tls_acceptor() -> (TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "CA nội bộ Sở Nội vụ tỉnh Thử Nghiệm");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    (TlsAcceptor::from(Arc::new(config)), ca_cert.pem())
}

async fn connection(socket: tokio::net::TcpStream, security: Security, acceptor: TlsAcceptor, shared: Shared) {
    // Replies go out at once, as a real server's do; otherwise Nagle's algorithm and delayed
    // ACKs add some 40 ms to every exchange.
    let _ = socket.set_nodelay(true);
    match security {
        Security::Plain => {
            session(socket, &shared, Stage::Greeting { offer_starttls: false }).await;
        }
        Security::StartTls => {
            if let Some(socket) = session(socket, &shared, Stage::Greeting { offer_starttls: true }).await
                && let Ok(tls) = acceptor.accept(socket).await
            {
                session(tls, &shared, Stage::AfterStartTls).await;
            }
        }
        Security::Tls => {
            if let Ok(tls) = acceptor.accept(socket).await {
                session(tls, &shared, Stage::Encrypted).await;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// A new connection in clear text.
    Greeting { offer_starttls: bool },
    /// TLS begun by STARTTLS: the client speaks first.
    AfterStartTls,
    /// TLS from the first byte.
    Encrypted,
}

/// One SMTP conversation; returns the connection when the client asked for STARTTLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: &Shared, stage: Stage) -> Option<S> {
    let offer_starttls = matches!(stage, Stage::Greeting { offer_starttls: true });
    let encrypted = !matches!(stage, Stage::Greeting { .. });
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    if stage != Stage::AfterStartTls {
        let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    }
    let mut to = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if offer_starttls { "250-sink\r\n250 STARTTLS".into() } else { "250 sink".into() }
        } else if upper.starts_with("STARTTLS") && offer_starttls {
            let _ = write.write_all(b"220 ready to start TLS\r\n").await;
            return Some(lines.into_inner().into_inner().unsplit(write));
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 ok".into()
        } else if upper.starts_with("RCPT TO") {
            let address =
                line.split(':').nth(1).unwrap_or("").trim().trim_matches(|c| c == '<' || c == '>').to_string();
            if address.contains("bounce") {
                // As real servers do, quoting the address.
                format!("550 5.1.1 <{address}>: Recipient address rejected: User unknown")
            } else if address.contains("busy") && {
                let mut seen = shared.busy_seen.lock().unwrap();
                let n = seen.entry(address.clone()).or_default();
                *n += 1;
                *n == 1
            } {
                "451 4.3.0 try again later".into()
            } else {
                to = address;
                "250 ok".into()
            }
        } else if upper.starts_with("DATA") {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
            }
            shared.mails.lock().unwrap().push(decode(&to, &data, encrypted));
            "250 queued".into()
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            "502 not implemented".into()
        };
        if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
            return None;
        }
    }
    None
}

/// Subject (RFC 2047 words decoded) and base64 body of a single-part message.
fn decode(to: &str, data: &str, encrypted: bool) -> Mail {
    let (headers, body) = data.split_once("\n\n").unwrap_or((data, ""));
    let subject_line = headers
        .lines()
        .skip_while(|l| !l.starts_with("Subject:"))
        .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("");
    // Encoded words are decoded; spaces between two encoded words vanish (RFC 2047 §6.2).
    let mut subject = String::new();
    let mut previous_encoded = false;
    for word in subject_line.trim_start_matches("Subject:").split_whitespace() {
        let encoded = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="));
        let joins_encoded_words = previous_encoded && encoded.is_some();
        if !subject.is_empty() && !joins_encoded_words {
            subject.push(' ');
        }
        match encoded {
            Some(e) => subject
                .push_str(&String::from_utf8(base64::engine::general_purpose::STANDARD.decode(e).unwrap()).unwrap()),
            None => subject.push_str(word),
        }
        previous_encoded = encoded.is_some();
    }
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let body = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default())
        .unwrap_or_default();
    Mail { to: to.to_string(), subject, body, encrypted }
}
