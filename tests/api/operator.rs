//! What an operator expects: metrics, the OpenAPI document, backups and JSON logs.

use crate::delivery::{PEOPLE, sampled_wave};
use crate::helpers::{Backend, TestApp, complete_answers, free_port, spawn_app, spawn_app_with, wait_until_up};
use crate::lists::stored;
use crate::on_both_backends;
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Command, Stdio};

on_both_backends!(
    metrics_count_requests_by_route_pattern_and_answers_without_codes,
    every_documented_operation_reaches_its_own_route,
);

async fn metrics_text(app: &TestApp) -> String {
    let response = app.api.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

async fn metrics_count_requests_by_route_pattern_and_answers_without_codes(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", Some("AG1"), 1).await.remove(0);
    assert_eq!(app.status_of(&invitation.url).await, 200);
    let form = app.form("sipas-2017").await;
    assert_eq!(app.answer(&invitation.code, &complete_answers(&form, |_| None)).await.status(), 201);
    assert_eq!(app.answer(&invitation.code, &complete_answers(&form, |_| None)).await.status(), 409);
    assert_eq!(app.status_of(&app.url("/no/such/page")).await, 404);

    let text = metrics_text(&app).await;
    for line in [
        "phieu_http_requests_total{method=\"POST\",route=\"/api/v1/responses\",status=\"201\"} 1",
        "phieu_http_requests_total{method=\"POST\",route=\"/api/v1/responses\",status=\"409\"} 1",
        "phieu_http_requests_total{method=\"GET\",route=\"/s/{code}\",status=\"200\"} 1",
        "phieu_http_requests_total{method=\"POST\",route=\"/api/v1/waves/{id}/invitations\",status=\"201\"} 1",
        "phieu_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "phieu_answers_total{outcome=\"stored\"} 1",
        "phieu_answer_writer_queue 0",
        "phieu_list_uploads_importing 0",
        "phieu_outbox_messages{channel=\"email\",status=\"pending\"} 0",
        "phieu_db_pool_max_connections 8",
        "phieu_db_up 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // The second answer was refused before the writer (the code was used): not counted there.
    assert!(text.contains("phieu_answers_total{outcome=\"already_answered\"} 0"), "{text}");
    assert!(text.contains("phieu_http_request_duration_seconds_count{method=\"GET\",route=\"/s/{code}\"} 1"));
    let plain = invitation.code.replace('-', "");
    assert!(!text.contains(&invitation.code) && !text.contains(&plain), "a code reached the metrics");
    assert!(!text.contains(&wave) && !text.contains("/no/such/page"), "paths are not labels, patterns are");
}

async fn every_documented_operation_reaches_its_own_route(app: TestApp) {
    let response = app.api.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in
            item.as_object().unwrap().keys().filter(|m| ["get", "post", "put", "delete"].contains(&m.as_str()))
        {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(operations.len() > 40, "{operations:?}");
    // Without credentials or bodies: every call is refused or answered harmlessly, but the
    // route it reached is counted under its pattern.
    for (method, path) in &operations {
        let concrete = path.replace('{', "x").replace('}', "");
        let request = app.api.request(method.parse().unwrap(), app.url(&format!("/api/v1{concrete}")));
        request.send().await.unwrap();
    }
    let text = metrics_text(&app).await;
    for (method, path) in &operations {
        let label = format!("phieu_http_requests_total{{method=\"{method}\",route=\"/api/v1{path}\",");
        assert!(text.contains(&label), "{method} {path} is documented but no route serves it:\n{text}");
    }
    assert!(!text.contains("route=\"unmatched\""), "a documented operation reached no route:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_for_the_configured_networks_or_the_token_and_a_proxy_does_not_open_them() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| {
        s.trust_proxy = true;
        s.metrics_token = Some("metrics-token-7c1f".into());
    })
    .await
    else {
        return;
    };
    let get = |forwarded: Option<&str>, token: Option<&str>| {
        let mut request = app.api.get(app.url("/metrics"));
        if let Some(address) = forwarded {
            request = request.header("X-Forwarded-For", address);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None, None).await, 200, "loopback is allowed by default");
    assert_eq!(get(Some("203.0.113.9"), None).await, 403, "a client behind the proxy is not loopback");
    assert_eq!(get(Some("203.0.113.9"), Some("wrong-token")).await, 403);
    assert_eq!(get(Some("203.0.113.9"), Some("metrics-token-7c1f")).await, 200);

    let Some(closed) = spawn_app_with(Backend::Sqlite, |s| {
        s.metrics_networks = phieu::config::parse_networks("none").unwrap();
    })
    .await
    else {
        return;
    };
    assert_eq!(closed.status_of(&closed.url("/metrics")).await, 403, "no network and no token: nobody");
}

fn phieu() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_phieu"));
    command.env_remove("PHIEU_SECRET_KEY").env_remove("PHIEU_LOG_FORMAT");
    command
}

#[derive(diesel::QueryableByName)]
struct Cell {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_a_standalone_copy_without_purged_contacts_nor_a_key_kept_outside() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let wave = sampled_wave(&app).await;
    let sent = app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"})).await;
    assert_eq!(sent.status(), 200);
    let sms = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/sms.csv")).await.text().await.unwrap();
    let link_of = |line: &str| line.split(',').nth(1).unwrap().rsplit(' ').next().unwrap().to_string();
    let (refusing, answering) = (sms.lines().nth(1).unwrap(), sms.lines().nth(2).unwrap());
    // The refusing person's data are erased at once.
    let phone = refusing.split(',').next().unwrap().to_string();
    let local = format!("0{}", &phone[phone.len() - 9..]);
    let name = PEOPLE.lines().find(|l| l.contains(&local)).unwrap().split(',').next().unwrap().to_string();
    let client = crate::helpers::browser();
    let page = client.get(format!("{}/tu-choi", link_of(refusing))).send().await.unwrap().text().await.unwrap();
    let csrf = crate::helpers::csrf_of(&page);
    let refused =
        client.post(format!("{}/tu-choi", link_of(refusing))).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(refused.status(), 200);
    let code = link_of(answering).rsplit('/').next().unwrap().to_string();
    let form = app.form("sipas-2017").await;
    assert_eq!(app.answer(&code, &complete_answers(&form, |_| None)).await.status(), 201);

    let source = app.database_url.strip_prefix("sqlite://").unwrap().to_string();
    let dir = std::path::Path::new(&source).parent().unwrap().to_path_buf();
    let backup = |file: &str, key: Option<&str>| {
        let mut command = phieu();
        command.args(["backup", dir.join(file).to_str().unwrap()]).env("DATABASE_URL", &app.database_url);
        if let Some(key) = key {
            command.env("PHIEU_SECRET_KEY", key);
        }
        command.output().unwrap()
    };
    // While the server runs.
    let with_key = backup("with-key.db", None);
    let said = String::from_utf8_lossy(&with_key.stdout).to_string();
    assert!(with_key.status.success(), "{said}{}", String::from_utf8_lossy(&with_key.stderr));
    assert!(said.contains("1 answers") && said.contains("instance key: IN the backup"), "{said}");

    let copy = std::fs::read(dir.join("with-key.db")).unwrap();
    assert_eq!(&copy[..16], b"SQLite format 3\0");
    assert_eq!((copy[18], copy[19]), (1, 1), "a rollback-journal file, not a WAL one");
    assert!(!dir.join("with-key.db-wal").exists() && !dir.join("with-key.db-shm").exists());
    for secret in [phone.as_str(), local.as_str(), name.as_str()] {
        assert!(!contains(&copy, secret), "{secret} of a refusing person is in the backup");
    }
    assert!(contains(&copy, "Nguyễn Thị Thư") || contains(&copy, "Trần Văn Thơ"), "kept contacts are copied");
    let open = |file: &str, sql: &str| {
        use diesel::{Connection, RunQueryDsl, sqlite::SqliteConnection};
        let mut conn = SqliteConnection::establish(dir.join(file).to_str().unwrap()).unwrap();
        diesel::sql_query(sql).load::<Cell>(&mut conn).unwrap().into_iter().map(|c| c.value).collect()
    };
    let answers: Vec<String> = open("with-key.db", "SELECT id AS value FROM responses");
    assert_eq!(answers, stored(&app, "SELECT id AS value FROM responses"), "the copy has the answers");
    let key: Vec<String> = open("with-key.db", "SELECT value FROM instance_secrets WHERE name = 'code_hmac_key'");
    assert_eq!(key.len(), 1);

    let without_key = backup("without-key.db", Some("a-key-kept-in-the-vault-0123456789"));
    let said = String::from_utf8_lossy(&without_key.stdout).to_string();
    assert!(without_key.status.success() && said.contains("instance key: not in the backup"), "{said}");
    let copy = std::fs::read(dir.join("without-key.db")).unwrap();
    assert!(!contains(&copy, &key[0]), "the stored key is not in the copy, not even in a free page");
    assert_eq!(open("without-key.db", "SELECT id AS value FROM responses"), answers);

    let again = backup("with-key.db", None);
    assert!(!again.status.success(), "an existing file is never overwritten");
}

#[test]
fn backup_of_postgresql_points_to_its_own_tools() {
    let out =
        phieu().args(["backup", "/tmp/never.db"]).env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none").output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    assert!(!std::path::Path::new("/tmp/never.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_lines_of_json_each_request_under_the_id_it_was_answered_with() {
    let dir = crate::helpers::serve_dir();
    let port = free_port();
    let mut child = phieu()
        .arg("serve")
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env("PHIEU_BIND", format!("127.0.0.1:{port}"))
        .env("PHIEU_FORMS_DIR", format!("{}/survey_forms", env!("CARGO_MANIFEST_DIR")))
        .env("PHIEU_ADMIN_EMAIL", crate::helpers::ADMIN_EMAIL)
        .env("PHIEU_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .env("PHIEU_LOG_FORMAT", "json")
        .env("PHIEU_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_until_up(&format!("{base}/health")).await, "server did not come up");
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for path in ["/health", "/s/K7QM3XD9PT2AQ", "/api/v1/forms"] {
        // A request id offered by the client is not taken without a trusted proxy.
        let response =
            client.get(format!("{base}{path}")).header("X-Request-Id", "chosen-by-client").send().await.unwrap();
        ids.push((path, response.headers()["x-request-id"].to_str().unwrap().to_string()));
    }
    let signed_in = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 401);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.iter().all(|r| r["span"]["request_id"].as_str().is_some_and(|id| id.len() == 32)), "{logs}");
    for (path, id) in &ids {
        assert_ne!(id, "chosen-by-client");
        let logged = requests.iter().find(|r| r["span"]["request_id"] == id.as_str()).unwrap_or_else(|| panic!("{id}"));
        let expected = if path.starts_with("/s/") { "/s/{code}" } else { path };
        assert_eq!(logged["path"], expected, "{logged}");
        assert_eq!(logged["level"], "INFO");
    }
    let distinct: std::collections::BTreeSet<&str> =
        requests.iter().map(|r| r["span"]["request_id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), requests.len(), "one id per request");
    assert!(!logs.contains("K7QM3XD9PT2AQ") && !logs.contains("not the password at all"), "{logs}");
}
