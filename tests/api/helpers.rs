//! Spawns the real service on a random port over a fresh database, and builds test data
//! through the public API.

#![allow(dead_code)] // shared with the benchmark, which uses only part of it

use phieu::config::Settings;
use phieu::startup::Application;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "admin@test.phieu";
pub const ADMIN_PASSWORD: &str = "mat-khau-quan-tri-1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a behaviour test once per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await {
                    super::$name(app).await
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                    super::$name(app).await
                }
            }
        }
    )*};
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub api: reqwest::Client,
    pub admin_token: String,
    pub backend: Backend,
    pub database_url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(PathBuf),
    PostgresDatabase {
        admin_url: String,
        name: String,
    },
    /// Another instance on a database some other TestApp removes.
    Nothing,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                use diesel::{Connection, RunQueryDsl, pg::PgConnection};
                if let Ok(mut conn) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
                }
            }
            Cleanup::Nothing => {}
        }
    }
}

/// Whether a missing outside program fails the run (CI) or is skipped loudly (a laptop).
pub fn required(variable: &str) -> bool {
    std::env::var(variable).is_ok_and(|v| v == "1" || v == "true")
}

pub fn skip(what: &str, variable: &str, hint: &str) -> Option<TestApp> {
    refuse_or_note_skip(what, variable, hint);
    None
}

/// Fails when `variable` requires the missing program, or says loudly that the test is skipped.
pub fn refuse_or_note_skip(what: &str, variable: &str, hint: &str) {
    if required(variable) {
        panic!("{what} is required ({variable}=1) but {hint}");
    }
    // Written to the real stderr: the test harness captures eprintln! of passing tests,
    // and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\nSKIPPED: {what}: {hint} (set {variable}=1 to make this a failure)");
}

pub fn test_settings(database_url: String) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        // Beside the SQLite file; one shared directory for PostgreSQL instances.
        data_dir: match phieu::config::default_data_dir(&database_url) {
            dir if database_url.starts_with("postgres") => std::env::temp_dir().join("phieu-test-data").join(dir),
            dir => dir,
        },
        database_url,
        pool_size: 8,
        sqlite_cache_mib: phieu::storage::DEFAULT_SQLITE_CACHE_MIB,
        // Several pages even for a test's few answers, so that exports are tested across pages.
        export_page_rows: 7,
        forms_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("survey_forms"),
        base_url: String::new(),
        secret_key: None,
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        token_ttl: Duration::from_secs(3600),
        trust_proxy: false,
        rate_window: Duration::from_secs(600),
        rate_failed_codes_per_prefix: 1000,
        rate_requests_per_code: 1000,
        // Real delays, short enough that a test's wrong passwords cost milliseconds.
        sign_in_delays: phieu::domain::account::SignInDelays {
            free: 5,
            base: Duration::from_millis(1),
            max: Duration::from_millis(20),
        },
        sign_in_waiting_per_prefix: 4,
        sign_in_verifications: 4,
        mix_interval: Duration::from_secs(3600),
        mix_min_answers: 50,
        rate_sync: Duration::from_millis(200),
        job_lease: Duration::from_secs(60),
        secure_cookies: false,
        utc_offset_hours: 7,
        max_upload_bytes: 200 * 1_048_576,
        max_invitations_per_wave: 2_000_000,
        min_cell: 5,
        report_comments: 2_000,
        crosstab_memory: 160 * 1_048_576,
        organisation: "Sở Nội vụ tỉnh Thử Nghiệm".into(),
        retention_days: 30,
        smtp_url: None,
        smtp_ca_file: None,
        mail_from: "Khảo sát <khaosat@test.phieu>".into(),
        mail_rate: 200.0,
        mail_workers: 4,
        mail_lease: Duration::from_secs(600),
        mail_max_attempts: 3,
        mail_retry_base: Duration::from_millis(200),
        sms_gateway: None,
        sms_rate: 200.0,
        sms_timeout: Duration::from_secs(30),
        reminder_after_days: 7,
        reminder_max: 2,
        reminders_automatic: false,
        metrics_networks: phieu::config::parse_networks("127.0.0.0/8, ::1").unwrap(),
        metrics_token: None,
    }
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let (database_url, cleanup) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("phieu-test-{unique}"));
            std::fs::create_dir_all(&dir).unwrap();
            (format!("sqlite://{}", dir.join("phieu.db").display()), Cleanup::Directory(dir))
        }
        Backend::Postgres => {
            let database = fresh_postgres().await?;
            (database.url, database.cleanup)
        }
    };
    let mut settings = test_settings(database_url.clone());
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("application starts");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    Some(TestApp::signed_in(port, backend, database_url, cleanup).await)
}

