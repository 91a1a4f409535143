//! SMS through a real HTTP gateway: queued and sent with the normalised number and a GSM-7
//! text carrying the code, refused numbers failed, gateway errors retried and then sent
//! once, reminders sent the same way (on demand and by the scheduler), and a server killed
//! while handing an SMS over never sends it again.

use crate::delivery::sampled_wave_of;
use crate::gateway::SmsGateway;
use crate::helpers::{
    Backend, ServeProcess, TestApp, complete_answers, free_port, serve_dir, spawn_app_with, wait_until_up,
};
use crate::lists::stored;
use phieu::domain::delivery::measure_sms;
use phieu::sms::GatewayTemplate;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// The third number as a list might give it; the fourth is a landline, which takes no SMS.
const PEOPLE: &str = "Họ và tên,Điện thoại,Xã\n\
Nguyễn Thị Nhận,0912000001,00001\n\
Trần Văn Sai,0912000002,00001\n\
Lê Thị Bận,+84 912 000 003,00002\n\
Hoàng Thị Bàn,024 3825 1234,00003\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_invitations_go_through_the_gateway_refusals_fail_and_errors_are_retried_on_sqlite() {
    sms_invitations_go_through_the_gateway_refusals_fail_and_errors_are_retried(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_invitations_go_through_the_gateway_refusals_fail_and_errors_are_retried_on_postgres() {
    sms_invitations_go_through_the_gateway_refusals_fail_and_errors_are_retried(Backend::Postgres).await;
}

async fn sms_invitations_go_through_the_gateway_refusals_fail_and_errors_are_retried(backend: Backend) {
    let gateway = SmsGateway::start().await;
    gateway.answer("84912000002", &[400]);
    gateway.answer("84912000003", &[503]);
    let template = GatewayTemplate::parse(&gateway.url_template(), "GET").unwrap();
    let Some(app) = spawn_app_with(backend, |s| s.sms_gateway = Some(template)).await else { return };
    let wave = sampled_wave_of(&app, PEOPLE).await;
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent, json!({"queued": 3, "unreachable": 1}));

    let progress = app.progress_when(&wave, |p| p["sms"] == json!({"sent": 2, "failed": 1})).await;
    assert_eq!(progress["sms"], json!({"sent": 2, "failed": 1}), "{progress}");
    assert_eq!(progress["email"], json!({}));
    let statuses = |phone: &str| gateway.received_for(phone).iter().map(|s| s.status).collect::<Vec<_>>();
    assert_eq!(statuses("84912000001"), [200]);
    assert_eq!(statuses("84912000002"), [400], "a refusal is not retried");
    assert_eq!(statuses("84912000003"), [503, 200], "a gateway error is retried, and then sent once");
    assert_eq!(gateway.received().len(), 4, "nothing for the landline");
    assert_eq!(
        stored(&app, "SELECT last_error AS value FROM mail_queue WHERE last_error IS NOT NULL ORDER BY last_error"),
        ["cổng SMS trả lời HTTP 400", "cổng SMS trả lời HTTP 503"],
        "the reason, without the number"
    );

    let sms = &gateway.received_for("84912000001")[0];
    assert_eq!((sms.method.as_str(), sms.path.as_str(), sms.params["key"].as_str()), ("GET", "/api/send", "khoa-thu"));
    let text = sms.text();
    assert!(text.starts_with("So Noi vu tinh Thu Nghiem moi Ong/Ba tra loi phieu khao sat"), "{text}");
    let measured = measure_sms(text);
    assert!(measured.gsm7_length.is_some() && measured.parts == 1, "one GSM-7 part: {text}");
    let grouped = text.split("Ma: ").nth(1).unwrap().split(". ").next().unwrap();
    let link = text.rsplit(' ').next().unwrap();
    assert_eq!(link.rsplit('/').next().unwrap(), grouped.replace('-', ""), "the code of the link: {text}");
    assert_eq!(app.status_of(link).await, 200);
    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    assert_eq!(app.answer(grouped, &answers).await.status(), 201);

    assert_eq!(
        stored(&app, "SELECT phone || ' ' || delivery AS value FROM contacts ORDER BY phone"),
        ["02438251234 unreachable", "0912000001 sent", "0912000002 failed", "0912000003 sent"]
    );
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    let strata = progress["strata"].as_array().unwrap();
    let total = |field: &str| strata.iter().map(|s| s[field].as_i64().unwrap()).sum::<i64>();
    assert_eq!((total("invited"), total("delivered"), total("answered")), (3, 2, 1), "{progress}");

    // A reminder goes through the gateway to the one reached who has not answered.
    let reminded: Value =
        app.post(&format!("/api/v1/waves/{wave}/reminders"), &json!({"after_days": 0})).await.json().await.unwrap();
    assert_eq!(reminded, json!({"reminded": 1, "channels": {"sms": 1}}));
    gateway.wait_for(5).await;
    assert_eq!(statuses("84912000003"), [503, 200, 200]);
    let progress = app.progress_when(&wave, |p| p["sms"] == json!({"sent": 3, "failed": 1})).await;
    assert_eq!(progress["sms"], json!({"sent": 3, "failed": 1}), "{progress}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_sms_carry_the_query_as_a_form_and_the_scheduler_reminds_by_sms() {
    let gateway = SmsGateway::start().await;
    let template = GatewayTemplate::parse(&gateway.url_template(), "POST").unwrap();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.sms_gateway = Some(template);
        s.reminders_automatic = true;
        s.reminder_after_days = 0;
        s.reminder_max = 1;
        s.mix_interval = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let list = "Họ và tên,Địa chỉ,Điện thoại,Xã\n\
Nguyễn Thị Thư,Số 5 đường Lý Thái Tổ,0912000001,00001\n\
Trần Văn Tin,,0912000002,00002\n";
    let wave = sampled_wave_of(&app, list).await;
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "auto"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent, json!({"queued": 2, "unreachable": 0}), "a letter and an SMS");

    // The invitation, then one automatic reminder (PHIEU_REMINDER_MAX=1) once it was sent.
    gateway.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let received = gateway.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for sms in &received {
        assert_eq!((sms.method.as_str(), sms.path.as_str(), sms.query.as_str()), ("POST", "/api/send", ""));
        assert_eq!(sms.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
        assert_eq!((sms.params["key"].as_str(), sms.phone()), ("khoa-thu", "84912000002"));
        assert!(sms.text().contains("Ma: "), "{}", sms.text());
    }
    assert_eq!(received[0].text(), received[1].text(), "the reminder carries the same code");
    assert_eq!(
        stored(
            &app,
            "SELECT channel || ' ' || reminders_sent || ' ' || delivery AS value FROM contacts ORDER BY channel"
        ),
        ["letter 0 sent", "sms 1 sent"],
        "letters are reminded on demand only"
    );
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    assert_eq!(progress["sms"], json!({"sent": 2}), "{progress}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_handing_an_sms_to_the_gateway_never_sends_it_again() {
    let gateway = SmsGateway::start().await;
    gateway.hang("84912000003");
    let (dir, port) = (serve_dir(), free_port());
    let env = [
        ("PHIEU_SMS_GATEWAY_URL", gateway.url_template()),
        ("PHIEU_SMS_GATEWAY_METHOD", "POST".to_string()),
        ("PHIEU_SMS_RATE", "50".to_string()),
        ("PHIEU_MAIL_LEASE_SECS", "1".to_string()),
    ];
    let mut server = ServeProcess::start(&dir, port, &env);
    let app = TestApp::attach(port, dir.clone()).await;
    let mut list = String::from("Họ và tên,Điện thoại,Xã\n");
    for i in 1..=6 {
        list.push_str(&format!("Người {i},091200000{i},00001\n"));
    }
    let wave = sampled_wave_of(&app, &list).await;
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent["queued"], 6);

    // The gateway has the message and has not answered when the server dies.
    gateway.wait_until(|received| received.iter().any(|s| s.phone() == "84912000003")).await;
    server.kill();
    let _server = ServeProcess::start(&dir, port, &env);
    assert!(wait_until_up(&app.url("/health")).await);
    let progress = app.progress_when(&wave, |p| p["sms"] == json!({"sent": 5, "uncertain": 1})).await;
    assert_eq!(progress["sms"], json!({"sent": 5, "uncertain": 1}), "{progress}");
    let mut received: HashMap<String, usize> = HashMap::new();
    for sms in gateway.received() {
        *received.entry(sms.phone().to_string()).or_default() += 1;
    }
    assert_eq!(received.len(), 6, "{received:?}");
    assert!(received.values().all(|n| *n == 1), "an SMS was sent twice: {received:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_the_gateway_took_but_answered_too_late_is_uncertain_and_never_sent_again_on_sqlite() {
    an_sms_the_gateway_took_but_answered_too_late_is_uncertain_and_never_sent_again(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_the_gateway_took_but_answered_too_late_is_uncertain_and_never_sent_again_on_postgres() {
    an_sms_the_gateway_took_but_answered_too_late_is_uncertain_and_never_sent_again(Backend::Postgres).await;
}

async fn an_sms_the_gateway_took_but_answered_too_late_is_uncertain_and_never_sent_again(backend: Backend) {
    let gateway = SmsGateway::start().await;
    gateway.answer_late("84912000001", Duration::from_secs(3));
    let template = GatewayTemplate::parse(&gateway.url_template(), "GET").unwrap();
    let Some(app) = spawn_app_with(backend, |s| {
        s.sms_gateway = Some(template);
        s.sms_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let list = "Họ và tên,Điện thoại,Xã\nNguyễn Thị Chậm,0912000001,00001\nTrần Văn Nhanh,0912000002,00001\n";
    let wave = sampled_wave_of(&app, list).await;
    let sent = app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"})).await;
    assert_eq!(sent.json::<Value>().await.unwrap()["queued"], 2);

    let progress = app.progress_when(&wave, |p| p["sms"] == json!({"sent": 1, "uncertain": 1})).await;
    assert_eq!(progress["sms"], json!({"sent": 1, "uncertain": 1}), "{progress}");
    // Past the late answer and many back-offs (200 ms in the tests): still received once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(gateway.received_for("84912000001").len(), 1, "{:?}", gateway.received());
    assert_eq!(gateway.received().len(), 2);
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    assert_eq!(progress["sms"], json!({"sent": 1, "uncertain": 1}), "{progress}");
    let error = stored(&app, "SELECT last_error AS value FROM mail_queue WHERE status = 'uncertain'");
    assert!(error[0].starts_with("cổng SMS không trả lời rõ, có thể đã nhận tin"), "{error:?}");
    assert!(!error[0].contains("912000001") && !error[0].contains("khoa-thu"), "{error:?}");
    assert_eq!(
        stored(&app, "SELECT phone || ' ' || delivery AS value FROM contacts ORDER BY phone"),
        ["0912000001 pending", "0912000002 sent"],
        "not known to have arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_cannot_be_reached_is_tried_again_then_given_up() {
    // Nothing listens there: the connection is refused before anything is sent.
    let url = format!("http://127.0.0.1:{}/api/send?to={{phone}}&text={{text}}", free_port());
    let template = GatewayTemplate::parse(&url, "GET").unwrap();
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| s.sms_gateway = Some(template)).await else { return };
    let wave = sampled_wave_of(&app, "Họ và tên,Điện thoại,Xã\nNguyễn Thị Xa,0912000001,00001\n").await;
    let sent = app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"})).await;
    assert_eq!(sent.json::<Value>().await.unwrap()["queued"], 1);
    let progress = app.progress_when(&wave, |p| p["sms"] == json!({"failed": 1})).await;
    assert_eq!(progress["sms"], json!({"failed": 1}), "{progress}");
    let queued = stored(&app, "SELECT attempts || ' ' || last_error AS value FROM mail_queue");
    assert!(
        queued[0].starts_with("3 không kết nối được tới cổng SMS"),
        "tried PHIEU_MAIL_MAX_ATTEMPTS times: {queued:?}"
    );
}
