//! What an operator watches, in the Prometheus text format (`GET /metrics`): requests by
//! route pattern and status, answers stored, the answer writer's queue, list imports, job
//! runs, the outbox and the database pool. Counters are this instance's since it started;
//! labels are route patterns (`/s/{code}`, never a path), statuses, outcomes and job names,
//! so nothing personal and no code can appear, and the number of series stays bounded.

use crate::storage::responses::SubmitOutcome;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Upper bounds (seconds) of the request duration histogram's buckets.
const DURATION_BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    /// Microseconds, so the sum stays an integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

/// One instance's counters and gauges; cheap to update from any thread.
pub struct Metrics {
    started: SystemTime,
    /// (method, route pattern, status) → requests.
    requests: RwLock<BTreeMap<(String, String, u16), AtomicU64>>,
    /// (method, route pattern) → durations.
    durations: RwLock<BTreeMap<(String, String), Histogram>>,
    answers_stored: AtomicU64,
    answers_already_answered: AtomicU64,
    answers_wave_not_open: AtomicU64,
    answers_failed: AtomicU64,
    /// Answers handed to the writer and not yet committed (or refused).
    answers_waiting: AtomicI64,
    import_rows: AtomicU64,
    imports_read: AtomicU64,
    imports_failed: AtomicU64,
    /// (job, ok) → runs, and the last successful run of each job.
    jobs: Mutex<BTreeMap<(&'static str, bool), u64>>,
    job_last_success: Mutex<BTreeMap<&'static str, SystemTime>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: SystemTime::now(),
            requests: Default::default(),
            durations: Default::default(),
            answers_stored: Default::default(),
            answers_already_answered: Default::default(),
            answers_wave_not_open: Default::default(),
            answers_failed: Default::default(),
            answers_waiting: Default::default(),
            import_rows: Default::default(),
            imports_read: Default::default(),
            imports_failed: Default::default(),
            jobs: Default::default(),
            job_last_success: Default::default(),
        }
    }
}

/// The methods a route can have; anything else is counted as `other`, so a client cannot
/// create series by inventing methods.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" => method,
        _ => "other",
    }
}

/// Gauge of answers in the writer's hands: taken back when the write ends or is abandoned.
struct Waiting<'a>(&'a AtomicI64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// One answered request. `route` is the pattern that matched (`None`: no route did).
    pub fn request(&self, method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
        let (method, route) = (method_label(method).to_string(), route.unwrap_or("unmatched").to_string());
        let key = (method, route, status);
        let counted = self.requests.read().expect("metrics lock").get(&key).map(|c| c.fetch_add(1, Ordering::Relaxed));
        if counted.is_none() {
            self.requests
                .write()
                .expect("metrics lock")
                .entry(key.clone())
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
        let key = (key.0, key.1);
        let observed = self.durations.read().expect("metrics lock").get(&key).map(|h| h.observe(elapsed));
        if observed.is_none() {
            self.durations.write().expect("metrics lock").entry(key).or_default().observe(elapsed);
        }
    }

    /// Awaits an answer's write, counting it as waiting meanwhile and then by its outcome.
    pub async fn answer_written<E>(
        &self,
        write: impl Future<Output = Result<SubmitOutcome, E>>,
    ) -> Result<SubmitOutcome, E> {
        self.answers_waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.answers_waiting);
        let outcome = write.await;
        match &outcome {
            Ok(SubmitOutcome::Stored) => &self.answers_stored,
            Ok(SubmitOutcome::AlreadyAnswered) => &self.answers_already_answered,
            Ok(SubmitOutcome::WaveNotOpen) => &self.answers_wave_not_open,
            Err(_) => &self.answers_failed,
        }
        .fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Rows (report lines) an import has read so far.
    pub fn import_rows(&self, rows: usize) {
        self.import_rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// An import ended: read (pending confirmation) or failed.
    pub fn import_finished(&self, read: bool) {
        if read { &self.imports_read } else { &self.imports_failed }.fetch_add(1, Ordering::Relaxed);
    }

    /// One run of a background job.
    pub fn job_run(&self, job: &'static str, ok: bool) {
        *self.jobs.lock().expect("metrics lock").entry((job, ok)).or_default() += 1;
        if ok {
            self.job_last_success.lock().expect("metrics lock").insert(job, SystemTime::now());
        }
    }

    /// The exposition, with what is read from the database at scrape time (`state`).
    pub fn render(&self, state: &ScrapeState) -> String {
        let mut out = String::with_capacity(4096);
        let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        family(&mut out, "phieu_build_info", "gauge", "The running version.");
        let _ = writeln!(out, "phieu_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        family(&mut out, "phieu_start_time_seconds", "gauge", "When this instance started (Unix time).");
        let _ = writeln!(out, "phieu_start_time_seconds {}", seconds(self.started));

        family(
            &mut out,
            "phieu_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route pattern (unmatched: no route) and status.",
        );
        for ((method, route, status), n) in self.requests.read().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "phieu_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                n.load(Ordering::Relaxed)
            );
        }
        family(
            &mut out,
            "phieu_http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests, by method and route pattern.",
        );
        for ((method, route), h) in self.durations.read().expect("metrics lock").iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in DURATION_BUCKETS.iter().zip(&h.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ =
                    writeln!(out, "phieu_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "phieu_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "phieu_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "phieu_http_request_duration_seconds_count{{{labels}}} {count}");
        }

        family(
            &mut out,
            "phieu_answers_total",
            "counter",
            "Answers handed to the writer, by outcome (stored, already_answered, wave_not_open, error).",
        );
        for (outcome, n) in [
            ("stored", &self.answers_stored),
            ("already_answered", &self.answers_already_answered),
            ("wave_not_open", &self.answers_wave_not_open),
            ("error", &self.answers_failed),
        ] {
            let _ = writeln!(out, "phieu_answers_total{{outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
        }
        family(
            &mut out,
            "phieu_answer_writer_queue",
            "gauge",
            "Answers waiting for the answer writer's commit (queued or in the batch being written).",
        );
        let _ = writeln!(out, "phieu_answer_writer_queue {}", self.answers_waiting.load(Ordering::Relaxed));

        family(&mut out, "phieu_outbox_messages", "gauge", "Queued messages not yet sent, by channel and status.");
        for (channel, status, n) in &state.outbox {
            let _ = writeln!(
                out,
                "phieu_outbox_messages{{channel=\"{}\",status=\"{}\"}} {n}",
                escape(channel),
                escape(status)
            );
        }

        family(&mut out, "phieu_list_import_rows_total", "counter", "Rows of list files read by imports.");
        let _ = writeln!(out, "phieu_list_import_rows_total {}", self.import_rows.load(Ordering::Relaxed));
        family(&mut out, "phieu_list_imports_total", "counter", "List imports ended, by outcome (read, failed).");
        let _ =
            writeln!(out, "phieu_list_imports_total{{outcome=\"read\"}} {}", self.imports_read.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "phieu_list_imports_total{{outcome=\"failed\"}} {}",
            self.imports_failed.load(Ordering::Relaxed)
        );
        family(&mut out, "phieu_list_uploads_importing", "gauge", "Uploads being imported, on every instance.");
        let _ = writeln!(out, "phieu_list_uploads_importing {}", state.uploads_importing);

        family(&mut out, "phieu_job_runs_total", "counter", "Background job runs, by job and outcome (ok, error).");
        for ((job, ok), n) in self.jobs.lock().expect("metrics lock").iter() {
            let outcome = if *ok { "ok" } else { "error" };
            let _ = writeln!(out, "phieu_job_runs_total{{job=\"{job}\",outcome=\"{outcome}\"}} {n}");
        }
        family(
            &mut out,
            "phieu_job_last_success_time_seconds",
            "gauge",
            "The last successful run of each job (Unix time).",
        );
        for (job, at) in self.job_last_success.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "phieu_job_last_success_time_seconds{{job=\"{job}\"}} {}", seconds(*at));
        }

        family(&mut out, "phieu_db_pool_connections", "gauge", "Database connections of this instance, by state.");
        let pool = state.pool;
        let _ = writeln!(out, "phieu_db_pool_connections{{state=\"idle\"}} {}", pool.idle);
        let _ = writeln!(out, "phieu_db_pool_connections{{state=\"in_use\"}} {}", pool.open - pool.idle);
        family(&mut out, "phieu_db_pool_max_connections", "gauge", "The pool's size (PHIEU_DB_POOL_SIZE).");
        let _ = writeln!(out, "phieu_db_pool_max_connections {}", pool.max);
        family(&mut out, "phieu_db_up", "gauge", "Whether the database answered this scrape's queries.");
        let _ = writeln!(out, "phieu_db_up {}", u8::from(state.database_up));
        out
    }
}

