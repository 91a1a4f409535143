//! Email invitations through a real SMTP server, plain, over STARTTLS and over TLS:
//! received, followed and answered; refused addresses bounced, temporary failures retried;
//! nothing sent to a server whose certificate is not trusted; and a server killed while
//! sending.

use crate::delivery::sampled_wave_of;
use crate::helpers::{
    Backend, ServeProcess, TestApp, complete_answers, free_port, serve_dir, spawn_app_with, wait_until_up,
};
use crate::lists::stored;
use crate::smtp::{Security, SmtpSink};
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_and_their_links_are_answered_on_sqlite() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Sqlite, Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_and_their_links_are_answered_on_postgres() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Postgres, Security::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_over_starttls_from_a_server_of_a_trusted_internal_ca_on_sqlite() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Sqlite, Security::StartTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_over_starttls_from_a_server_of_a_trusted_internal_ca_on_postgres() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Postgres, Security::StartTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_over_implicit_tls_from_a_server_of_a_trusted_internal_ca_on_sqlite() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Sqlite, Security::Tls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_over_implicit_tls_from_a_server_of_a_trusted_internal_ca_on_postgres() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Postgres, Security::Tls).await;
}

/// A sink with `security`, and an app sending to it that trusts the sink's authority.
async fn app_sending_to(backend: Backend, security: Security) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start_with(security).await;
    let url = sink.url();
    let ca_file = (security != Security::Plain).then(|| sink.ca_file());
    let app = spawn_app_with(backend, |s| {
        s.smtp_url = Some(url);
        s.smtp_ca_file = ca_file.clone();
    })
    .await;
    // Read when the server started.
    if let Some(file) = ca_file {
        let _ = std::fs::remove_file(file);
    }
    Some((app?, sink))
}

