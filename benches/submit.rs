//! Answers per second through the real server: concurrent JSON submissions over loopback,
//! on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL. Prints throughput, latency
//! percentiles, peak memory, the cost of a results query, and whether the counters match a
//! full recount.
//!
//! cargo bench --bench submit
//! BENCH_ANSWERS=20000 BENCH_CONCURRENCY=128 cargo bench --bench submit

#[path = "../tests/api/helpers.rs"]
mod helpers;

use helpers::{Backend, TestApp, satisfied_at, spawn_app};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn run(backend: Backend, answers: usize, concurrency: usize) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let form = app.form("sipas-2017").await;
    let mut codes = Vec::with_capacity(answers);
    let communes = ["00001", "00002", "00003"];
    let agencies = ["AG1", "AG1", "AG2"];
    let mut issued = 0;
    while issued < answers {
        let batch = (answers - issued).min(5_000);
        let slot = (issued / 5_000) % 3;
        codes.extend(app.invite(&wave, communes[slot], Some(agencies[slot]), batch).await.into_iter().map(|i| i.code));
        issued += batch;
    }
    let bodies: Arc<Vec<String>> = Arc::new(
        codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                json!({"code": code, "answers": satisfied_at(&form, ["3", "4", "5", "4", "2"][i % 5])}).to_string()
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let url = app.url("/api/v1/responses");
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (bodies, next, url, client) = (bodies.clone(), next.clone(), url.clone(), client.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= bodies.len() {
                        break;
                    }
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .body(bodies[i].clone())
                        .send()
                        .await;
                    latencies.push(sent.elapsed());
                    if !response.is_ok_and(|r| r.status() == 201) {
                        failures += 1;
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(answers);
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let results_started = Instant::now();
    let results = app.get_json(&format!("/api/v1/waves/{wave}/results?level=commune&by=agency")).await;
    let results_ms = results_started.elapsed().as_secs_f64() * 1000.0;
    let verify: Value = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    println!(
        "{:<8} answers={answers} concurrency={concurrency} stored={} failed={failures} elapsed={:.2}s throughput={:.0}/s \
         latency p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms results_query={:.1}ms counters_match_recount={} peak_rss={:.0}MiB",
        format!("{backend:?}").to_lowercase(),
        results["overall"]["responses"],
        elapsed.as_secs_f64(),
        answers as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        results_ms,
        verify["consistent"],
        peak_memory_mib(),
    );
    drop::<TestApp>(app);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let answers = env_number("BENCH_ANSWERS", 12_000);
    let concurrency = env_number("BENCH_CONCURRENCY", 64);
    println!(
        "submission benchmark: client and server share this machine ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    run(Backend::Sqlite, answers, concurrency).await;
    run(Backend::Postgres, answers, concurrency).await;
}
