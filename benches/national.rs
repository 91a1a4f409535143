//! National scale through the real server binary (issue 8, points 1, 2, 5 and 7).
//!
//! The real 2024 tree (63 provinces, 696 districts, 10,051 communes) is imported through the
//! API, with one UBND per district and 20 provincial departments per province; a SIPAS-2017
//! wave (BENCH_FORM another form) is opened, BENCH_ANSWERS invitations are spread over every commune (urban wards weigh
//! more, and a third of the communes share theirs with a provincial department), and each is
//! answered once through `POST /api/v1/responses` by BENCH_CONCURRENCY clients, with answers
//! drawn from the form by a seeded generator (any option including "không trả lời", several
//! choices, optional items skipped). Then the results at every level (the first call, which
//! decides the wave's suppression pattern, apart), the results page, the report files
//! (workbook by district, indices CSV by commune), the anonymised microdata and `/verify` are
//! timed, and the server's peak memory and the database's size measured. Each
//! figure is printed beside the goal.
//!
//! The ceilings of this machine are measured in the same run with the same bodies and the
//! same load: a minimal actix-web endpoint that only parses the JSON, and the same endpoint
//! handing each body to a writer thread that inserts batches of up to 512 in one SQLite
//! transaction, at `synchronous=FULL` (what phieu acknowledges with) and at `NORMAL`.
//!
//! cargo bench --bench national                                   (200,000 answers; SQLite, and PostgreSQL with TEST_DATABASE_URL)
//! BENCH_ANSWERS=1000000 cargo bench --bench national             (the headline figures)
//! BENCH_ONLY=ceiling,sqlite …                                    (parts to run: ceiling, sqlite, postgres)
//! BENCH_KEEP_DB=1 …                                              (keep the seeded database; its location is printed)
//! BENCH_REUSE_DB=/tmp/phieu-serve-… or postgres://…/db …         (measure results again on a kept database, no seeding)
//! PHIEU_BIN=/path/to/other/phieu …                               (another build of the server)
//! BENCH_RESULT_REPEATS=10 BENCH_PAGE_REPEATS=3 BENCH_SEED=2024 … (repetitions of each results call; the answers' seed)
//! BENCH_REPORT_REPEATS=5 …                                       (repetitions of each report file and the microdata)
//! BENCH_FORM=sipas-2023 …                                        (the wave's form; default sipas-2017)
//!
//! The server inherits this process's environment, so PHIEU_* settings (e.g.
//! PHIEU_MIX_INTERVAL_SECS) apply to it.

#[path = "../tests/api/helpers.rs"]
mod helpers;

use futures_util::stream::{self, StreamExt};
use helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, ServeProcess, browser, csrf_of, free_port, serve_dir, wait_until_up};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TREE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/localities-2024.csv");
const WAVE_NAME: &str = "Đo quốc gia SIPAS";
/// The API's cap on the codes of one invitations call.
const MAX_PER_CALL: usize = 100_000;
const DEPARTMENTS: [&str; 20] = [
    "Sở Tư pháp",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tài chính",
    "Sở Công Thương",
    "Sở Nông nghiệp và Phát triển nông thôn",
    "Sở Giao thông vận tải",
    "Sở Xây dựng",
    "Sở Tài nguyên và Môi trường",
    "Sở Thông tin và Truyền thông",
    "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Nội vụ",
    "Sở Ngoại vụ",
    "Thanh tra tỉnh",
    "Ban Dân tộc",
    "Ban Quản lý các khu công nghiệp",
    "Văn phòng UBND tỉnh",
];
const COMMENTS: [&str; 6] = [
    "Cán bộ hướng dẫn tận tình, chu đáo.",
    "Thời gian chờ còn lâu, cần thêm quầy tiếp nhận.",
    "Nên công khai rõ hơn phí, lệ phí.",
    "Thủ tục đơn giản hơn so với trước.",
    "Đề nghị mở rộng dịch vụ công trực tuyến.",
    "Chỗ ngồi chờ chật, thiếu nước uống.",
];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> f64 {
    kib.unwrap_or(0) as f64 / 1024.0
}

/// The kernel restarts the process's peak (VmHWM) from its current resident size.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p` quantile (0..=1) of sorted durations, in milliseconds.
fn quantile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    millis(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}

/// One line of the report: what, the figure, and the goal it is held to.
fn line(what: &str, figure: String, goal: &str) {
    println!("  {what:<34} {figure:<44} {goal}");
}

// ---------------------------------------------------------------- answers

/// Draws varied, valid answers to a form: any option of an item (its "không trả lời" one
/// included), one to `max_choices` options of a multiple choice, optional items sometimes
/// skipped, texts sometimes written; items shown only after some answer follow that answer.
struct AnswerMaker {
    items: Vec<Value>,
    seed: u64,
}

