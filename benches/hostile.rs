//! Hostile list files against the real server binary: each file of issue 7 is generated at
//! the size, uploaded to a fresh `phieu serve` on SQLite, and the status, time and
//! the server process's peak resident memory (VmHWM) are printed. A server growing past
//! BENCH_RSS_CAP_MB (default 4096) is killed by the benchmark, to keep the machine alive.
//!
//! cargo bench --profile dev --bench hostile
//! PHIEU_BIN=/path/to/other/phieu cargo bench --profile dev --bench hostile   (another build)
//! BENCH_ONLY=zip cargo bench --profile dev --bench hostile                   (files whose name contains "zip")
//! BENCH_TIMEOUT_SECS=240 …                                                    (give up on an upload sooner)

#[path = "../tests/api/helpers.rs"]
mod helpers;
#[path = "../tests/api/hostile_files.rs"]
mod hostile_files;

use helpers::{ServeProcess, TestApp, free_port, serve_dir};
use serde_json::{Value, json};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// Writes a file with `write` and returns its path and size.
fn generate(dir: &Path, name: &str, write: impl FnOnce(&mut BufWriter<std::fs::File>)) -> (PathBuf, u64) {
    let path = dir.join(name);
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    write(&mut out);
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&path).unwrap().len();
    (path, size)
}

/// How many decompressed bytes of the zip bomb make `compressed` bytes of file.
fn bomb_size_for(compressed: u64) -> u64 {
    let sample = hostile_files::in_memory(|out| hostile_files::zip_bomb(out, 64 << 20));
    compressed * (64 << 20) / sample.len() as u64
}

fn rows_for(compressed: u64) -> usize {
    let sample = hostile_files::in_memory(|out| hostile_files::one_cell_rows(out, 1_000_000));
    (compressed * 1_000_000 / sample.len() as u64) as usize
}

struct Outcome {
    status: String,
    seconds: f64,
    start_mib: f64,
    peak_mib: f64,
    alive: bool,
}

