#![allow(dead_code)] // shared with the benchmarks, which use only part of it

//! A real SMTP server on loopback that keeps what it receives. Addresses containing
//! "bounce" are refused (550); those containing "busy" are told to retry (451) once.

use base64::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let busy_seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let (store, seen) = (mails.clone(), busy_seen.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, store.clone(), seen.clone()));
            }
        });
        Self { port, mails }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
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

async fn session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
    busy_seen: Arc<Mutex<HashMap<String, u32>>>,
) {
    // Replies go out at once, as a real server's do; otherwise Nagle's algorithm and delayed
    // ACKs add some 40 ms to every exchange.
    let _ = socket.set_nodelay(true);
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut to = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250 sink".into()
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 ok".into()
        } else if upper.starts_with("RCPT TO") {
            let address =
                line.split(':').nth(1).unwrap_or("").trim().trim_matches(|c| c == '<' || c == '>').to_string();
            if address.contains("bounce") {
                "550 5.1.1 no such user".into()
            } else if address.contains("busy") && {
                let mut seen = busy_seen.lock().unwrap();
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
            store.lock().unwrap().push(decode(&to, &data));
            "250 queued".into()
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 not implemented".into()
        };
        if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Subject (RFC 2047 words decoded) and base64 body of a single-part message.
fn decode(to: &str, data: &str) -> Mail {
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
    Mail { to: to.to_string(), subject, body }
}