/// A fresh PostgreSQL database on the server of TEST_DATABASE_URL, dropped with the
/// TestApp that takes it; without one the test is skipped loudly (or fails, in CI).
pub struct PostgresDatabase {
    pub url: String,
    cleanup: Cleanup,
}

pub async fn fresh_postgres() -> Option<PostgresDatabase> {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        refuse_or_note_skip("PostgreSQL tests", "PHIEU_REQUIRE_POSTGRES", "TEST_DATABASE_URL is not set");
        return None;
    };
    let name = format!("phieu_test_{unique}");
    let created = tokio::task::spawn_blocking({
        let (admin_url, name) = (admin_url.clone(), name.clone());
        move || {
            use diesel::{Connection, RunQueryDsl, pg::PgConnection};
            let mut conn = PgConnection::establish(&admin_url)?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
    })
    .await
    .unwrap();
    if let Err(e) = created {
        let hint = format!("cannot create a database at TEST_DATABASE_URL: {e}");
        refuse_or_note_skip("PostgreSQL tests", "PHIEU_REQUIRE_POSTGRES", &hint);
        return None;
    }
    let base = admin_url.split('?').next().unwrap();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    Some(PostgresDatabase { url, cleanup: Cleanup::PostgresDatabase { admin_url, name } })
}

/// `phieu serve` as an operator runs it, on SQLite under `dir`, with extra `env`; killed
/// when dropped (or by `kill`), as a crash would end it.
pub struct ServeProcess(Child);

impl ServeProcess {
    pub fn start(dir: &Path, port: u16, env: &[(&str, String)]) -> Self {
        Self::start_binary(Path::new(env!("CARGO_BIN_EXE_phieu")), dir, port, env)
    }

