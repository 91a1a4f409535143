//! From lists to invitations, at scale: importing a 1,000,000-row CSV (on SQLite, and on
//! PostgreSQL when `TEST_DATABASE_URL` is set) and a 200,000-row XLSX through the real
//! server, sampling the million-person frame, and sending emails to an SMTP server on
//! loopback. Prints rows/s, seconds and memory (resident now, and the peak since the step
//! began), and the CSV import's speed against `sqlite3 .import` of the same file into a
//! plain table (the ceiling: no cleaning, no report, no copy). Files are streamed from disk
//! and the streamed report is counted, not parsed, so the peak is the server's.
//!
//! cargo bench --bench lists
//! BENCH_CSV_ROWS=100000 BENCH_XLSX_ROWS=20000 BENCH_EMAILS=500 cargo bench --bench lists

#[path = "../tests/api/helpers.rs"]
mod helpers;
#[path = "../tests/api/smtp.rs"]
mod smtp;

use helpers::{Backend, TestApp, spawn_app_with, xlsx};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    format!("rss={:.0}MiB peak={:.0}MiB", field("VmRSS:"), field("VmHWM:"))
}

/// Starts a new peak: the kernel resets VmHWM to the current resident size.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

const COMMUNES: [&str; 3] = ["00001", "00002", "00003"];

/// Uploads the file at `path` streamed from disk; returns the summary and how many report
/// lines came back, without holding the report.
async fn upload_file(app: &TestApp, wave: &str, path: &std::path::Path) -> (Value, usize) {
    let file = tokio::fs::File::open(path).await.unwrap();
    let length = file.metadata().await.unwrap().len();
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), length).file_name("list");
    let form = reqwest::multipart::Form::new().part("file", part).text("agency_code", "AG1");
    let mut response = app
        .api
        .post(app.url(&format!("/api/v1/waves/{wave}/lists")))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    const MARK: &[u8] = b"{\"line\"";
    let (mut head, mut lines, mut tail) = (Vec::new(), 0, Vec::new());
    while let Some(chunk) = response.chunk().await.unwrap() {
        if head.len() < 64 * 1024 {
            head.extend_from_slice(&chunk);
        }
        // A mark may straddle two chunks: the previous chunk's last bytes go first.
        tail.extend_from_slice(&chunk);
        lines += tail.windows(MARK.len()).filter(|w| *w == MARK).count();
        tail.drain(..tail.len().saturating_sub(MARK.len() - 1));
    }
    let head = String::from_utf8_lossy(&head);
    let summary = &head[..head.find(",\"report\":[").expect("a report follows the summary")];
    (serde_json::from_str(&format!("{summary}}}")).unwrap(), lines)
}

async fn upload(app: &TestApp, wave: &str, bytes: Vec<u8>) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    upload_file(app, wave, file.path()).await.0
}