async fn run_one(binary: &Path, path: &Path, cap_kib: u64, timeout: Duration) -> Outcome {
    let dir = serve_dir();
    let port = free_port();
    let mut server = ServeProcess::start_binary(binary, &dir, port, &[]);
    let pid = server.id();
    let app = TestApp::attach(port, dir).await;
    app.seed_places().await;
    let wave: Value = app
        .post("/api/v1/waves", &json!({"name": "Đo", "form_id": "sipas-2017", "localities": ["01"]}))
        .await
        .json()
        .await
        .unwrap();
    let wave = wave["id"].as_str().unwrap().to_string();
    // A new peak from here: the kernel resets VmHWM to the current resident size.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let start_mib = status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let peak = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = std::thread::spawn({
        let (peak, killed, done) = (peak.clone(), killed.clone(), done.clone());
        move || {
            while !done.load(Ordering::Relaxed) {
                match status_kib(pid, "VmHWM:") {
                    Some(hwm) => {
                        peak.fetch_max(hwm, Ordering::Relaxed);
                        if hwm > cap_kib {
                            killed.store(true, Ordering::Relaxed);
                            let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
                            return;
                        }
                    }
                    None => return,
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let started = Instant::now();
    let file = tokio::fs::File::open(path).await.unwrap();
    let length = file.metadata().await.unwrap().len();
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), length).file_name("list");
    let form = reqwest::multipart::Form::new().part("file", part).text("agency_code", "AG1");
    let client = reqwest::Client::builder().timeout(timeout).build().unwrap();
    let response = client
        .post(app.url(&format!("/api/v1/waves/{wave}/lists")))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await;
    let mut status = match response {
        Ok(mut r) => {
            let code = r.status().as_u16();
            let mut head = Vec::new();
            while let Ok(Some(chunk)) = r.chunk().await {
                if head.len() < 400 {
                    head.extend_from_slice(&chunk);
                }
            }
            let text = String::from_utf8_lossy(&head[..head.len().min(400)]).to_string();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["errors"]["file"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(90).collect());
            format!("{code} {message}")
        }
        Err(e) => format!("no answer ({})", if e.is_timeout() { "timeout" } else { "connection lost" }),
    };
    let seconds = started.elapsed().as_secs_f64();
    if let Some(hwm) = status_kib(pid, "VmHWM:") {
        peak.fetch_max(hwm, Ordering::Relaxed);
    }
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    if killed.load(Ordering::Relaxed) {
        status = format!("killed by the benchmark above {} MiB", cap_kib / 1024);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alive =
        !server.ended() && reqwest::get(app.url("/health")).await.map(|r| r.status().is_success()).unwrap_or(false);
    server.kill();
    Outcome { status, seconds, start_mib, peak_mib: peak.load(Ordering::Relaxed) as f64 / 1024.0, alive }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let binary = std::env::var("PHIEU_BIN").map(PathBuf::from).unwrap_or_else(|_| env!("CARGO_BIN_EXE_phieu").into());
    let cap_kib = std::env::var("BENCH_RSS_CAP_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(4096u64) * 1024;
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let timeout =
        Duration::from_secs(std::env::var("BENCH_TIMEOUT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(900));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    type Generator = Box<dyn FnOnce(&Path) -> (PathBuf, u64)>;
    let files: Vec<(&str, Generator)> = vec![
        (
            "declared-count bomb xlsx",
            Box::new(|d| {
                generate(d, "count.xlsx", |o| {
                    let bytes = hostile_files::in_memory(|c| hostile_files::declared_count_bomb(c, "100000000000"));
                    o.write_all(&bytes).unwrap()
                })
            }),
        ),
        (
            "zip bomb xlsx 2.5 MB",
            Box::new(|d| {
                let size = bomb_size_for(2_500_000);
                generate(d, "bomb25.xlsx", |o| {
                    let bytes = hostile_files::in_memory(|c| hostile_files::zip_bomb(c, size));
                    o.write_all(&bytes).unwrap()
                })
            }),
        ),
        (
            "zip bomb xlsx 7.5 MB",
            Box::new(|d| {
                let size = bomb_size_for(7_500_000);
                generate(d, "bomb75.xlsx", |o| {
                    let bytes = hostile_files::in_memory(|c| hostile_files::zip_bomb(c, size));
                    o.write_all(&bytes).unwrap()
                })
            }),
        ),
        (
            "shared strings at their limit xlsx (within the ratio)",
            Box::new(|d| {
                generate(d, "shared.xlsx", |o| {
                    hostile_files::many_shared_strings(o, 600_000, 200).unwrap();
                })
            }),
        ),
        (
            "separators csv 28 MB",
            Box::new(|d| {
                generate(d, "sep28.csv", |o| hostile_files::separators_csv(o, 28_000_000, 1_000_000).unwrap())
            }),
        ),
        (
            "separators csv 94 MB",
            Box::new(|d| {
                generate(d, "sep94.csv", |o| hostile_files::separators_csv(o, 94_000_000, 1_000_000).unwrap())
            }),
        ),
        (
            "separators csv 94 MB, 16,000 a line (within the field limit)",
            Box::new(|d| generate(d, "sep94n.csv", |o| hostile_files::separators_csv(o, 94_000_000, 16_000).unwrap())),
        ),
        (
            "single line csv 100 MB",
            Box::new(|d| generate(d, "line.csv", |o| hostile_files::single_line_csv(o, 100_000_000).unwrap())),
        ),
        (
            "1,000,000-column header csv",
            Box::new(|d| generate(d, "wide.csv", |o| hostile_files::wide_header_csv(o, 1_000_000, "Cột").unwrap())),
        ),
        (
            "60,000 ID-column csv",
            Box::new(|d| generate(d, "ids.csv", |o| hostile_files::wide_header_csv(o, 60_000, "Số CCCD").unwrap())),
        ),
        (
            "one 64 KiB shared string in every cell xlsx (1 GiB of text)",
            Box::new(|d| {
                generate(d, "repeated.xlsx", |o| {
                    let bytes = hostile_files::in_memory(|c| hostile_files::repeated_long_string(c, 4_200));
                    o.write_all(&bytes).unwrap()
                })
            }),
        ),
        (
            "one-cell rows xlsx 0.75 MB",
            Box::new(|d| {
                let rows = rows_for(750_000);
                generate(d, "rows.xlsx", |o| {
                    let bytes = hostile_files::in_memory(|c| hostile_files::one_cell_rows(c, rows));
                    o.write_all(&bytes).unwrap()
                })
            }),
        ),
    ];
    println!("hostile list files against {} (SQLite; peak = server VmHWM during the upload)", binary.display());
    println!("| file | size | answer | seconds | RSS before | peak RSS | alive after |");
    println!("|---|---|---|---|---|---|---|");
    for (name, make) in files {
        if !only.is_empty() && !name.contains(&only) {
            continue;
        }
        let (path, size) = make(dir);
        let outcome = run_one(&binary, &path, cap_kib, timeout).await;
        println!(
            "| {name} | {:.2} MB | {} | {:.1} | {:.0} MiB | {:.0} MiB | {} |",
            size as f64 / 1e6,
            outcome.status,
            outcome.seconds,
            outcome.start_mib,
            outcome.peak_mib,
            if outcome.alive { "yes" } else { "no" }
        );
        let _ = std::fs::remove_file(path);
    }
}
