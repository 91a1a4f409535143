//! Officials' accounts: sign-in slowed by failures (never refused for the right password),
//! sign-out, disabling, password reset and change, and the CLI for a lost password.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, browser, csrf_of, spawn_app_with};
use crate::on_both_backends;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

on_both_backends!(
    logout_without_csrf_token_still_ends_the_session,
    a_disabled_account_stops_at_once_and_can_be_enabled_again,
    passwords_are_reset_by_an_administrator_and_changed_by_their_owner,
    password_page_changes_the_password_and_ends_other_sessions,
    weak_passwords_are_refused_with_vietnamese_reasons,
    cli_resets_a_lost_administrator_password,
);

const OFFICER_PASSWORD: &str = "mat-khau-can-bo-1";

/// A sign-in through the API from `network` (the proxy's `X-Forwarded-For`): status and time.
async fn sign_in_from(app: &TestApp, network: &str, email: &str, password: &str) -> (u16, Duration, Option<String>) {
    let started = Instant::now();
    let response = app
        .api
        .post(app.url("/api/v1/auth/token"))
        .header("X-Forwarded-For", network)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), started.elapsed(), retry_after)
}

/// A new account with `role`: its id and email.
async fn account(app: &TestApp, role: &str) -> (String, String) {
    let email = format!("can-bo-{}@test.phieu", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let r = app.post("/api/v1/users", &json!({"email": email, "password": OFFICER_PASSWORD, "role": role})).await;
    assert_eq!(r.status(), 201, "create {role}");
    (r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string(), email)
}

async fn failures_of(app: &TestApp, id: &str) -> i64 {
    let users = app.get_json("/api/v1/users").await;
    let user = users["users"].as_array().unwrap().iter().find(|u| u["id"] == id).unwrap().clone();
    user["failed_sign_ins"].as_i64().unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let audit = app.get_json("/api/v1/audit?limit=100").await;
    audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

const SLOW: Duration = Duration::from_millis(1200);

/// The rate window in tests with delays: long enough for a test's steps, short to wait out.
const WINDOW: Duration = Duration::from_secs(4);
/// Long beside a sign-in's own time on a loaded machine (argon2 in a debug build), so that a
/// delayed answer and an undelayed one cannot be mistaken for each other.
const EXPIRING_DELAY: Duration = Duration::from_secs(2);

/// Two free failures, then 300 ms doubling up to 1.2 s; networks told by X-Forwarded-For.
async fn app_with_delays(backend: Backend) -> Option<TestApp> {
    app_with_delays_and_window(backend, Duration::from_secs(600), Duration::from_millis(300)).await
}

/// Two free failures, then `delay` doubling up to 1.2 s (or `delay` when longer).
async fn app_with_delays_and_window(backend: Backend, window: Duration, delay: Duration) -> Option<TestApp> {
    spawn_app_with(backend, |s| {
        s.trust_proxy = true;
        s.rate_window = window;
        s.sign_in_delays.free = 2;
        s.sign_in_delays.base = delay;
        s.sign_in_delays.max = SLOW.max(delay);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failures_slow_sign_in_and_the_right_password_always_gets_in_sqlite() {
    if let Some(app) = app_with_delays(Backend::Sqlite).await {
        only_failures_slow_sign_in_and_the_right_password_always_gets_in(app).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failures_slow_sign_in_and_the_right_password_always_gets_in_postgres() {
    if let Some(app) = app_with_delays(Backend::Postgres).await {
        only_failures_slow_sign_in_and_the_right_password_always_gets_in(app).await
    }
}

async fn only_failures_slow_sign_in_and_the_right_password_always_gets_in(app: TestApp) {
    let (id, email) = account(&app, "analyst").await;
    let (office, attacker, home) = ("198.51.100.7", "203.0.113.5", "192.0.2.44");

    // A shared office signs in correctly as often as it likes: successes are not counted.
    for _ in 0..22 {
        assert_eq!(sign_in_from(&app, office, &email, OFFICER_PASSWORD).await.0, 200);
    }

    // Someone elsewhere guesses: each failure is answered later than the one before, up to
    // the cap, and never with a refusal that would lock the official out.
    let mut times = Vec::new();
    for _ in 0..5 {
        let (status, took, _) = sign_in_from(&app, attacker, &email, "doan-mat-khau-sai").await;
        assert_eq!(status, 401);
        times.push(took);
    }
    assert!(times[2] >= Duration::from_millis(300) && times[3] >= Duration::from_millis(600), "{times:?}");
    assert!(times[4] >= SLOW, "{times:?}");
    assert_eq!(failures_of(&app, &id).await, 5);

    // The official, on another network, gets in with the right password after at most the cap.
    let (status, took, _) = sign_in_from(&app, home, &email, OFFICER_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(took >= SLOW && took < SLOW + Duration::from_secs(5), "{took:?}");
    assert_eq!(failures_of(&app, &id).await, 0, "a success starts the count again");
    let (_, took, _) = sign_in_from(&app, home, &email, OFFICER_PASSWORD).await;
    assert!(took < SLOW, "no delay left for the official: {took:?}");

    // The guessing network is slowed for every account, and still lets the right password in.
    let (other_id, other) = account(&app, "analyst").await;
    let (status, took, _) = sign_in_from(&app, attacker, &other, OFFICER_PASSWORD).await;
    assert_eq!(status, 200, "a colleague on the guessing network still gets in");
    assert!(took >= SLOW, "{took:?}");

    // An administrator clears an account's count (audited); others may not.
    for _ in 0..3 {
        assert_eq!(sign_in_from(&app, attacker, &other, "doan-mat-khau-sai").await.0, 401);
    }
    assert_eq!(failures_of(&app, &other_id).await, 3);
    let analyst = app.token_for(&email, OFFICER_PASSWORD).await;
    let path = format!("/api/v1/users/{other_id}/sign-in-failures");
    let refused = app.api.delete(app.url(&path)).bearer_auth(&analyst).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let cleared = app.api.delete(app.url(&path)).bearer_auth(&app.admin_token).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(failures_of(&app, &other_id).await, 0);
    assert!(audit_actions(&app).await.contains(&"user.sign_in_failures_clear".to_string()));
    let (status, took, _) = sign_in_from(&app, home, &other, OFFICER_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(took < SLOW, "{took:?}");
    let missing = app.api.delete(app.url("/api/v1/users/no-such-id/sign-in-failures")).bearer_auth(&app.admin_token);
    assert_eq!(missing.send().await.unwrap().status(), 404);
}

macro_rules! with_delays_on_both_backends {
    ($($name:ident: $window:expr, $delay:expr);* $(;)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(app) = super::app_with_delays_and_window(crate::helpers::Backend::Sqlite, $window, $delay).await {
                    super::$name(app).await
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = super::app_with_delays_and_window(crate::helpers::Backend::Postgres, $window, $delay).await {
                    super::$name(app).await
                }
            }
        }
    )*};
}

with_delays_on_both_backends!(
    concurrent_sign_ins_from_one_network_are_bounded_and_counted: std::time::Duration::from_secs(600), std::time::Duration::from_millis(300);
    failures_of_real_accounts_and_unknown_emails_expire_alike: super::WINDOW, super::EXPIRING_DELAY;
);

/// Thirty wrong guesses sent at once from one network: they do not all see a count of zero
/// and run in parallel; only the network's few places are checked, the rest get 429.
async fn concurrent_sign_ins_from_one_network_are_bounded_and_counted(app: TestApp) {
    let (id, email) = account(&app, "analyst").await;
    let network = "203.0.113.77";
    let guesses = (0..30).map(|_| sign_in_from(&app, network, &email, "doan-mat-khau-sai"));
    let answers = futures_util::future::join_all(guesses).await;
    let verified = answers.iter().filter(|a| a.0 == 401).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert_eq!(verified + refused.len(), 30, "{answers:?}");
    // Four places (test settings); the two free failures may give theirs back before the
    // last guesses arrive, every later one holds its place through a delay. On a loaded
    // machine the thirty may arrive spread out, so a little slack; unbounded, all 30 are.
    assert!((1..=4 + 2 + 4).contains(&verified), "{verified} checked at once: {answers:?}");
    assert!(refused.iter().all(|a| a.2.is_some()), "429 with Retry-After: {refused:?}");
    assert_eq!(failures_of(&app, &id).await, verified as i64, "every checked guess counted, no other");

    // The right password, from the same network, still gets in within the cap.
    let (status, took, _) = sign_in_from(&app, network, &email, OFFICER_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(took < SLOW + Duration::from_secs(5), "{took:?}");
    assert_eq!(failures_of(&app, &id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_from_many_networks_see_each_other_sqlite() {
    concurrent_guesses_from_many_networks_see_each_other(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_from_many_networks_see_each_other_postgres() {
    concurrent_guesses_from_many_networks_see_each_other(Backend::Postgres).await
}

/// Eight guesses at one account sent at once from eight networks: each is counted before its
/// password is checked, so all but the free ones are delayed, the last ones by the cap.
async fn concurrent_guesses_from_many_networks_see_each_other(backend: Backend) {
    const CAP: Duration = Duration::from_secs(4);
    let Some(app) = spawn_app_with(backend, |s| {
        s.trust_proxy = true;
        s.sign_in_delays.free = 2;
        s.sign_in_delays.base = Duration::from_secs(1);
        s.sign_in_delays.max = CAP;
    })
    .await
    else {
        return;
    };
    let (id, email) = account(&app, "analyst").await;
    let networks: Vec<String> = (1..=8).map(|i| format!("198.51.100.{}", 100 + i)).collect();
    let guesses = networks.iter().map(|n| sign_in_from(&app, n, &email, "doan-mat-khau-sai"));
    let answers = futures_util::future::join_all(guesses).await;
    assert!(answers.iter().all(|a| a.0 == 401), "{answers:?}");
    let capped = answers.iter().filter(|a| a.1 >= CAP).count();
    assert!(capped >= 4, "the 5th to 8th guesses wait the cap: {answers:?}");
    assert_eq!(failures_of(&app, &id).await, 8);
}

/// A real account's failures (in the database) and an unknown email's (in memory) are
/// delayed alike within the window and forgotten alike after it.
async fn failures_of_real_accounts_and_unknown_emails_expire_alike(app: TestApp) {
    let (_, real) = account(&app, "analyst").await;
    let unknown = "khong-ton-tai@test.phieu";
    for _ in 0..2 {
        assert_eq!(sign_in_from(&app, "198.51.100.21", &real, "doan-mat-khau-sai").await.0, 401);
        assert_eq!(sign_in_from(&app, "198.51.100.22", unknown, "doan-mat-khau-sai").await.0, 401);
    }
    // Within the window, from fresh networks: both delayed (two free failures used up).
    let (real_again, unknown_again) = tokio::join!(
        sign_in_from(&app, "198.51.100.23", &real, "doan-mat-khau-sai"),
        sign_in_from(&app, "198.51.100.24", unknown, "doan-mat-khau-sai"),
    );
    assert_eq!((real_again.0, unknown_again.0), (401, 401));
    assert!(real_again.1 >= EXPIRING_DELAY, "{:?}", real_again.1);
    assert!(unknown_again.1 >= EXPIRING_DELAY, "{:?}", unknown_again.1);

    // A window after the last failure, both are answered without delay.
    tokio::time::sleep(WINDOW + Duration::from_millis(300)).await;
    let (real_later, unknown_later) = tokio::join!(
        sign_in_from(&app, "198.51.100.25", &real, "doan-mat-khau-sai"),
        sign_in_from(&app, "198.51.100.26", unknown, "doan-mat-khau-sai"),
    );
    assert_eq!((real_later.0, unknown_later.0), (401, 401));
    assert!(real_later.1 < EXPIRING_DELAY, "a real account is not told apart: {:?}", real_later.1);
    assert!(unknown_later.1 < EXPIRING_DELAY, "{:?}", unknown_later.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_sign_ins_per_network_are_capped_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.trust_proxy = true;
        s.sign_in_delays.free = 0;
        s.sign_in_delays.base = Duration::from_millis(800);
        s.sign_in_delays.max = Duration::from_millis(800);
        s.sign_in_waiting_per_prefix = 1;
    })
    .await
    .unwrap();
    let network = "203.0.113.9";
    let page = browser();
    let csrf = csrf_of(&page.get(app.url("/dang-nhap")).send().await.unwrap().text().await.unwrap());
    let page_sign_in = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let form = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("_csrf", &csrf)];
        let response =
            page.post(app.url("/dang-nhap")).header("X-Forwarded-For", network).form(&form).send().await.unwrap();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        (response.status().as_u16(), retry_after, response.text().await.unwrap())
    };
    let (first, second, on_page) = tokio::join!(
        sign_in_from(&app, network, ADMIN_EMAIL, "sai-mat-khau-roi"),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sign_in_from(&app, network, ADMIN_EMAIL, "sai-mat-khau-roi").await
        },
        page_sign_in
    );
    assert_eq!(first.0, 401);
    assert_eq!((second.0, second.2.as_deref()), (429, Some("1")), "the second waits nowhere: the place is taken");
    assert!(second.1 < Duration::from_millis(500), "refused at once: {:?}", second.1);
    assert_eq!((on_page.0, on_page.1.as_deref()), (429, Some("1")), "the sign-in page shares the places");
    assert!(on_page.2.contains("vui lòng thử lại sau 1 giây"), "{}", on_page.2);
    let other_network = sign_in_from(&app, "198.51.100.1", ADMIN_EMAIL, ADMIN_PASSWORD);
    let again = sign_in_from(&app, network, ADMIN_EMAIL, ADMIN_PASSWORD);
    let (other_network, again) = tokio::join!(other_network, again);
    assert_eq!((other_network.0, again.0), (200, 200), "another network has its own places");
}

/// Signs in on the pages: the browser and its CSRF token.
async fn page_session(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, String) {
    let client = browser();
    let page = client.get(app.url("/dang-nhap")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let response = client
        .post(app.url("/dang-nhap"))
        .form(&[("email", email), ("password", password), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "page sign-in of {email}");
    (client, csrf)
}

async fn logout_without_csrf_token_still_ends_the_session(app: TestApp) {
    // A browser that keeps the session cookie even after being told to drop it, as a
    // stolen copy would.
    let page = app.api.get(app.url("/dang-nhap")).send().await.unwrap();
    let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = csrf_of(&page.text().await.unwrap());
    let signed_in = app
        .api
        .post(app.url("/dang-nhap"))
        .header("Cookie", &csrf_cookie)
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("phieu_session="))
        .unwrap();
    let dashboard = |cookie: String| app.api.get(app.url("/quan-ly")).header("Cookie", cookie).send();
    assert_eq!(dashboard(session.clone()).await.unwrap().status(), 200);

    // A stale CSRF token (or none): the cookie is cleared, and the session ends with it.
    let logout = app.api.post(app.url("/dang-xuat")).header("Cookie", &session).form(&[("_csrf", "cu")]).send();
    let logout = logout.await.unwrap();
    assert_eq!(logout.status(), 303);
    assert!(logout.headers()["set-cookie"].to_str().unwrap().starts_with("phieu_session=;"));
    let after = dashboard(session).await.unwrap();
    assert_eq!(after.status(), 303, "the old session cookie no longer works");
    assert_eq!(after.headers()["location"], "/dang-nhap");
}

async fn a_disabled_account_stops_at_once_and_can_be_enabled_again(app: TestApp) {
    let (id, email) = account(&app, "analyst").await;
    let token = app.token_for(&email, OFFICER_PASSWORD).await;
    let (client, _) = page_session(&app, &email, OFFICER_PASSWORD).await;
    assert_eq!(app.get_as(&token, "/api/v1/waves").await.status(), 200);
    assert_eq!(client.get(app.url("/quan-ly")).send().await.unwrap().status(), 200);

    assert_eq!(app.post_as(&token, &format!("/api/v1/users/{id}/disable"), &json!({})).await.status(), 403);
    assert_eq!(app.post(&format!("/api/v1/users/{id}/disable"), &json!({})).await.status(), 204);
    assert_eq!(app.get_as(&token, "/api/v1/waves").await.status(), 401, "the bearer token stops at once");
    let page = client.get(app.url("/quan-ly")).send().await.unwrap();
    assert_eq!(page.headers()["location"], "/dang-nhap", "the page session stops at once");
    let (status, _, _) = sign_in_from(&app, "127.0.0.1", &email, OFFICER_PASSWORD).await;
    assert_eq!(status, 401, "a disabled account cannot sign in");
    let users = app.get_json("/api/v1/users").await;
    assert!(users["users"].as_array().unwrap().iter().any(|u| u["id"] == id && u["disabled"] == true));

    let admin_id = users["users"].as_array().unwrap().iter().find(|u| u["email"] == ADMIN_EMAIL).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.post(&format!("/api/v1/users/{admin_id}/disable"), &json!({})).await.status(), 409);
    assert_eq!(app.post("/api/v1/users/no-such-id/disable", &json!({})).await.status(), 404);

    assert_eq!(app.post(&format!("/api/v1/users/{id}/enable"), &json!({})).await.status(), 204);
    assert_eq!(app.get_as(&token, "/api/v1/waves").await.status(), 401, "old tokens do not come back");
    let fresh = app.token_for(&email, OFFICER_PASSWORD).await;
    assert_eq!(app.get_as(&fresh, "/api/v1/waves").await.status(), 200);
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&"user.disable".to_string()) && actions.contains(&"user.enable".to_string()));
}

async fn passwords_are_reset_by_an_administrator_and_changed_by_their_owner(app: TestApp) {
    let (id, email) = account(&app, "analyst").await;
    let old_token = app.token_for(&email, OFFICER_PASSWORD).await;
    let put =
        |token: String, path: String, body: Value| app.api.put(app.url(&path)).bearer_auth(token).json(&body).send();
    let reset = format!("/api/v1/users/{id}/password");

    let weak = put(app.admin_token.clone(), reset.clone(), json!({"password": "ngan"})).await.unwrap();
    assert_eq!(weak.status(), 422);
    assert_eq!(weak.json::<Value>().await.unwrap()["errors"]["password"], "Mật khẩu phải có ít nhất 12 ký tự");
    let given = put(app.admin_token.clone(), reset.clone(), json!({"password": "mat-khau-cap-lai-1"})).await.unwrap();
    assert_eq!(given.status(), 204);
    assert_eq!(app.get_as(&old_token, "/api/v1/waves").await.status(), 401, "a reset ends the account's tokens");
    assert_eq!(sign_in_from(&app, "127.0.0.1", &email, OFFICER_PASSWORD).await.0, 401);
    app.token_for(&email, "mat-khau-cap-lai-1").await;
    let generated = put(app.admin_token.clone(), reset.clone(), json!({})).await.unwrap();
    assert_eq!(generated.status(), 200);
    let generated = generated.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_string();
    let token = app.token_for(&email, &generated).await;
    let refused = put(token.clone(), reset.clone(), json!({"password": "mat-khau-tu-dat-1"})).await.unwrap();
    assert_eq!(refused.status(), 403, "only administrators reset");

    // The owner changes it: the current one must be right and the new one strong; the
    // caller's token stays, the account's other tokens end.
    let other_token = app.token_for(&email, &generated).await;
    let change = |current: &str, new: &str| {
        put(token.clone(), "/api/v1/me/password".into(), json!({"current": current, "new": new}))
    };
    let wrong = change("khong-phai-mat-khau", "mat-khau-moi-cua-toi").await.unwrap();
    assert_eq!(wrong.status(), 422);
    assert_eq!(wrong.json::<Value>().await.unwrap()["errors"]["current"], "Mật khẩu hiện tại không đúng.");
    let weak = change(&generated, "password1234").await.unwrap();
    assert_eq!(weak.status(), 422);
    assert_eq!(
        weak.json::<Value>().await.unwrap()["errors"]["new"],
        "Mật khẩu quá dễ đoán, vui lòng chọn mật khẩu khác"
    );
    assert_eq!(change(&generated, "mat-khau-moi-cua-toi").await.unwrap().status(), 204);
    assert_eq!(app.get_as(&token, "/api/v1/waves").await.status(), 200, "the caller stays signed in");
    assert_eq!(app.get_as(&other_token, "/api/v1/waves").await.status(), 401, "other tokens end");
    app.token_for(&email, "mat-khau-moi-cua-toi").await;
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&"user.password_reset".into()) && actions.contains(&"user.password_change".into()));
}

async fn password_page_changes_the_password_and_ends_other_sessions(app: TestApp) {
    let (_, email) = account(&app, "analyst").await;
    let (client, csrf) = page_session(&app, &email, OFFICER_PASSWORD).await;
    let (other_client, _) = page_session(&app, &email, OFFICER_PASSWORD).await;
    let token = app.token_for(&email, OFFICER_PASSWORD).await;
    let dashboard = client.get(app.url("/quan-ly")).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("href=\"/quan-ly/mat-khau\""), "reachable from the official pages");
    let page = client.get(app.url("/quan-ly/mat-khau")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Mật khẩu hiện tại"));
    let submit = |fields: Vec<(&'static str, String)>| client.post(app.url("/quan-ly/mat-khau")).form(&fields).send();

    let forged = submit(vec![("current", OFFICER_PASSWORD.into()), ("new", "mat-khau-gia-mao-1".into())]).await;
    assert_eq!(forged.unwrap().status(), 403, "no CSRF token, no change");
    let wrong = submit(vec![
        ("current", "sai-mat-khau-roi".into()),
        ("new", "mat-khau-moi-1234".into()),
        ("_csrf", csrf.clone()),
    ]);
    let wrong = wrong.await.unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(wrong.text().await.unwrap().contains("Mật khẩu hiện tại không đúng."));
    let weak = submit(vec![("current", OFFICER_PASSWORD.into()), ("new", "ngan".into()), ("_csrf", csrf.clone())]);
    let weak = weak.await.unwrap();
    assert_eq!(weak.status(), 422);
    assert!(weak.text().await.unwrap().contains("Mật khẩu phải có ít nhất 12 ký tự"));
    let done = submit(vec![("current", OFFICER_PASSWORD.into()), ("new", "mat-khau-moi-1234".into()), ("_csrf", csrf)]);
    let done = done.await.unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/quan-ly/mat-khau?ok=1");
    let notice = client.get(app.url("/quan-ly/mat-khau?ok=1")).send().await.unwrap().text().await.unwrap();
    assert!(notice.contains("Đã đổi mật khẩu."));
    assert_eq!(client.get(app.url("/quan-ly")).send().await.unwrap().status(), 200, "this session stays");
    let other = other_client.get(app.url("/quan-ly")).send().await.unwrap();
    assert_eq!(other.headers()["location"], "/dang-nhap", "the other session ends");
    assert_eq!(app.get_as(&token, "/api/v1/waves").await.status(), 401, "and so do the API tokens");
    app.token_for(&email, "mat-khau-moi-1234").await;
}

async fn weak_passwords_are_refused_with_vietnamese_reasons(app: TestApp) {
    let create = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password, "role": "analyst"});
        let app = &app;
        async move { app.post("/api/v1/users", &body).await }
    };
    let cases = [
        ("ngan-qua", "Mật khẩu phải có ít nhất 12 ký tự"),
        ("nguyenthibinh-2026", "Mật khẩu không được chứa phần tên trong địa chỉ email"),
        ("Password1234", "Mật khẩu quá dễ đoán, vui lòng chọn mật khẩu khác"),
    ];
    for (password, message) in cases {
        let r = create("NguyenThiBinh@test.phieu", password).await;
        assert_eq!(r.status(), 422, "{password}");
        assert_eq!(r.json::<Value>().await.unwrap()["errors"]["password"], message, "{password}");
    }
    assert_eq!(create("nguyenthibinh@test.phieu", "mot-mat-khau-tot").await.status(), 201);
}

async fn cli_resets_a_lost_administrator_password(app: TestApp) {
    let phieu = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_phieu"));
        command
            .env("DATABASE_URL", &app.database_url)
            .env("PHIEU_FORMS_DIR", format!("{}/survey_forms", env!("CARGO_MANIFEST_DIR")))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    };
    let output = phieu().args(["admin", "reset-password", ADMIN_EMAIL]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let password = printed.rsplit(": ").next().unwrap().trim().to_string();
    assert_eq!(password.len(), 24, "{printed}");
    assert_eq!(app.get_as(&app.admin_token, "/api/v1/waves").await.status(), 401, "old sessions end");
    assert_eq!(sign_in_from(&app, "127.0.0.1", ADMIN_EMAIL, ADMIN_PASSWORD).await.0, 401);
    app.token_for(ADMIN_EMAIL, &password).await;

    // Or read from standard input, checked like any password.
    let run_with_stdin = |input: &'static str| {
        let mut child = phieu().args(["admin", "reset-password", ADMIN_EMAIL, "--stdin"]).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(!run_with_stdin("ngan\n").status.success(), "a weak password is refused");
    assert!(run_with_stdin("mat-khau-quan-tri-moi\n").status.success());
    app.token_for(ADMIN_EMAIL, "mat-khau-quan-tri-moi").await;
    let unknown = phieu().args(["admin", "reset-password", "ai-do@test.phieu"]).output().unwrap();
    assert!(!unknown.status.success());
}