async fn new_wave(app: &TestApp) -> String {
    let created: Value =
        app.post("/api/v1/waves", &json!({"name": "Đo", "form_id": "sipas-2017"})).await.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

/// Rows per second of the `sqlite3` shell importing `csv` into a plain table of a new
/// database, or why it could not be measured.
fn sqlite3_import_rate(csv: &std::path::Path, rows: usize) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let database = dir.path().join("plain.db");
    let script = format!(".mode csv\n.import '{}' plain\n", csv.display());
    let started = Instant::now();
    let output = std::process::Command::new("sqlite3")
        .arg(&database)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("piped").write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .map_err(|e| {
            format!("the sqlite3 shell could not be run ({e}); install it (Debian: apt-get install sqlite3)")
        })?;
    let elapsed = started.elapsed().as_secs_f64();
    if !output.status.success() || !output.stderr.is_empty() {
        return Err(format!("sqlite3 .import failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(rows as f64 / elapsed)
}

/// Imports the CSV at `path` (of `rows` rows) into a new wave of `app`; prints the figures
/// and returns the upload's id and the wave.
async fn import_csv(
    app: &TestApp,
    label: &str,
    path: &std::path::Path,
    rows: usize,
    ceiling: Option<f64>,
) -> (String, String) {
    let wave = new_wave(app).await;
    let megabytes = std::fs::metadata(path).unwrap().len() as f64 / 1_048_576.0;
    reset_peak();
    let started = Instant::now();
    let (body, lines) = upload_file(app, &wave, path).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = rows as f64 / elapsed;
    let ratio = ceiling.map_or_else(|| "n/a (see above)".to_string(), |c| format!("{:.2}", rate / c));
    println!(
        "import csv   {label:<10} rows={rows} size={megabytes:.0}MiB accepted={} report_lines={lines} elapsed={elapsed:.1}s throughput={rate:.0} rows/s (goal {}) {} ratio_to_sqlite3_import={ratio}",
        body["accepted"],
        if label == "SQLite" { "≥ 50000 at < 200 MiB" } else { "≥ 20000" },
        memory()
    );
    assert_eq!(lines, rows, "a report line for every row");
    (body["upload_id"].as_str().unwrap().to_string(), wave)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    phieu::telemetry::init();
    let csv_rows = env_number("BENCH_CSV_ROWS", 1_000_000);
    let xlsx_rows = env_number("BENCH_XLSX_ROWS", 200_000);
    let emails = env_number("BENCH_EMAILS", 2_000);
    let sink = smtp::SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.smtp_url = Some(url);
        s.mail_rate = 100_000.0;
        s.max_upload_bytes = 2 << 30;
        // As the server reads it, so that a budget can be measured here.
        s.sqlite_cache_mib =
            env_number("PHIEU_SQLITE_CACHE_MIB", phieu::storage::DEFAULT_SQLITE_CACHE_MIB as usize) as u32;
    })
    .await
    .unwrap();
    app.seed_places().await;
    println!("lists benchmark on SQLite; client, server and SMTP sink share this machine; start {}", memory());

    // CSV: generated to a file, one person a line, phones and emails distinct.
    let csv = tempfile::NamedTempFile::new().unwrap();
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(csv.as_file());
        writeln!(out, "Họ và tên,Điện thoại,Email,Xã").unwrap();
        for i in 0..csv_rows {
            writeln!(out, "Nguyễn Văn Số {i},09{i:08},nguoi{i}@example.vn,{}", COMMUNES[i % 3]).unwrap();
        }
    }
    let ceiling = match sqlite3_import_rate(csv.path(), csv_rows) {
        Ok(rate) => {
            println!("sqlite3 .import of the same file into a plain table: {rate:.0} rows/s");
            Some(rate)
        }
        Err(why) => {
            println!("!!! NO CEILING: {why}; the ratio to sqlite3 .import is skipped !!!");
            None
        }
    };
    match spawn_app_with(Backend::Postgres, |s| s.max_upload_bytes = 2 << 30).await {
        Some(postgres) => {
            postgres.seed_places().await;
            import_csv(&postgres, "PostgreSQL", csv.path(), csv_rows, ceiling).await;
        }
        None => println!("!!! PostgreSQL skipped: set TEST_DATABASE_URL to measure it !!!"),
    }
    let (upload_id, wave) = import_csv(&app, "SQLite", csv.path(), csv_rows, ceiling).await;
    reset_peak();
    let started = Instant::now();
    let report = app.get_as(&app.admin_token, &format!("/api/v1/uploads/{upload_id}/report.xlsx")).await;
    let report_bytes = report.bytes().await.unwrap().len();
    println!(
        "report xlsx  rows={csv_rows} size={:.0}MiB elapsed={:.1}s {}",
        report_bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64(),
        memory()
    );
    let started = Instant::now();
    assert_eq!(app.post(&format!("/api/v1/uploads/{upload_id}/confirm"), &json!({})).await.status(), 200);
    println!("confirm      rows={csv_rows} elapsed={:.1}s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let drawn: Value = app
        .post(
            &format!("/api/v1/waves/{wave}/sample"),
            &json!({"level": "commune", "method": "slovin", "margin": 0.05, "seed": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sampled: u64 = drawn["strata"].as_array().unwrap().iter().map(|s| s["sample"].as_u64().unwrap()).sum();
    println!(
        "sample       frame={csv_rows} strata=3 sampled={sampled} elapsed={:.2}s {}",
        started.elapsed().as_secs_f64(),
        memory()
    );

    // XLSX: a title block, a header, then rows.
    let wave = new_wave(&app).await;
    let names: Vec<String> = (0..xlsx_rows).map(|i| format!("Trần Thị Số {i}")).collect();
    let phones: Vec<String> = (0..xlsx_rows).map(|i| format!("08{i:08}")).collect();
    let mut rows: Vec<Vec<&str>> = vec![vec!["DANH SÁCH"], vec![], vec!["Họ và tên", "Điện thoại", "Xã"]];
    for i in 0..xlsx_rows {
        rows.push(vec![&names[i], &phones[i], COMMUNES[i % 3]]);
    }
    let workbook = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(workbook.path(), xlsx(&rows, &[])).unwrap();
    let megabytes = workbook.as_file().metadata().unwrap().len() as f64 / 1_048_576.0;
    drop(rows);
    drop((names, phones));
    reset_peak();
    let started = Instant::now();
    let (body, _) = upload_file(&app, &wave, workbook.path()).await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "import xlsx  rows={xlsx_rows} size={megabytes:.0}MiB accepted={} elapsed={elapsed:.1}s throughput={:.0} rows/s {}",
        body["accepted"],
        xlsx_rows as f64 / elapsed,
        memory()
    );

    // Email: a sample of `emails` people invited by email.
    let wave = new_wave(&app).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    let mut list = String::from("Họ và tên,Email,Xã\n");
    for i in 0..emails {
        list.push_str(&format!("Người {i},thu{i}@example.vn,00001\n"));
    }
    let body = upload(&app, &wave, list.into_bytes()).await;
    let id = body["upload_id"].as_str().unwrap();
    app.post(&format!("/api/v1/uploads/{id}/confirm"), &json!({})).await;
    app.post(
        &format!("/api/v1/waves/{wave}/sample"),
        &json!({"level": "commune", "method": "quota", "quota": emails, "reserve": 0, "seed": 1}),
    )
    .await;
    let already = sink.mails().len();
    let started = Instant::now();
    app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "email"})).await;
    while sink.mails().len() < already + emails && started.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "email        sent={} elapsed={elapsed:.1}s throughput={:.0} emails/s",
        sink.mails().len() - already,
        emails as f64 / elapsed
    );
}