impl AnswerMaker {
    fn new(form: &Value, seed: u64) -> Self {
        Self { items: form["items"].as_array().expect("form items").clone(), seed }
    }

    fn answers(&self, index: usize) -> Value {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut answers = Map::new();
        for item in &self.items {
            if let Some(rule) = item.get("show_if") {
                let wanted: Vec<&str> = rule["in"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
                let shown = match answers.get(rule["item"].as_str().unwrap()) {
                    Some(Value::String(s)) => wanted.contains(&s.as_str()),
                    Some(Value::Array(a)) => a.iter().any(|c| c.as_str().is_some_and(|c| wanted.contains(&c))),
                    _ => false,
                };
                if !shown {
                    continue;
                }
            }
            let required = item["required"] == true;
            let id = item["id"].as_str().unwrap().to_string();
            if item["kind"] == "text" {
                if required || rng.gen_bool(0.15) {
                    let text = format!("{} (phiếu {index})", COMMENTS.choose(&mut rng).unwrap());
                    answers.insert(id, json!(text));
                }
                continue;
            }
            if !required && rng.gen_bool(0.08) {
                continue;
            }
            let codes: Vec<&Value> = item["options"].as_array().unwrap().iter().map(|o| &o["code"]).collect();
            let value = match item.get("max_choices").and_then(Value::as_u64) {
                Some(max) => {
                    let n = rng.gen_range(1..=(max as usize).min(codes.len()));
                    json!(codes.choose_multiple(&mut rng, n).cloned().cloned().collect::<Vec<_>>())
                }
                None => (*codes.choose(&mut rng).unwrap()).clone(),
            };
            answers.insert(id, value);
        }
        Value::Object(answers)
    }

    fn body(&self, code: &str, index: usize) -> String {
        json!({"code": code, "answers": self.answers(index)}).to_string()
    }
}

// ---------------------------------------------------------------- load

/// A client that drops idle connections before the server does (actix-web closes them after
/// 5 s), so a request is never sent on a connection the server is closing.
fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

struct Load {
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// When each answer came back, from the start.
    finished: Vec<Duration>,
    failures: usize,
    first_failure: Option<String>,
}

impl Load {
    fn rate(&self) -> f64 {
        (self.latencies.len() - self.failures) as f64 / self.elapsed.as_secs_f64()
    }

    fn summary(&self) -> String {
        format!(
            "{:>7.0}/s  p50 {:.1} p90 {:.1} p99 {:.1} max {:.0} ms",
            self.rate(),
            quantile(&self.latencies, 0.5),
            quantile(&self.latencies, 0.9),
            quantile(&self.latencies, 0.99),
            quantile(&self.latencies, 1.0)
        )
    }

    /// Adds another run's answers (the rate of both is over both elapsed times).
    fn absorb(&mut self, other: Load) {
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        // Completion times of separate runs do not line up: no drift for merged runs.
        self.finished.clear();
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    /// Answers per second over the first and the last fifth of the run: whether intake slows
    /// down as the database grows.
    fn drift(&self) -> String {
        let n = self.finished.len();
        if n < 10 {
            return String::new();
        }
        let fifth = n / 5;
        let first = fifth as f64 / self.finished[fifth - 1].as_secs_f64();
        let last = fifth as f64 / (self.finished[n - 1] - self.finished[n - fifth - 1]).as_secs_f64();
        format!("first fifth {first:.0}/s, last fifth {last:.0}/s")
    }
}

/// Sends `count` bodies to `url` from `concurrency` clients, each taking the next body as
/// soon as its previous one is answered; a success is a 201.
async fn drive(url: &str, count: usize, concurrency: usize, body: Arc<dyn Fn(usize) -> String + Send + Sync>) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let client = client(concurrency);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, client, url, body) = (next.clone(), client.clone(), url.to_string(), body.clone());
            tokio::spawn(async move {
                let (mut latencies, mut finished, mut failures, mut first_failure) = (Vec::new(), Vec::new(), 0, None);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let payload = body(i);
                    let sent = Instant::now();
                    let outcome =
                        match client.post(&url).header("Content-Type", "application/json").body(payload).send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let text = r.text().await.unwrap_or_default();
                                (status == 201)
                                    .then_some(())
                                    .ok_or(format!("{status} {}", &text[..text.len().min(300)]))
                            }
                            Err(e) => Err(e.to_string()),
                        };
                    latencies.push(sent.elapsed());
                    finished.push(started.elapsed());
                    if let Err(why) = outcome {
                        failures += 1;
                        first_failure.get_or_insert(why);
                    }
                }
                (latencies, finished, failures, first_failure)
            })
        })
        .collect();
    let mut load = Load {
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(count),
        finished: Vec::with_capacity(count),
        failures: 0,
        first_failure: None,
    };
    for worker in workers {
        let (latencies, finished, failures, first_failure) = worker.await.unwrap();
        load.latencies.extend(latencies);
        load.finished.extend(finished);
        load.failures += failures;
        if load.first_failure.is_none() {
            load.first_failure = first_failure;
        }
    }
    load.elapsed = started.elapsed();
    load.latencies.sort();
    load.finished.sort();
    load
}

