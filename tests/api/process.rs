//! The `phieu` binary as an operator runs it: first start on a bare directory, what it
//! logs, and `forms check`.

use crate::helpers::{free_port, wait_until_up};
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Child, Command, Stdio};

fn phieu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_phieu"))
}

fn forms_dir() -> String {
    format!("{}/survey_forms", env!("CARGO_MANIFEST_DIR"))
}

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_creates_the_database_and_logs_neither_codes_nor_answers() {
    let dir = std::env::temp_dir().join(format!("phieu-serve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut running = Running {
        child: phieu()
            .arg("serve")
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .env_remove("PHIEU_ADMIN_PASSWORD")
            .env_remove("PHIEU_ADMIN_EMAIL")
            .env("PHIEU_BIND", format!("127.0.0.1:{port}"))
            .env("PHIEU_FORMS_DIR", forms_dir())
            .env("PHIEU_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert!(wait_until_up(&format!("{base}/health")).await, "server did not come up");
    assert!(dir.join("data/phieu.db").exists(), "SQLite file created under ./data");
    assert!(dir.join("data/phieu.db-wal").exists(), "WAL mode");

    // Read the generated administrator password from the first lines of output.
    let mut stdout = running.child.stdout.take().unwrap();
    let mut printed = vec![0u8; 4096];
    let read = stdout.read(&mut printed).unwrap();
    let printed = String::from_utf8_lossy(&printed[..read]).to_string();
    let password = printed
        .split("password: ")
        .nth(1)
        .expect("password printed once")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let token: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": "admin@phieu.local", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(token).json(&body).send();
    assert_eq!(
        post("/api/v1/localities", json!({"code": "01", "name": "Tỉnh Một", "level": "province"}))
            .await
            .unwrap()
            .status(),
        201
    );
    let wave: Value =
        post("/api/v1/waves", json!({"name": "Đợt", "form_id": "sipas-2017"})).await.unwrap().json().await.unwrap();
    let wave = wave["id"].as_str().unwrap();
    post(&format!("/api/v1/waves/{wave}/open"), json!({})).await.unwrap();
    let invited: Value = post(&format!("/api/v1/waves/{wave}/invitations"), json!({"count": 1, "locality_code": "01"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = invited["invitations"][0]["code"].as_str().unwrap().to_string();
    let url = invited["invitations"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let form: Value = client.get(format!("{base}/api/v1/forms/sipas-2017")).send().await.unwrap().json().await.unwrap();
    let secret_answer = "Câu trả lời bí mật 7741";
    let answers =
        crate::helpers::complete_answers(&form, |item| (item["id"] == "comment").then(|| json!(secret_answer)));
    let stored = client
        .post(format!("{base}/api/v1/responses"))
        .json(&json!({"code": code, "answers": answers}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let _ = client
        .post(format!("{base}/api/v1/responses"))
        .json(&json!({"code": code, "answers": {"comment": 5}}))
        .send()
        .await
        .unwrap();

    running.child.kill().unwrap();
    let mut logs = String::new();
    running.child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    logs.push_str(&rest);
    assert!(logs.contains("/s/{code}"), "requests are logged, redacted: {logs}");
    assert!(!logs.contains(&code) && !logs.contains(&code.replace('-', "")), "a code reached the log");
    assert!(!logs.contains(secret_answer), "an answer reached the log");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forms_check_accepts_the_shipped_forms_and_locates_errors() {
    let ok = phieu().args(["forms", "check", &forms_dir()]).output().unwrap();
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("ok  sipas-2017") && out.contains("ok  sipas-2023"), "{out}");

    let dir = std::env::temp_dir().join(format!("phieu-forms-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut broken: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}/sipas-2017.json", forms_dir())).unwrap()).unwrap();
    broken["id"] = json!("broken");
    broken["items"][3]["show_if"] = json!({"item": "comment", "in": ["1"]});
    std::fs::write(dir.join("broken.json"), broken.to_string()).unwrap();
    let failed = phieu().args(["forms", "check", dir.to_str().unwrap()]).output().unwrap();
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("broken.json: $.items[3].show_if.item: \"comment\" is not an earlier item"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_fills_an_empty_database_once_with_answers_and_links_to_try() {
    let dir = std::env::temp_dir().join(format!("phieu-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = || {
        phieu()
            .arg("demo")
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .env("PHIEU_FORMS_DIR", forms_dir())
            .env("PHIEU_ADMIN_PASSWORD", "mat-khau-demo-123")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("Bắc Ninh, 300 answers stored"), "{out}");
    assert_eq!(out.matches("demo: try invitation").count(), 3, "{out}");
    let second = run();
    assert!(String::from_utf8_lossy(&second.stdout).contains("already has waves; nothing added"));
    let _ = std::fs::remove_dir_all(&dir);
}
