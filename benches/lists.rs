//! From lists to invitations, at scale: importing a 1,000,000-row CSV and a 200,000-row XLSX
//! through the real server, sampling the million-person frame, and sending emails to an SMTP
//! server on loopback. Prints rows/s, seconds and memory (resident now and peak).
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

const COMMUNES: [&str; 3] = ["00001", "00002", "00003"];

async fn upload(app: &TestApp, wave: &str, name: &str, bytes: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()))
        .text("agency_code", "AG1");
    let response = app
        .api
        .post(app.url(&format!("/api/v1/waves/{wave}/lists")))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn new_wave(app: &TestApp) -> String {
    let created: Value =
        app.post("/api/v1/waves", &json!({"name": "Đo", "form_id": "sipas-2017"})).await.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let csv_rows = env_number("BENCH_CSV_ROWS", 1_000_000);
    let xlsx_rows = env_number("BENCH_XLSX_ROWS", 200_000);
    let emails = env_number("BENCH_EMAILS", 2_000);
    let sink = smtp::SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.smtp_url = Some(url);
        s.mail_rate = 100_000.0;
        s.max_upload_bytes = 2 << 30;
    })
    .await
    .unwrap();
    app.seed_places().await;
    println!("lists benchmark on SQLite; client, server and SMTP sink share this machine; start {}", memory());

    // CSV: generated, one person a line, phones and emails distinct.
    let wave = new_wave(&app).await;
    let mut csv = String::with_capacity(csv_rows * 64);
    csv.push_str("Họ và tên,Điện thoại,Email,Xã\n");
    for i in 0..csv_rows {
        csv.push_str(&format!("Nguyễn Văn Số {i},09{i:08},nguoi{i}@example.vn,{}\n", COMMUNES[i % 3]));
    }
    let megabytes = csv.len() as f64 / 1_048_576.0;
    let started = Instant::now();
    let body = upload(&app, &wave, "lon.csv", csv.into_bytes()).await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "import csv   rows={csv_rows} size={megabytes:.0}MiB accepted={} elapsed={elapsed:.1}s throughput={:.0} rows/s {}",
        body["accepted"],
        csv_rows as f64 / elapsed,
        memory()
    );
    let upload_id = body["upload_id"].as_str().unwrap().to_string();
    drop(body);
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
    let workbook = xlsx(&rows, &[]);
    let megabytes = workbook.len() as f64 / 1_048_576.0;
    drop(rows);
    let started = Instant::now();
    let body = upload(&app, &wave, "lon.xlsx", workbook).await;
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
    let body = upload(&app, &wave, "email.csv", list.into_bytes()).await;
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