/// The database pool at a moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolState {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

/// What a scrape reads from the database: counts only.
#[derive(Debug, Default)]
pub struct ScrapeState {
    pub pool: PoolState,
    pub database_up: bool,
    /// (channel, status, messages) of messages not yet sent.
    pub outbox: Vec<(String, String, i64)>,
    pub uploads_importing: i64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_pattern_and_status_with_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.request("GET", Some("/s/{code}"), 200, Duration::from_millis(3));
        metrics.request("GET", Some("/s/{code}"), 200, Duration::from_millis(30));
        metrics.request("BREW", None, 404, Duration::from_millis(1));
        let text = metrics.render(&ScrapeState::default());
        assert!(
            text.contains("phieu_http_requests_total{method=\"GET\",route=\"/s/{code}\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("phieu_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1"));
        let bucket = |le: &str| {
            format!("phieu_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/s/{{code}}\",le=\"{le}\"}} ")
        };
        assert!(text.contains(&(bucket("0.001") + "0")), "{text}");
        assert!(text.contains(&(bucket("0.005") + "1")));
        assert!(text.contains(&(bucket("0.05") + "2")));
        assert!(text.contains(&(bucket("+Inf") + "2")));
        assert!(text.contains("phieu_http_request_duration_seconds_sum{method=\"GET\",route=\"/s/{code}\"} 0.033"));
    }

    #[test]
    fn every_sample_line_belongs_to_a_declared_family() {
        let metrics = Metrics::default();
        metrics.request("POST", Some("/api/v1/responses"), 201, Duration::from_millis(2));
        metrics.job_run("purge", true);
        metrics.job_run("purge", false);
        let state = ScrapeState {
            pool: PoolState { max: 8, open: 3, idle: 2 },
            database_up: true,
            outbox: vec![("email".into(), "pending".into(), 4)],
            uploads_importing: 1,
        };
        let text = metrics.render(&state);
        let declared: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).map(|l| l.split(' ').next().unwrap()).collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            assert!(declared.contains(&name) || declared.contains(&family), "undeclared: {line}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "not a number: {line}");
        }
        assert!(text.contains("phieu_job_runs_total{job=\"purge\",outcome=\"ok\"} 1"));
        assert!(text.contains("phieu_job_runs_total{job=\"purge\",outcome=\"error\"} 1"));
        assert!(text.contains("phieu_db_pool_connections{state=\"in_use\"} 1"));
        assert!(text.contains("phieu_outbox_messages{channel=\"email\",status=\"pending\"} 4"));
    }
}
