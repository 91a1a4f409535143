//! Email invitations through a real SMTP server: received, followed and answered; refused
//! addresses bounced, temporary failures retried; and a server killed while sending.

use crate::helpers::{Backend, TestApp, complete_answers, free_port, spawn_app_with, wait_until_up};
use crate::lists::{confirmed_list, stored, wave_with_period};
use crate::smtp::SmtpSink;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_and_their_links_are_answered_on_sqlite() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_invitations_arrive_and_their_links_are_answered_on_postgres() {
    email_invitations_arrive_and_their_links_are_answered(Backend::Postgres).await;
}

async fn email_invitations_arrive_and_their_links_are_answered(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let Some(app) = spawn_app_with(backend, |s| s.smtp_url = Some(url)).await else { return };
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    let list = "Họ và tên,Email,Xã\nNguyễn Văn An,an@example.vn,00001\nTrần Thị Bình,bounce@example.vn,00001\nLê Văn Cường,busy@example.vn,00002\n";
    confirmed_list(&app, &wave, list).await;
    let drawn = app
        .post(
            &format!("/api/v1/waves/{wave}/sample"),
            &json!({"level": "commune", "method": "quota", "quota": 5, "seed": 9}),
        )
        .await;
    assert_eq!(drawn.status(), 201);
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

    let link = an.body.split_whitespace().find(|w| w.starts_with("http") && !w.contains("tu-choi")).unwrap();
    assert_eq!(app.status_of(link).await, 200, "the link opens the questionnaire");
    let code = link.rsplit('/').next().unwrap();
    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    assert_eq!(app.answer(code, &answers).await.status(), 201);

    let mut progress = Value::Null;
    for _ in 0..50 {
        progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
        if progress["email"]["failed"] == 1 && progress["email"]["sent"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(progress["email"], json!({"sent": 2, "failed": 1}), "{progress}");
    let answered: i64 = progress["strata"].as_array().unwrap().iter().map(|s| s["answered"].as_i64().unwrap()).sum();
    assert_eq!(answered, 1);
    assert_eq!(stored(&app, "SELECT delivery AS value FROM contacts WHERE email = 'bounce@example.vn'"), ["bounced"]);

    // A reminder goes by email to the one who neither answered nor bounced.
    let reminded: Value =
        app.post(&format!("/api/v1/waves/{wave}/reminders"), &json!({"after_days": 0})).await.json().await.unwrap();
    assert_eq!(reminded, json!({"reminded": 1, "channels": {"email": 1}}));
    let mails = sink.wait_for(3).await;
    let reminder = &mails[2];
    assert_eq!(reminder.to, "busy@example.vn");
    assert_eq!(reminder.subject, "Nhắc lại: Khảo sát SIPAS 2026");
    let _: &TestApp = &app;
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &std::path::Path, port: u16, smtp: &str) -> Server {
    Server(
        Command::new(env!("CARGO_BIN_EXE_phieu"))
            .arg("serve")
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env("PHIEU_BIND", format!("127.0.0.1:{port}"))
            .env("PHIEU_FORMS_DIR", format!("{}/survey_forms", env!("CARGO_MANIFEST_DIR")))
            .env("PHIEU_ADMIN_PASSWORD", "mat-khau-quan-tri-1")
            .env("PHIEU_SMTP_URL", smtp)
            .env("PHIEU_MAIL_RATE", "40")
            .env("PHIEU_MAIL_WORKERS", "4")
            .env("PHIEU_MAIL_LEASE_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn admin_token(api: &reqwest::Client, base: &str) -> String {
    let response: Value = api
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": "admin@phieu.local", "password": "mat-khau-quan-tri-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_sending_sends_no_email_twice_and_loses_none_silently() {
    let sink = SmtpSink::start().await;
    let dir = std::env::temp_dir().join(format!("phieu-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(&dir, port, &sink.url());
    assert!(wait_until_up(&format!("{base}/health")).await);
    let api = reqwest::Client::new();
    let token = admin_token(&api, &base).await;
    let post = |path: String, body: Value| api.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send();
    assert_eq!(
        post("/api/v1/localities".into(), json!({"code": "01", "name": "Tỉnh Một", "level": "province"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let wave: Value = post("/api/v1/waves".into(), json!({"name": "Đợt", "form_id": "sipas-2017"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wave = wave["id"].as_str().unwrap().to_string();
    post(format!("/api/v1/waves/{wave}/open"), json!({})).await.unwrap();
    let total = 150;
    let mut list = String::from("Họ tên,Email,Xã\n");
    for i in 0..total {
        list.push_str(&format!("Người {i},nguoi{i}@example.vn,01\n"));
    }
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(list.into_bytes()).file_name("l.csv"));
    let uploaded: Value = api
        .post(format!("{base}/api/v1/waves/{wave}/lists"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_id = uploaded["upload_id"].as_str().unwrap();
    post(format!("/api/v1/uploads/{upload_id}/confirm"), json!({})).await.unwrap();
    post(
        format!("/api/v1/waves/{wave}/sample"),
        json!({"level": "province", "method": "quota", "quota": total, "reserve": 0, "seed": 1}),
    )
    .await
    .unwrap();
    let sent: Value = post(format!("/api/v1/waves/{wave}/invitations/send"), json!({"channel": "email"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["queued"], total, "upload {uploaded}, send {sent}");

    sink.wait_for(30).await;
    let _ = server.0.kill();
    let _ = server.0.wait();
    let before_restart = sink.mails().len();
    assert!(before_restart < total, "killed mid-queue ({before_restart} sent)");

    let _server = serve(&dir, port, &sink.url());
    assert!(wait_until_up(&format!("{base}/health")).await);
    let token = admin_token(&api, &base).await;
    let mut email = Value::Null;
    for _ in 0..300 {
        let progress: Value = api
            .get(format!("{base}/api/v1/waves/{wave}/progress"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        email = progress["email"].clone();
        if email.get("pending").is_none() && email.get("sending").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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
    let _ = std::fs::remove_dir_all(&dir);
}
