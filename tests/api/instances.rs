//! Three `phieu serve` processes on one PostgreSQL database behind a round-robin client,
//! as behind a load balancer: limits hold across them, each scheduled job runs once at a
//! time, and killing one (SIGKILL) in the middle of a load loses and doubles no answer.

use crate::helpers::{ServeProcess, TestApp, complete_answers, free_port, fresh_postgres, serve_dir, wait_until_up};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const FAILED_CODES_LIMIT: usize = 20;
const RATE_SYNC_MS: u64 = 100;
const ANSWERS: usize = 300;

#[derive(QueryableByName, Debug)]
struct Run {
    #[diesel(sql_type = Text)]
    job: String,
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = BigInt)]
    started_ms: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    finished_ms: Option<i64>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(database_url: &str, sql: &str) -> i64 {
    let rows: Vec<Count> = diesel::sql_query(sql).load(&mut PgConnection::establish(database_url).unwrap()).unwrap();
    rows[0].n
}

/// What became of one answer sent until an instance acknowledged it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// 201 on the first attempt, or after attempts that surely stored nothing.
    Stored,
    /// 409 after an attempt whose outcome was unknown (its instance died): that one stored it.
    StoredByLostAttempt,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_limits_run_each_job_once_at_a_time_and_lose_no_answer_when_one_is_killed() {
    let Some(database) = fresh_postgres().await else {
        return;
    };
    let database_url = database.url.clone();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let dirs: Vec<_> = (0..3).map(|_| serve_dir()).collect();
    let env = [
        ("DATABASE_URL", database_url.clone()),
        ("PHIEU_TRUST_PROXY", "true".to_string()),
        ("PHIEU_RATE_FAILED_CODES_PER_PREFIX", FAILED_CODES_LIMIT.to_string()),
        ("PHIEU_RATE_REQUESTS_PER_CODE", "1000".to_string()),
        ("PHIEU_RATE_SYNC_MS", RATE_SYNC_MS.to_string()),
        ("PHIEU_MIX_INTERVAL_SECS", "1".to_string()),
        ("PHIEU_MIX_MIN_ANSWERS", "10".to_string()),
        ("PHIEU_JOB_LEASE_SECS", "3".to_string()),
        ("PHIEU_MAIL_LEASE_SECS", "4".to_string()),
    ];
    // The first creates the schema, the key and the administrator; the others find them.
    let mut servers = vec![ServeProcess::start(&dirs[0], ports[0], &env)];
    let app = TestApp::attach_postgres(ports[0], database).await;
    for i in 1..3 {
        servers.push(ServeProcess::start(&dirs[i], ports[i], &env));
        assert!(wait_until_up(&format!("http://127.0.0.1:{}/health", ports[i])).await);
    }
    let started_ms = chrono::Utc::now().timestamp_millis();
    let bases: Arc<Vec<String>> = Arc::new(ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();

    // Guessed codes from one network, spread over the three: refused at the shared limit
    // (with per-instance limits the three would take three times as many).
    let mut admitted = 0;
    for i in 0..3 * FAILED_CODES_LIMIT {
        let code = phieu::domain::code::InvitationCode::generate().grouped();
        let status = client
            .post(format!("{}/api/v1/responses", bases[i % 3]))
            .header("X-Forwarded-For", "198.51.100.7")
            .json(&json!({"code": code, "answers": {}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 404 || status == 429, "{status}");
        admitted += usize::from(status == 404);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // The others learn of a count within two exchanges and the time of the statements (a
    // quarter of a second allowed on a loaded machine): the guesses sent meanwhile (one every
    // 40 ms at most) are the slack, far below the 2 × 20 more that limits per instance allow.
    let slack = (2 * RATE_SYNC_MS as usize + 250) / 40;
    assert!(
        (FAILED_CODES_LIMIT..=FAILED_CODES_LIMIT + slack).contains(&admitted),
        "{admitted} guesses admitted, the limit is {FAILED_CODES_LIMIT} (slack {slack})"
    );
    for base in bases.iter() {
        let status = client
            .post(format!("{base}/api/v1/responses"))
            .header("X-Forwarded-For", "198.51.100.7")
            .json(&json!({"code": phieu::domain::code::InvitationCode::generate().grouped(), "answers": {}}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 429, "{base} refuses the paused network");
    }

    // A load over the three, one of which is killed half-way; clients retry elsewhere.
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    let invitations = app.invite(&wave, "00001", Some("AG1"), ANSWERS).await;
    let codes: Vec<String> = invitations.into_iter().map(|i| i.code).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let failed_attempts = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for chunk in codes.chunks(ANSWERS / 12) {
        let (chunk, bases, next, done, failed_attempts, client, answers) = (
            chunk.to_vec(),
            bases.clone(),
            next.clone(),
            done.clone(),
            failed_attempts.clone(),
            client.clone(),
            answers.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for code in chunk {
                let mut uncertain = false;
                let outcome = loop {
                    let base = &bases[next.fetch_add(1, Ordering::Relaxed) % 3];
                    let sent = client
                        .post(format!("{base}/api/v1/responses"))
                        .json(&json!({"code": code, "answers": answers}))
                        .send()
                        .await;
                    match sent.map(|r| r.status().as_u16()) {
                        Ok(201) => break Outcome::Stored,
                        Ok(409) if uncertain => break Outcome::StoredByLostAttempt,
                        Ok(status) if status < 500 => panic!("answer refused with {status}"),
                        // No answer, or a server error: perhaps stored, perhaps not. Again elsewhere.
                        _ => {
                            uncertain = true;
                            failed_attempts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                };
                done.fetch_add(1, Ordering::Relaxed);
                outcomes.push((code, outcome));
            }
            outcomes
        }));
    }
    while done.load(Ordering::Relaxed) < ANSWERS / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_pid = servers[1].id();
    servers[1].kill();
    let killed_ms = chrono::Utc::now().timestamp_millis();
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    for client in clients {
        for (code, outcome) in client.await.unwrap() {
            assert!(outcomes.insert(code, outcome).is_none());
        }
    }
    assert_eq!(outcomes.len(), ANSWERS, "every answer acknowledged once");
    assert!(failed_attempts.load(Ordering::Relaxed) > 0, "the kill fell in the load: some attempts failed");
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["responses_stored"], ANSWERS, "{verify}");
    assert_eq!(verify["consistent"], true, "{verify}");
    let wave_filter = format!("wave_id = '{wave}'");
    assert_eq!(
        count(&database_url, &format!("SELECT count(*) AS n FROM responses WHERE {wave_filter}")),
        ANSWERS as i64
    );
    assert_eq!(
        count(&database_url, &format!("SELECT count(*) AS n FROM invitations WHERE used AND {wave_filter}")),
        ANSWERS as i64
    );

    // Jobs kept running on the survivors (a dead holder's lease ends on its own).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ended_ms = chrono::Utc::now().timestamp_millis();
    let runs: Vec<Run> =
        diesel::sql_query("SELECT job, holder, started_ms, finished_ms FROM job_runs ORDER BY started_ms")
            .load(&mut PgConnection::establish(&database_url).unwrap())
            .unwrap();
    let killed = format!("{killed_pid}-");
    for job in ["mix", "housekeeping", "reminders", "purge", "mail-sweep"] {
        let of_job: Vec<&Run> = runs.iter().filter(|r| r.job == job).collect();
        assert!(of_job.len() >= 3, "{job} ran: {of_job:?}");
        for pair in of_job.windows(2) {
            let finished = pair[0].finished_ms.unwrap_or(i64::MAX);
            assert!(
                pair[1].started_ms >= finished || pair[0].holder.starts_with(&killed),
                "{job} ran twice at once: {pair:?}"
            );
        }
        // Once per interval over all instances (three times as often without leases).
        let seconds = (ended_ms - started_ms) as f64 / 1000.0;
        assert!(
            (of_job.len() as f64) <= seconds / 0.9 + 2.0,
            "{job} ran {} times in {seconds:.1} s: {of_job:?}",
            of_job.len()
        );
        assert!(
            of_job.iter().any(|r| r.started_ms > killed_ms + 3_000 && !r.holder.starts_with(&killed)),
            "{job} went on after the kill: {of_job:?}"
        );
    }
    // The answers of the open wave were mixed in cohorts by whichever instance held the job.
    assert!(count(&database_url, "SELECT count(*) AS n FROM responses WHERE NOT mixed") < 10);
    drop(servers);
}

/// Instances keep the locality tree in memory: a renaming through one is seen by the others'
/// next results (the tree's stored version, read first at every use, has moved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locality_renamed_through_one_instance_is_named_so_in_the_others_results() {
    let Some(database) = fresh_postgres().await else {
        return;
    };
    let ports = [free_port(), free_port()];
    let dirs = [serve_dir(), serve_dir()];
    let env = [("DATABASE_URL", database.url.clone())];
    let _first = ServeProcess::start(&dirs[0], ports[0], &env);
    let app = TestApp::attach_postgres(ports[0], database).await;
    let _second = ServeProcess::start(&dirs[1], ports[1], &env);
    assert!(wait_until_up(&format!("http://127.0.0.1:{}/health", ports[1])).await);
    app.seed_places().await;
    let wave =
        app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1, "localities": ["01"]})).await;
    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
    // Commune 00002 has no answer: the second instance lists it by the name in its tree.
    let client = reqwest::Client::new();
    let name_of_00002 = || async {
        let results: serde_json::Value = client
            .get(format!("http://127.0.0.1:{}/api/v1/waves/{wave}/results?level=commune", ports[1]))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let groups = results["groups"].as_array().unwrap();
        groups.iter().find(|g| g["locality"]["code"] == "00002").unwrap()["locality"]["name"].clone()
    };
    assert_eq!(name_of_00002().await, "Xã Một Hai");
    let renamed = app
        .post(
            "/api/v1/localities",
            &json!({"code": "00002", "name": "Phường Một Hai", "level": "commune", "parent_code": "001"}),
        )
        .await;
    assert!(renamed.status().is_success(), "{}", renamed.status());
    assert_eq!(name_of_00002().await, "Phường Một Hai");
}