    /// The same with another build of the binary (the benchmark compares two).
    pub fn start_binary(binary: &Path, dir: &Path, port: u16, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .env("PHIEU_BIND", format!("127.0.0.1:{port}"))
            .env("PHIEU_FORMS_DIR", format!("{}/survey_forms", env!("CARGO_MANIFEST_DIR")))
            .env("PHIEU_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PHIEU_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .envs(env.iter().map(|(k, v)| (k, v)));
        // Warnings and errors (unless PHIEU_LOG says otherwise) are kept beside the data, so
        // that a failed request says why: text logs go to standard output, JSON logs to
        // standard error.
        if std::env::var_os("PHIEU_LOG").is_none() {
            command.env("PHIEU_LOG", "warn");
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log"));
        match log.and_then(|file| Ok((file.try_clone()?, file))) {
            Ok((out, err)) => command.stdout(out).stderr(err),
            Err(_) => command.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        Self(command.spawn().unwrap())
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Whether the process has ended (crashed or killed).
    pub fn ended(&mut self) -> bool {
        self.0.try_wait().ok().flatten().is_some()
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestApp {
    /// Waits for a `phieu serve` process on `port` whose SQLite database is under `dir`,
    /// and signs in; `dir` is removed when the TestApp is dropped. Tokens live in the
    /// database, so the TestApp stays signed in across a restart.
    pub async fn attach(port: u16, dir: PathBuf) -> TestApp {
        let address = format!("http://127.0.0.1:{port}");
        assert!(wait_until_up(&format!("{address}/health")).await, "phieu serve did not come up");
        let database_url = format!("sqlite://{}", dir.join("data/phieu.db").display());
        let cleanup = Cleanup::Directory(dir);
        Self::signed_in(port, Backend::Sqlite, database_url, cleanup).await
    }

    /// The same for a `phieu serve` process on the PostgreSQL `database`.
    pub async fn attach_postgres(port: u16, database: PostgresDatabase) -> TestApp {
        let address = format!("http://127.0.0.1:{port}");
        assert!(wait_until_up(&format!("{address}/health")).await, "phieu serve did not come up");
        Self::signed_in(port, Backend::Postgres, database.url, database.cleanup).await
    }

    /// A second instance of the service, in this process, on this app's database, with the
    /// test settings adjusted (another forms directory, say); this app keeps the cleanup.
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings(self.database_url.clone());
        adjust(&mut settings);
        let app = Application::build(settings).await.expect("application starts");
        let port = app.port();
        tokio::spawn(app.run_until_stopped());
        Self::signed_in(port, self.backend, self.database_url.clone(), Cleanup::Nothing).await
    }

    /// Runs a statement straight on the test's database; the number of rows changed.
    pub fn execute(&self, sql: &str) -> usize {
        use diesel::prelude::*;
        match self.backend {
            Backend::Sqlite => {
                let path = self.database_url.strip_prefix("sqlite://").unwrap();
                let mut connection = SqliteConnection::establish(path).unwrap();
                // The server's writer may hold the lock for a moment: wait for it as the server does.
                diesel::sql_query("PRAGMA busy_timeout = 10000").execute(&mut connection).unwrap();
                diesel::sql_query(sql).execute(&mut connection).unwrap()
            }
            Backend::Postgres => {
                diesel::sql_query(sql).execute(&mut PgConnection::establish(&self.database_url).unwrap()).unwrap()
            }
        }
    }

    async fn signed_in(port: u16, backend: Backend, database_url: String, cleanup: Cleanup) -> TestApp {
        let address = format!("http://127.0.0.1:{port}");
        let api = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(IDLE_BEFORE_SERVER_CLOSES)
            .build()
            .unwrap();
        let mut app = TestApp { address, port, api, admin_token: String::new(), backend, database_url, cleanup };
        app.admin_token = app.token_for(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }
}

/// A fresh directory for a `phieu serve` process.
pub fn serve_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("phieu-serve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Clients drop idle connections before the server's keep-alive (5 s) ends them: a request
/// sent on a connection the server is closing fails with an incomplete message.
const IDLE_BEFORE_SERVER_CLOSES: Duration = Duration::from_secs(2);

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(IDLE_BEFORE_SERVER_CLOSES)
        .build()
        .unwrap()
}

/// The CSRF token a page put in its forms.
pub fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"_csrf\" value=\"").expect("csrf field") + 20;
    html[start..start + 64].to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `url` until it answers 200.
pub async fn wait_until_up(url: &str) -> bool {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub struct Invitation {
    pub code: String,
    pub url: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn token_for(&self, email: &str, password: &str) -> String {
        let response = self
            .api
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "sign-in of {email}");
        response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.api.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.api.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_as(&self.admin_token, path, body).await
    }

    /// Status of a plain GET without credentials.
    pub async fn status_of(&self, url: &str) -> u16 {
        self.api.get(url).send().await.unwrap().status().as_u16()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get_as(&self.admin_token, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// A results document (`GET …/results`) with each group's figures named, as `named_figures`.
    pub async fn results(&self, path: &str) -> Value {
        named_figures(self.get_json(path).await)
    }

    /// Province 01 with districts 001 (communes 00001, 00002) and 002 (commune 00003);
    /// agencies AG1 in district 001 and AG2 in district 002.
    pub async fn seed_places(&self) {
        let places = [
            ("01", "Tỉnh Thử Nghiệm", "province", None),
            ("001", "Huyện Một", "district", Some("01")),
            ("002", "Huyện Hai", "district", Some("01")),
            ("00001", "Xã Một Một", "commune", Some("001")),
            ("00002", "Xã Một Hai", "commune", Some("001")),
            ("00003", "Xã Hai Một", "commune", Some("002")),
        ];
        for (code, name, level, parent) in places {
            let r = self
                .post("/api/v1/localities", &json!({"code": code, "name": name, "level": level, "parent_code": parent}))
                .await;
            assert_eq!(r.status(), 201, "locality {code}");
        }
        for (code, name, locality) in
            [("AG1", "Bộ phận Một cửa huyện Một", "001"), ("AG2", "Bộ phận Một cửa huyện Hai", "002")]
        {
            let r =
                self.post("/api/v1/agencies", &json!({"code": code, "name": name, "locality_code": locality})).await;
            assert_eq!(r.status(), 201, "agency {code}");
        }
    }

    /// A wave on `form_id`, opened.
    pub async fn open_wave(&self, form_id: &str) -> String {
        self.open_wave_with(&json!({"name": "Đợt thử", "form_id": form_id})).await
    }

    /// A wave created from `body`, opened.
    pub async fn open_wave_with(&self, body: &Value) -> String {
        let response = self.post("/api/v1/waves", body).await;
        assert_eq!(response.status(), 201);
        let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        assert_eq!(self.post(&format!("/api/v1/waves/{id}/open"), &json!({})).await.status(), 200);
        id
    }

    pub async fn invite(&self, wave: &str, locality: &str, agency: Option<&str>, count: usize) -> Vec<Invitation> {
        let response = self
            .post(
                &format!("/api/v1/waves/{wave}/invitations"),
                &json!({"count": count, "locality_code": locality, "agency_code": agency}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| Invitation { code: i["code"].as_str().unwrap().into(), url: i["url"].as_str().unwrap().into() })
            .collect()
    }

    /// Polls the wave's progress until `done` holds of it (up to 30 s); returns the last one.
    pub async fn progress_when(&self, wave: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut progress = Value::Null;
        for _ in 0..300 {
            progress = self.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
            if done(&progress) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        progress
    }

    pub async fn form(&self, form_id: &str) -> Value {
        self.get_json(&format!("/api/v1/forms/{form_id}")).await
    }

    pub async fn answer(&self, code: &str, answers: &Value) -> reqwest::Response {
        self.api
            .post(self.url("/api/v1/responses"))
            .json(&json!({"code": code, "answers": answers}))
            .send()
            .await
            .unwrap()
    }

    /// Creates an enumerator account and returns its id.
    pub async fn enumerator(&self, email: &str) -> String {
        let r = self
            .post("/api/v1/users", &json!({"email": email, "password": "mat-khau-dieu-tra", "role": "enumerator"}))
            .await;
        assert_eq!(r.status(), 201, "create enumerator");
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    }

    /// Creates an official and returns their bearer token.
    pub async fn official(&self, role: &str, agency: Option<&str>) -> String {
        let email = format!("{}@test.phieu", uuid::Uuid::new_v4().simple());
        let password = "mat-khau-can-bo-1";
        let r = self
            .post("/api/v1/users", &json!({"email": email, "password": password, "role": role, "agency_code": agency}))
            .await;
        assert_eq!(r.status(), 201, "create {role}");
        self.token_for(&email, password).await
    }
}

/// A complete, valid answer to `form`: every shown choice item gets `pick(item)` or its
/// first non-missing option; required texts get a sentence.
pub fn complete_answers(form: &Value, pick: impl Fn(&Value) -> Option<Value>) -> Value {
    let mut answers = serde_json::Map::new();
    for item in form["items"].as_array().unwrap() {
        if let Some(rule) = item.get("show_if") {
            let chosen = answers.get(rule["item"].as_str().unwrap());
            let wanted: Vec<&str> = rule["in"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
            let shown = match chosen {
                Some(Value::String(s)) => wanted.contains(&s.as_str()),
                Some(Value::Array(a)) => a.iter().any(|c| wanted.contains(&c.as_str().unwrap())),
                _ => false,
            };
            if !shown {
                continue;
            }
        }
        let id = item["id"].as_str().unwrap().to_string();
        if let Some(value) = pick(item) {
            answers.insert(id, value);
            continue;
        }
        if item["kind"] == "text" {
            if item["required"] == true {
                answers.insert(id, json!("Ý kiến của người dân"));
            }
            continue;
        }
        let first = item["options"].as_array().unwrap().iter().find(|o| o["missing"] != true).unwrap()["code"].clone();
        answers.insert(id, if item.get("max_choices").is_some() { json!([first]) } else { first });
    }
    Value::Object(answers)
}

/// Every satisfaction item at `level`; the rest as `complete_answers` chooses.
pub fn satisfied_at(form: &Value, level: &str) -> Value {
    let level = level.to_string();
    complete_answers(form, move |item| (item["kind"] == "satisfaction").then(|| json!(level.clone())))
}

/// A minimal XLSX workbook (inline strings, merged cells) as offices' spreadsheets are.
pub fn xlsx(rows: &[Vec<&str>], merged: &[&str]) -> Vec<u8> {
    use std::io::Write;
    fn column(i: usize) -> char {
        (b'A' + i as u8) as char
    }
    fn escape(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    }
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, value) in row.iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            let reference = format!("{}{}", column(c), r + 1);
            if value.chars().all(|ch| ch.is_ascii_digit()) {
                sheet.push_str(&format!(r#"<c r="{reference}"><v>{value}</v></c>"#));
            } else {
                sheet.push_str(&format!(r#"<c r="{reference}" t="inlineStr"><is><t>{}</t></is></c>"#, escape(value)));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData>");
    if !merged.is_empty() {
        sheet.push_str(&format!(r#"<mergeCells count="{}">"#, merged.len()));
        for m in merged {
            sheet.push_str(&format!(r#"<mergeCell ref="{m}"/>"#));
        }
        sheet.push_str("</mergeCells>");
    }
    sheet.push_str("</worksheet>");
    let files = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Danh sach" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, content) in files {
            zip.start_file(name, options).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
    }
    buffer.into_inner()
}

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/survey_forms");

pub fn shipped_form(id: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{SHIPPED}/{id}.json")).unwrap()).unwrap()
}

/// A forms directory holding the shipped files, then the given ones (file name → form).
pub fn forms_dir_with(files: &[(&str, &Value)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(SHIPPED).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    for (name, form) in files {
        std::fs::write(dir.path().join(name), serde_json::to_string_pretty(form).unwrap()).unwrap();
    }
    dir
}

pub fn in_dir(dir: &Path) -> impl FnOnce(&mut phieu::config::Settings) + '_ {
    move |settings| settings.forms_dir = dir.to_path_buf()
}

/// A results document with each group's `figures` (arrays of the fields `figure_fields`
/// names, in the order of `overall.indices`) also given as `indices`: objects with the
/// index's `id` and each field by name, absent numbers left out (`value` and `suppressed`
/// always there). Checks the compact form on the way: one array per index, one entry per field.
pub fn named_figures(mut results: Value) -> Value {
    let fields: Vec<String> = results["figure_fields"]
        .as_array()
        .expect("figure_fields")
        .iter()
        .map(|f| f.as_str().unwrap().into())
        .collect();
    let ids: Vec<Value> = results["overall"]["indices"].as_array().unwrap().iter().map(|i| i["id"].clone()).collect();
    for group in results["groups"].as_array_mut().unwrap() {
        let figures = group["figures"].as_array().expect("figures").clone();
        assert_eq!(figures.len(), ids.len(), "one figure per index: {group}");
        let named: Vec<Value> = figures
            .iter()
            .zip(&ids)
            .map(|(figure, id)| {
                let values = figure.as_array().expect("a figure is an array");
                assert_eq!(values.len(), fields.len(), "one entry per field: {figure}");
                let mut named = serde_json::Map::from_iter([("id".to_string(), id.clone())]);
                for (field, value) in fields.iter().zip(values) {
                    if !value.is_null() || field == "value" {
                        named.insert(field.clone(), value.clone());
                    }
                }
                Value::Object(named)
            })
            .collect();
        group["indices"] = Value::Array(named);
    }
    results
}