// ---------------------------------------------------------------- ceilings

mod ceiling {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use tokio::sync::{mpsc, oneshot};

    diesel::table! {
        ceiling_answers (id) {
            id -> Integer,
            code -> Text,
            body -> Text,
        }
    }

    /// The body phieu's endpoint parses.
    #[derive(Deserialize)]
    struct Body {
        code: String,
        #[allow(dead_code)] // parsed as phieu parses it; the stored copy is the raw body
        answers: BTreeMap<String, Value>,
    }

    type Queue = mpsc::Sender<((String, String), oneshot::Sender<()>)>;

    /// Up to 512 bodies in one transaction, as phieu's answer writer batches them.
    fn writer(path: PathBuf, synchronous: &'static str) -> Queue {
        let (queue, mut inbox) = mpsc::channel::<((String, String), oneshot::Sender<()>)>(512 * 8);
        std::thread::spawn(move || {
            let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            conn.batch_execute(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};
                 CREATE TABLE ceiling_answers (id INTEGER PRIMARY KEY, code TEXT NOT NULL, body TEXT NOT NULL);"
            ))
            .unwrap();
            while let Some(first) = inbox.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match inbox.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (rows, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let rows: Vec<_> = rows
                    .iter()
                    .map(|(code, body)| (ceiling_answers::code.eq(code), ceiling_answers::body.eq(body)))
                    .collect();
                conn.immediate_transaction::<_, diesel::result::Error, _>(|c| {
                    diesel::insert_into(ceiling_answers::table).values(&rows).execute(c)
                })
                .unwrap();
                for reply in replies {
                    let _ = reply.send(());
                }
            }
        });
        queue
    }

    async fn parse_only(body: web::Json<Body>) -> HttpResponse {
        HttpResponse::Created().json(serde_json::json!({"status": "stored", "code_length": body.code.len()}))
    }

    async fn parse_and_store(queue: web::Data<Queue>, raw: web::Bytes) -> HttpResponse {
        let Ok(body) = serde_json::from_slice::<Body>(&raw) else {
            return HttpResponse::BadRequest().finish();
        };
        let (reply, stored) = oneshot::channel();
        let text = String::from_utf8(raw.to_vec()).unwrap();
        if queue.send(((body.code, text), reply)).await.is_err() || stored.await.is_err() {
            return HttpResponse::InternalServerError().finish();
        }
        HttpResponse::Created().json(serde_json::json!({"status": "stored"}))
    }

    /// A running ceiling endpoint at `POST /api/v1/responses`.
    pub struct Ceiling {
        pub port: u16,
        handle: actix_web::dev::ServerHandle,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    /// `store`: the SQLite file and its `synchronous` setting, or `None` to parse only.
    pub fn start(store: Option<(PathBuf, &'static str)>) -> Ceiling {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let queue = store.map(|(path, synchronous)| web::Data::new(writer(path, synchronous)));
                let server = HttpServer::new(move || {
                    let app = App::new().app_data(web::PayloadConfig::new(4 * 1024 * 1024));
                    match &queue {
                        Some(queue) => {
                            app.app_data(queue.clone()).route("/api/v1/responses", web::post().to(parse_and_store))
                        }
                        None => app.route("/api/v1/responses", web::post().to(parse_only)),
                    }
                })
                .listen(listener)
                .unwrap()
                .run();
                handle_tx.send(server.handle()).unwrap();
                server.await.unwrap();
            })
        });
        Ceiling { port, handle: handle_rx.recv().unwrap(), thread: Some(thread) }
    }

    impl Ceiling {
        pub async fn stop(mut self) {
            self.handle.stop(false).await;
            if let Some(thread) = self.thread.take() {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
    }
}

struct Ceilings {
    parse: f64,
    sqlite_full: f64,
    sqlite_normal: f64,
}

async fn measure_ceilings(maker: &Arc<AnswerMaker>, answers: usize, concurrency: usize) -> Ceilings {
    println!("\nceilings of this machine ({answers} bodies, {concurrency} clients, load {})", load_average());
    let body: Arc<dyn Fn(usize) -> String + Send + Sync> = {
        let maker = maker.clone();
        // Codes of the real length (12 characters in groups of four).
        Arc::new(move |i| {
            maker.body(&format!("C{:04}-{:04}-{:04}", i / 100_000_000, i / 10_000 % 10_000, i % 10_000), i)
        })
    };
    let run = |store: Option<(PathBuf, &'static str)>, what: &'static str| {
        let body = body.clone();
        async move {
            let server = ceiling::start(store);
            let load =
                drive(&format!("http://127.0.0.1:{}/api/v1/responses", server.port), answers, concurrency, body).await;
            server.stop().await;
            line(what, load.summary(), &format!("failed {}", load.failures));
            load.rate()
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let parse = run(None, "actix-web + serde_json").await;
    let sqlite_full = run(Some((dir.path().join("full.db"), "FULL")), "+ SQLite group commit, FULL").await;
    let sqlite_normal = run(Some((dir.path().join("normal.db"), "NORMAL")), "+ SQLite group commit, NORMAL").await;
    Ceilings { parse, sqlite_full, sqlite_normal }
}

// ---------------------------------------------------------------- the service

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// Where the server's data lives, and whether the benchmark created it.
enum Store {
    Sqlite { dir: PathBuf, fresh: bool },
    Postgres { admin_url: Option<String>, url: String, name: String },
}

impl Store {
    fn create(kind: Kind) -> Option<Store> {
        match kind {
            Kind::Sqlite => Some(Store::Sqlite { dir: serve_dir(), fresh: true }),
            Kind::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
                use diesel::{Connection, RunQueryDsl, pg::PgConnection};
                let name = format!("phieu_national_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
                let base = admin_url.split('?').next().unwrap();
                let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
                Some(Store::Postgres { admin_url: Some(admin_url), url, name })
            }
        }
    }

    fn reuse(location: &str) -> Store {
        if location.starts_with("postgres") {
            let name = location.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
            Store::Postgres { admin_url: None, url: location.to_string(), name }
        } else {
            Store::Sqlite { dir: PathBuf::from(location), fresh: false }
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Store::Sqlite { .. } => Kind::Sqlite,
            Store::Postgres { .. } => Kind::Postgres,
        }
    }

    fn label(&self) -> &'static str {
        match self.kind() {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }

    fn start(&self, binary: &Path) -> (ServeProcess, u16) {
        let port = free_port();
        let server = match self {
            Store::Sqlite { dir, .. } => ServeProcess::start_binary(binary, dir, port, &[]),
            Store::Postgres { url, name, .. } => {
                let dir = std::env::temp_dir().join(format!("phieu-national-{name}"));
                std::fs::create_dir_all(&dir).unwrap();
                ServeProcess::start_binary(binary, &dir, port, &[("DATABASE_URL", url.clone())])
            }
        };
        (server, port)
    }

    fn size_mib(&self) -> f64 {
        match self {
            Store::Sqlite { dir, .. } => {
                let file = |name: &str| std::fs::metadata(dir.join("data").join(name)).map_or(0, |m| m.len());
                (file("phieu.db") + file("phieu.db-wal")) as f64 / 1_048_576.0
            }
            Store::Postgres { url, .. } => {
                use diesel::{Connection, RunQueryDsl, pg::PgConnection};
                #[derive(diesel::QueryableByName)]
                struct Size {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let mut conn = PgConnection::establish(url).unwrap();
                let size: Size = diesel::sql_query("SELECT pg_database_size(current_database()) AS n")
                    .get_result(&mut conn)
                    .unwrap();
                size.n as f64 / 1_048_576.0
            }
        }
    }

    fn location(&self) -> String {
        match self {
            Store::Sqlite { dir, .. } => dir.display().to_string(),
            Store::Postgres { url, .. } => url.clone(),
        }
    }

    /// Removes what the benchmark created, unless asked to keep it.
    fn finish(self) {
        if std::env::var("BENCH_KEEP_DB").is_ok_and(|v| v == "1") {
            println!("  kept: BENCH_REUSE_DB={}", self.location());
            return;
        }
        match self {
            Store::Sqlite { dir, fresh: true } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Store::Postgres { admin_url: Some(admin_url), name, .. } => {
                use diesel::{Connection, RunQueryDsl, pg::PgConnection};
                let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("phieu-national-{name}")));
                if let Ok(mut conn) = PgConnection::establish(&admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
                }
            }
            _ => {}
        }
    }
}

struct Api {
    client: reqwest::Client,
    address: String,
    token: String,
}

impl Api {
    async fn connect(port: u16) -> Api {
        let address = format!("http://127.0.0.1:{port}");
        assert!(wait_until_up(&format!("{address}/health")).await, "phieu serve did not come up");
        let client = client(8);
        let signed_in: Value = client
            .post(format!("{address}/api/v1/auth/token"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = signed_in["token"].as_str().expect("admin token").to_string();
        Api { client, address, token }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn post(&self, path: &str, body: &Value, expected: u16) -> Value {
        let response = self.client.post(self.url(path)).bearer_auth(&self.token).json(body).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected, "POST {path}: {}", &text[..text.len().min(500)]);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Status, length and time to the last byte, the body counted as it arrives and not
    /// kept (as `curl -o /dev/null` times it): gathering a 60 MB document into one buffer
    /// is the client's cost, not the server's.
    async fn get_timed(&self, path: &str) -> (u16, usize, Duration) {
        let started = Instant::now();
        let mut response = self.client.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        let mut length = 0;
        while let Some(chunk) = response.chunk().await.unwrap() {
            length += chunk.len();
        }
        (status, length, started.elapsed())
    }

    async fn get(&self, path: &str) -> (u16, usize, Duration, Vec<u8>) {
        let started = Instant::now();
        let response = self.client.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        (status, body.len(), started.elapsed(), body.to_vec())
    }
}

struct Locality {
    code: String,
    name: String,
    level: String,
    parent: Option<String>,
}

fn read_tree() -> (String, Vec<Locality>) {
    let text = std::fs::read_to_string(TREE).unwrap_or_else(|e| panic!("{TREE}: {e}"));
    let localities = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            Locality {
                code: fields[0].into(),
                name: fields[1].into(),
                level: fields[2].into(),
                parent: Some(fields[3].trim()).filter(|p| !p.is_empty()).map(str::to_string),
            }
        })
        .collect();
    (text, localities)
}

/// Imports the tree, creates the agencies and the wave, issues the invitations; returns the
/// wave and every code, shuffled.
async fn seed(api: &Api, form_id: &str, answers: usize, rng: &mut ChaCha8Rng) -> (String, Vec<String>) {
    let started = Instant::now();
    let (csv, tree) = read_tree();
    let imported = api
        .client
        .post(api.url("/api/v1/localities/import"))
        .bearer_auth(&api.token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200, "import: {}", imported.text().await.unwrap());
    let import_time = started.elapsed();
    let by_code: HashMap<&str, &Locality> = tree.iter().map(|l| (l.code.as_str(), l)).collect();
    let ancestor = |code: &str, level: &str| {
        let mut at = by_code.get(code).copied();
        while let Some(l) = at {
            if l.level == level {
                return Some(l.code.clone());
            }
            at = l.parent.as_deref().and_then(|p| by_code.get(p).copied());
        }
        None
    };
    let mut agencies = Vec::new();
    for l in &tree {
        match l.level.as_str() {
            "district" => agencies.push((format!("UBND-{}", l.code), format!("UBND {}", l.name), l.code.clone())),
            "province" => {
                for (k, department) in DEPARTMENTS.iter().enumerate() {
                    agencies.push((
                        format!("S{}-{:02}", l.code, k + 1),
                        format!("{department} – {}", l.name),
                        l.code.clone(),
                    ));
                }
            }
            _ => {}
        }
    }
    for (code, name, locality) in &agencies {
        api.post("/api/v1/agencies", &json!({"code": code, "name": name, "locality_code": locality}), 201).await;
    }
    let wave = api.post("/api/v1/waves", &json!({"name": WAVE_NAME, "form_id": form_id}), 201).await;
    let wave = wave["id"].as_str().unwrap().to_string();
    api.post(&format!("/api/v1/waves/{wave}/open"), &json!({}), 200).await;

    // Invitations in proportion to a weight per commune: urban wards and towns serve more
    // people; each commune's own weight varies threefold.
    let communes: Vec<&Locality> = tree.iter().filter(|l| l.level == "commune").collect();
    let weights: Vec<f64> = communes
        .iter()
        .map(|c| {
            let urban = if c.name.starts_with("Phường") {
                2.5
            } else if c.name.starts_with("Thị trấn") {
                1.5
            } else {
                1.0
            };
            urban * rng.gen_range(0.5..1.5)
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut counts: Vec<usize> = weights.iter().map(|w| (answers as f64 * w / total).floor() as usize).collect();
    let mut left = answers - counts.iter().sum::<usize>();
    while left > 0 {
        let i = rng.gen_range(0..counts.len());
        counts[i] += 1;
        left -= 1;
    }
    // The district's UBND takes a commune's answers; in a third of the communes a provincial
    // department takes about a third of them.
    let mut calls = Vec::new();
    for (commune, &n) in communes.iter().zip(&counts) {
        let district = ancestor(&commune.code, "district").map(|d| format!("UBND-{d}"));
        let province = ancestor(&commune.code, "province").expect("every commune lies in a province");
        let department = format!("S{province}-{:02}", rng.gen_range(1..=DEPARTMENTS.len()));
        let to_department = match &district {
            None => n,
            Some(_) if n >= 2 && rng.gen_bool(1.0 / 3.0) => (n / 3).max(1),
            Some(_) => 0,
        };
        for (agency, mut count) in [(district.unwrap_or_default(), n - to_department), (department, to_department)] {
            while count > 0 {
                let take = count.min(MAX_PER_CALL);
                calls.push((commune.code.clone(), agency.clone(), take));
                count -= take;
            }
        }
    }
    let invite_started = Instant::now();
    let path = format!("/api/v1/waves/{wave}/invitations");
    let mut codes: Vec<String> = stream::iter(&calls)
        .map(|(commune, agency, count)| {
            let path = &path;
            async move {
                let issued = api
                    .post(path, &json!({"count": count, "locality_code": commune, "agency_code": agency}), 201)
                    .await;
                issued["invitations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["code"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            }
        })
        .buffer_unordered(4)
        .flat_map(stream::iter)
        .collect()
        .await;
    codes.shuffle(rng);
    println!(
        "  seeded {} localities in {:.1} s, {} agencies, {} invitations in {} calls ({:.1} ms per call) in {:.0} s",
        tree.len(),
        import_time.as_secs_f64(),
        agencies.len(),
        codes.len(),
        calls.len(),
        millis(invite_started.elapsed()) / calls.len() as f64,
        started.elapsed().as_secs_f64()
    );
    (wave, codes)
}

struct Timing {
    sorted: Vec<Duration>,
    size: usize,
}

async fn time_calls(api: &Api, path: &str, repeats: usize) -> Timing {
    let mut sorted = Vec::new();
    let mut size = 0;
    for _ in 0..repeats {
        let (status, length, took) = api.get_timed(path).await;
        assert_eq!(status, 200, "GET {path}");
        sorted.push(took);
        size = length;
    }
    sorted.sort();
    Timing { sorted, size }
}

fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / 1_048_576.0)
    } else {
        format!("{:.0} kB", bytes as f64 / 1024.0)
    }
}

async fn run(store: Store, binary: &Path, maker: &Arc<AnswerMaker>, ceilings: Option<&Ceilings>, settings: &Settings) {
    let kind = store.kind();
    println!("\n{} ({}), load {}", store.label(), store.location(), load_average());
    let (mut server, port) = store.start(binary);
    let mut pid = server.id();
    println!("  server pid {pid}");
    let mut api = Api::connect(port).await;
    let idle = status_kib(pid, "VmRSS:");
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let reused = matches!(store, Store::Sqlite { fresh: false, .. } | Store::Postgres { admin_url: None, .. });
    let wave = if reused {
        let waves: Value = serde_json::from_slice(&api.get("/api/v1/waves").await.3).unwrap();
        let wave =
            waves["waves"].as_array().unwrap().iter().find(|w| w["name"] == WAVE_NAME).expect("the bench's wave");
        println!("  reusing the seeded wave: no intake measured");
        wave["id"].as_str().unwrap().to_string()
    } else {
        let (wave, codes) = seed(&api, &settings.form_id, settings.answers, &mut rng).await;
        let codes = Arc::new(codes);
        reset_peak(pid);
        let load_before = load_average();
        // With PHIEU_BIN_B, the intake alternates the two builds over quarters of the codes
        // (A, B, A, B) on the same database, restarting the server between them, so both
        // meet the same database sizes.
        let order: Vec<PathBuf> = match &settings.other_binary {
            Some(other) => vec![binary.to_path_buf(), other.clone(), binary.to_path_buf(), other.clone()],
            None => vec![binary.to_path_buf()],
        };
        let segment = codes.len().div_ceil(order.len());
        let mut loads: Vec<(PathBuf, Load)> = Vec::new();
        for (k, bin) in order.iter().enumerate() {
            if k > 0 {
                server.kill();
                let (restarted, port) = store.start(bin);
                server = restarted;
                pid = server.id();
                println!("  server pid {pid}");
                api = Api::connect(port).await;
                reset_peak(pid);
            }
            let first = k * segment;
            let count = segment.min(codes.len() - first);
            let body: Arc<dyn Fn(usize) -> String + Send + Sync> = {
                let (maker, codes) = (maker.clone(), codes.clone());
                Arc::new(move |i| maker.body(&codes[first + i], first + i))
            };
            let load = drive(&api.url("/api/v1/responses"), count, settings.concurrency, body).await;
            if order.len() > 1 {
                line(
                    &format!("quarter {} by {}", k + 1, bin.display()),
                    load.summary(),
                    &format!("load {}", load_average()),
                );
            }
            loads.push((bin.clone(), load));
        }
        let mut groups: Vec<(PathBuf, Load)> = Vec::new();
        for (bin, load) in loads {
            match groups.iter_mut().find(|(b, _)| *b == bin) {
                Some((_, merged)) => merged.absorb(load),
                None => groups.push((bin, load)),
            }
        }
        for (bin, load) in &groups {
            println!(
                "  intake of {} answers by {} clients in {:.0} s with {} (load before {load_before}, after {})",
                load.latencies.len(),
                settings.concurrency,
                load.elapsed.as_secs_f64(),
                bin.display(),
                load_average()
            );
            if let Some(why) = &load.first_failure {
                println!("  {} failed; the first: {why}", load.failures);
            }
            let goal = match (kind, ceilings) {
                (Kind::Sqlite, Some(c)) => format!(
                    "goal ≥ {:.0}/s (½ FULL ceiling); phieu/ceiling FULL {:.3}, NORMAL {:.3}, parse {:.3}",
                    c.sqlite_full / 2.0,
                    load.rate() / c.sqlite_full,
                    load.rate() / c.sqlite_normal,
                    load.rate() / c.parse
                ),
                (Kind::Sqlite, None) => "goal ≥ ½ group-commit ceiling (BENCH_ONLY without ceiling)".into(),
                (Kind::Postgres, Some(c)) => {
                    format!(
                        "goal ≥ 1000/s; phieu/ceiling SQLite FULL {:.3}, parse {:.3}",
                        load.rate() / c.sqlite_full,
                        load.rate() / c.parse
                    )
                }
                (Kind::Postgres, None) => "goal ≥ 1000/s".into(),
            };
            line("answers stored", load.summary(), &format!("{goal}; p99 goal < 100 ms"));
            line("", load.drift(), "(issue: ~940/s falling to ~700/s on SQLite)");
        }
        line(
            "server memory during intake",
            format!("peak {:.0} MiB (idle {:.0} MiB)", mib(status_kib(pid, "VmHWM:")), mib(idle)),
            "",
        );
        wave
    };
    line("database size", format!("{:.0} MiB", store.size_mib()), "(issue: 430 MB on SQLite at 200,000 answers)");

    reset_peak(pid);
    let before_results = status_kib(pid, "VmRSS:");
    let results = format!("/api/v1/waves/{wave}/results");
    // The first results call after the answers changed (or after a restart) decides the
    // wave's suppression pattern over all its cells; the calls after it reuse the pattern.
    let first = time_calls(&api, &results, 1).await;
    line(
        "results overall, first call",
        format!(
            "{:.1} ms (decides suppression), peak {:.0} MiB",
            quantile(&first.sorted, 0.0),
            mib(status_kib(pid, "VmHWM:"))
        ),
        "(pays the wave's disclosure control)",
    );
    for (what, query, goal) in [
        ("results overall", "", 50.0),
        ("results by province", "?level=province", 50.0),
        ("results by district", "?level=district", 50.0),
        ("results by commune", "?level=commune", 250.0),
        ("results by agency", "?by=agency", 50.0),
    ] {
        let t = time_calls(&api, &format!("{results}{query}"), settings.result_repeats).await;
        line(
            what,
            format!(
                "p50 {:.1} p95 {:.1} ms, {}",
                quantile(&t.sorted, 0.5),
                quantile(&t.sorted, 0.95),
                size_text(t.size)
            ),
            &format!("goal p95 < {goal:.0} ms"),
        );
    }
    let page = browser();
    let form = page.get(api.url("/dang-nhap")).send().await.unwrap().text().await.unwrap();
    let signed_in = page
        .post(api.url("/dang-nhap"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("_csrf", &csrf_of(&form))])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "page sign-in");
    for (what, query) in [("results page overall", ""), ("results page by commune", "?level=commune")] {
        let mut sorted = Vec::new();
        let mut size = 0;
        for _ in 0..settings.page_repeats {
            let started = Instant::now();
            let response = page.get(api.url(&format!("/quan-ly/dot/{wave}{query}"))).send().await.unwrap();
            assert_eq!(response.status(), 200, "results page");
            size = response.bytes().await.unwrap().len();
            sorted.push(started.elapsed());
        }
        sorted.sort();
        line(
            what,
            format!("p50 {:.0} max {:.0} ms, {}", quantile(&sorted, 0.5), quantile(&sorted, 1.0), size_text(size)),
            "(today 1.1–2.4 s)",
        );
    }
    line(
        "server memory serving results",
        format!("peak {:.0} MiB (before {:.0} MiB)", mib(status_kib(pid, "VmHWM:")), mib(before_results)),
        "goal < 500 MiB",
    );
    for (what, path, goal) in [
        ("report.xlsx by district", format!("/api/v1/waves/{wave}/report.xlsx?level=district"), "goal < 2 s"),
        ("report.csv indices by commune", format!("/api/v1/waves/{wave}/report.csv?table=indices&level=commune"), ""),
        (
            "crosstab, every background item",
            format!("/api/v1/waves/{wave}/report?table=crosstab"),
            "counted from raw answers",
        ),
        (
            "answers.csv (microdata)",
            format!("/api/v1/waves/{wave}/answers.csv"),
            "goal < 10 s at 1,000,000 answers, < 100 MiB",
        ),
        ("answers.xlsx (microdata)", format!("/api/v1/waves/{wave}/answers.xlsx"), ""),
    ] {
        reset_peak(pid);
        let before = status_kib(pid, "VmRSS:");
        let t = time_calls(&api, &path, settings.report_repeats).await;
        line(
            what,
            format!(
                "p50 {:.0} p95 {:.0} ms, {}, peak {:.0} MiB (before {:.0})",
                quantile(&t.sorted, 0.5),
                quantile(&t.sorted, 0.95),
                size_text(t.size),
                mib(status_kib(pid, "VmHWM:")),
                mib(before)
            ),
            goal,
        );
    }
    // Crosstabs by locality: the counts are kept from the call above, so the first level
    // pays every item's disclosure pattern (one decision covers every level), or a level
    // finer than the memory budget keeps answers 422.
    for level in ["province", "district", "commune"] {
        reset_peak(pid);
        let (status, length, took, body) =
            api.get(&format!("/api/v1/waves/{wave}/report?table=crosstab&level={level}")).await;
        let outcome = match status {
            200 => size_text(length),
            _ => format!("status {status}: {}", String::from_utf8_lossy(&body)),
        };
        line(
            &format!("crosstab by {level}, every background item"),
            format!("{:.1} s, {outcome}, peak {:.0} MiB", took.as_secs_f64(), mib(status_kib(pid, "VmHWM:"))),
            "",
        );
    }
    reset_peak(pid);
    let (status, _, took, body) = api.get(&format!("/api/v1/waves/{wave}/verify")).await;
    let verification: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    line(
        "verify (full recount)",
        format!("{:.1} s, status {status}, consistent={}", took.as_secs_f64(), verification["consistent"]),
        "goal seconds, streaming (today 15 s)",
    );
    line("server memory during verify", format!("peak {:.0} MiB", mib(status_kib(pid, "VmHWM:"))), "");
    println!("  load after {}", load_average());
    server.kill();
    store.finish();
}

struct Settings {
    /// PHIEU_BIN_B: a second build whose intake alternates with the first's.
    other_binary: Option<PathBuf>,
    answers: usize,
    concurrency: usize,
    result_repeats: usize,
    page_repeats: usize,
    report_repeats: usize,
    seed: u64,
    /// BENCH_FORM: the wave's form (default sipas-2017).
    form_id: String,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let settings = Settings {
        answers: env_number("BENCH_ANSWERS", 200_000),
        concurrency: env_number("BENCH_CONCURRENCY", 64),
        result_repeats: env_number("BENCH_RESULT_REPEATS", 10).max(1),
        page_repeats: env_number("BENCH_PAGE_REPEATS", 3).max(1),
        report_repeats: env_number("BENCH_REPORT_REPEATS", 5).max(1),
        seed: env_number("BENCH_SEED", 2024) as u64,
        form_id: std::env::var("BENCH_FORM").unwrap_or_else(|_| "sipas-2017".into()),
        other_binary: std::env::var("PHIEU_BIN_B").ok().filter(|v| !v.is_empty()).map(PathBuf::from),
    };
    let binary = std::env::var("PHIEU_BIN").map(PathBuf::from).unwrap_or_else(|_| env!("CARGO_BIN_EXE_phieu").into());
    let only = std::env::var("BENCH_ONLY").unwrap_or_else(|_| "ceiling,sqlite,postgres".into());
    let reuse = std::env::var("BENCH_REUSE_DB").ok().filter(|v| !v.is_empty());
    println!(
        "national benchmark: {} answers, {} clients, server {}, {} cores, load {}",
        settings.answers,
        settings.concurrency,
        binary.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    // The form as its API serves it (scales written out into each item's options).
    let form_id = settings.form_id.as_str();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("survey_forms/{form_id}.json"));
    let form =
        phieu::domain::form::parse_form(form_id, &std::fs::read_to_string(file).unwrap(), Some(form_id)).unwrap();
    let maker = Arc::new(AnswerMaker::new(&serde_json::to_value(&form).unwrap(), settings.seed));
    let ceilings = if only.contains("ceiling") && reuse.is_none() {
        Some(measure_ceilings(&maker, settings.answers, settings.concurrency).await)
    } else {
        None
    };
    if let Some(location) = reuse {
        run(Store::reuse(&location), &binary, &maker, ceilings.as_ref(), &settings).await;
        return;
    }
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let name = if kind == Kind::Sqlite { "sqlite" } else { "postgres" };
        if !only.contains(name) {
            continue;
        }
        match Store::create(kind) {
            Some(store) => run(store, &binary, &maker, ceilings.as_ref(), &settings).await,
            None => println!("\nPostgreSQL skipped: TEST_DATABASE_URL is not set"),
        }
    }
}