async fn email_invitations_arrive_and_their_links_are_answered(backend: Backend, security: Security) {
    let Some((app, sink)) = app_sending_to(backend, security).await else { return };
    let list = "Họ và tên,Email,Xã\nNguyễn Văn An,an@example.vn,00001\nTrần Thị Bình,bounce@example.vn,00001\nLê Văn Cường,busy@example.vn,00002\n";
    let wave = sampled_wave_of(&app, list).await;
    let template = app
        .api
        .put(app.url(&format!("/api/v1/waves/{wave}/mail-template")))
        .bearer_auth(&app.admin_token)
        .json(&json!({"subject": "Khảo sát SIPAS 2026", "body": "Kính gửi {ten}: mở {duong_dan} (mã {ma}). Từ chối: {tu_choi}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(template.status(), 200);
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "auto"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent, json!({"queued": 3, "unreachable": 0}));

    // The busy address is refused once and accepted on the retry.
    let mails = sink.wait_for(2).await;
    let an = mails.iter().find(|m| m.to == "an@example.vn").expect("mail to an@");
    assert_eq!(an.subject, "Khảo sát SIPAS 2026");
    assert!(an.body.starts_with("Kính gửi Nguyễn Văn An: mở http://127.0.0.1:"), "{}", an.body);
    assert!(an.body.contains("Thông tin về dữ liệu cá nhân"), "notice appended");
    assert!(mails.iter().any(|m| m.to == "busy@example.vn"), "retried after 451");
    assert!(mails.iter().all(|m| m.to != "bounce@example.vn"));
    assert!(mails.iter().all(|m| m.encrypted == (security != Security::Plain)), "{security:?}: {mails:?}");

    let link = an.body.split_whitespace().find(|w| w.starts_with("http") && !w.contains("tu-choi")).unwrap();
    assert_eq!(app.status_of(link).await, 200, "the link opens the questionnaire");
    let code = link.rsplit('/').next().unwrap();
    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    assert_eq!(app.answer(code, &answers).await.status(), 201);

    let progress = app.progress_when(&wave, |p| p["email"] == json!({"sent": 2, "failed": 1})).await;
    assert_eq!(progress["email"], json!({"sent": 2, "failed": 1}), "{progress}");
    let answered: i64 = progress["strata"].as_array().unwrap().iter().map(|s| s["answered"].as_i64().unwrap()).sum();
    assert_eq!(answered, 1);
    assert_eq!(stored(&app, "SELECT delivery AS value FROM contacts WHERE email = 'bounce@example.vn'"), ["bounced"]);
    // The server's refusal quotes the address: only its code is kept.
    assert_eq!(
        stored(
            &app,
            "SELECT status || ' ' || last_error AS value FROM mail_queue WHERE last_error IS NOT NULL ORDER BY last_error"
        ),
        ["sent smtp 451 (transient)", "failed smtp 550 (permanent)"]
    );
    assert!(!progress.to_string().contains("@example.vn"), "{progress}");

    // A reminder goes by email to the one who neither answered nor bounced.
    let reminded: Value =
        app.post(&format!("/api/v1/waves/{wave}/reminders"), &json!({"after_days": 0})).await.json().await.unwrap();
    assert_eq!(reminded, json!({"reminded": 1, "channels": {"email": 1}}));
    let mails = sink.wait_for(3).await;
    let reminder = &mails[2];
    assert_eq!(reminder.to, "busy@example.vn");
    assert_eq!(reminder.subject, "Nhắc lại: Khảo sát SIPAS 2026");

    // The purge leaves no error text behind either.
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/purge"), &json!({"force": true})).await.status(), 200);
    assert_eq!(stored(&app, "SELECT last_error AS value FROM mail_queue WHERE last_error IS NOT NULL").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_or_a_stripped_starttls_stops_the_email_before_anything_is_sent() {
    // No PHIEU_SMTP_CA_FILE: the sink's own authority is unknown. Last, a server that does
    // not offer STARTTLS (as when an attacker strips it) where TLS is required.
    for (security, reason) in [
        (Security::StartTls, "UnknownIssuer"),
        (Security::Tls, "UnknownIssuer"),
        (Security::Plain, "STARTTLS is not supported"),
    ] {
        let sink = SmtpSink::start_with(security).await;
        let url = match security {
            Security::Plain => format!("{}?tls=required", sink.url()),
            _ => sink.url(),
        };
        let Some(app) = spawn_app_with(Backend::Sqlite, |s| s.smtp_url = Some(url)).await else { return };
        let wave = sampled_wave_of(&app, "Họ và tên,Email,Xã\nNguyễn Văn An,an@example.vn,00001\n").await;
        let sent: Value = app
            .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "email"}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(sent["queued"], 1);

        // Tried PHIEU_MAIL_MAX_ATTEMPTS times (3 in the tests), then given up.
        let progress = app.progress_when(&wave, |p| p["email"] == json!({"failed": 1})).await;
        assert_eq!(progress["email"], json!({"failed": 1}), "{security:?}: {progress}");
        assert!(sink.mails().is_empty(), "{security:?}: nothing reached the server, in clear or not");
        let queued = stored(&app, "SELECT attempts || ' ' || last_error AS value FROM mail_queue");
        assert!(queued[0].starts_with("3 "), "{queued:?}");
        assert!(queued[0].contains(reason), "{security:?}: {queued:?}");
        assert_eq!(stored(&app, "SELECT delivery AS value FROM contacts"), ["failed"], "failed, not bounced");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_sending_sends_no_email_twice_and_loses_none_silently() {
    let sink = SmtpSink::start().await;
    let (dir, port) = (serve_dir(), free_port());
    let env = [
        ("PHIEU_SMTP_URL", sink.url()),
        ("PHIEU_MAIL_RATE", "40".to_string()),
        ("PHIEU_MAIL_WORKERS", "4".to_string()),
        ("PHIEU_MAIL_LEASE_SECS", "1".to_string()),
    ];
    let mut server = ServeProcess::start(&dir, port, &env);
    let app = TestApp::attach(port, dir.clone()).await;
    let total = 150;
    let mut list = String::from("Họ tên,Email,Xã\n");
    for i in 0..total {
        list.push_str(&format!("Người {i},nguoi{i}@example.vn,00001\n"));
    }
    let wave = sampled_wave_of(&app, &list).await;
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "email"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent["queued"], total, "{sent}");

    sink.wait_for(30).await;
    server.kill();
    let before_restart = sink.mails().len();
    assert!(before_restart < total, "killed mid-queue ({before_restart} sent)");

    let _server = ServeProcess::start(&dir, port, &env);
    assert!(wait_until_up(&app.url("/health")).await);
    let progress =
        app.progress_when(&wave, |p| p["email"].get("pending").is_none() && p["email"].get("sending").is_none()).await;
    let email = &progress["email"];
    let mut received: HashMap<String, usize> = HashMap::new();
    for mail in sink.mails() {
        *received.entry(mail.to).or_default() += 1;
    }
    assert!(received.values().all(|n| *n == 1), "an email was sent twice: {received:?}");
    let uncertain = email["uncertain"].as_u64().unwrap_or(0) as usize;
    // Four workers: at most the four emails in flight at the kill can be uncertain.
    assert!(uncertain <= 4, "only emails in flight at the kill can be uncertain: {email}");
    assert_eq!(email["sent"].as_u64().unwrap_or(0) as usize + uncertain, total, "{email}");
    assert!(
        total - received.len() <= uncertain,
        "every email not received is flagged uncertain: {email}, received {}",
        received.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sends_at_once_invite_each_person_once_on_sqlite() {
    two_sends_at_once_invite_each_person_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sends_at_once_invite_each_person_once_on_postgres() {
    two_sends_at_once_invite_each_person_once(Backend::Postgres).await;
}

/// A double click: two sends of the same wave at the same time.
async fn two_sends_at_once_invite_each_person_once(backend: Backend) {
    let Some((app, sink)) = app_sending_to(backend, Security::Plain).await else { return };
    let total = 60;
    let mut list = String::from("Họ tên,Email,Xã\n");
    for i in 0..total {
        list.push_str(&format!("Người {i},nguoi{i}@example.vn,00001\n"));
    }
    let wave = sampled_wave_of(&app, &list).await;
    let path = format!("/api/v1/waves/{wave}/invitations/send");
    let body = json!({"channel": "email"});
    let (first, second) = tokio::join!(app.post(&path, &body), app.post(&path, &body));
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let (first, second): (Value, Value) = (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first["queued"].as_u64().unwrap() + second["queued"].as_u64().unwrap(), total, "{first} {second}");

    let invited = stored(
        &app,
        "SELECT c.id AS value FROM contacts c JOIN invitations i ON i.code_hash = c.code_hash ORDER BY c.id",
    );
    assert_eq!(invited.len(), total as usize);
    assert_eq!(stored(&app, "SELECT code_hash AS value FROM invitations").len(), total as usize, "one code each");
    let queued = stored(&app, "SELECT contact_id AS value FROM mail_queue ORDER BY contact_id");
    assert_eq!(queued, invited, "one message each");
    sink.wait_for(total as usize).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut received: HashMap<String, usize> = HashMap::new();
    for mail in sink.mails() {
        *received.entry(mail.to).or_default() += 1;
    }
    assert_eq!(received.len(), total as usize);
    assert!(received.values().all(|n| *n == 1), "an invitation was mailed twice: {received:?}");
}
