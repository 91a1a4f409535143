//! The citizen's pages over plain HTTP, as a browser without JavaScript sends them.

use crate::helpers::{Backend, TestApp, browser, complete_answers, csrf_of, spawn_app_with};
use crate::on_both_backends;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

on_both_backends!(
    questionnaire_page_is_vietnamese_accessible_and_works_without_javascript,
    half_filled_form_comes_back_with_every_answer_kept_and_errors_beside_questions,
    double_submission_stores_one_answer_and_shows_already_answered,
    form_without_csrf_token_is_refused_and_nothing_is_lost,
    code_entry_page_accepts_sloppy_typing_and_names_typos,
    closed_wave_and_unknown_code_pages_are_plain_vietnamese,
);

/// Form fields for `answers` (JSON API shape), as url-encoded pairs.
fn form_pairs(answers: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (item, value) in answers.as_object().unwrap() {
        match value {
            Value::Array(codes) => pairs.extend(codes.iter().map(|c| (item.clone(), c.as_str().unwrap().to_string()))),
            Value::String(s) => pairs.push((item.clone(), s.clone())),
            other => panic!("unexpected {other}"),
        }
    }
    pairs
}

async fn open_form(app: &TestApp, client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let _ = app;
    response.text().await.unwrap()
}

async fn questionnaire_page_is_vietnamese_accessible_and_works_without_javascript(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let client = browser();
    let html = open_form(&app, &client, &invitation.url).await;
    assert!(html.contains("<html lang=\"vi\">"));
    assert!(html.contains("name=\"viewport\""), "mobile viewport");
    assert!(html.contains("Rất hài lòng") && html.contains("Gửi phiếu"));
    assert!(html.contains("<fieldset") && html.contains("<legend"), "grouped choices");
    assert_eq!(
        html.matches("<label class=\"option\" for=\"f-").count(),
        html.matches("<input id=\"f-").count(),
        "every choice labelled"
    );
    assert!(
        html.contains("Chỉ trả lời câu này nếu ở câu"),
        "conditional questions explained for readers without JavaScript"
    );
    assert!(html.contains("method=\"post\" action=\"/s/"), "a plain HTML form");

    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    let mut pairs = form_pairs(&answers);
    pairs.push(("_csrf".into(), csrf_of(&html)));
    let response = client.post(&invitation.url).form(&pairs).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/cam-on");
    let thanks = client.get(app.url("/cam-on")).send().await.unwrap().text().await.unwrap();
    assert!(thanks.contains("Cảm ơn Ông"), "{thanks}");
    assert_eq!(app.results(&format!("/api/v1/waves/{wave}/results")).await["overall"]["responses"], 1);
}

async fn half_filled_form_comes_back_with_every_answer_kept_and_errors_beside_questions(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let client = browser();
    let html = open_form(&app, &client, &invitation.url).await;
    let pairs = vec![
        ("_csrf".to_string(), csrf_of(&html)),
        ("respondent_type".to_string(), "2".to_string()),
        ("sat_access".to_string(), "4".to_string()),
        ("expectations".to_string(), "1".to_string()),
        ("expectations".to_string(), "other".to_string()),
        ("expectations_other".to_string(), "Có chỗ gửi xe <miễn phí>".to_string()),
        ("comment".to_string(), "Cán bộ nhiệt tình".to_string()),
    ];
    let response = client.post(&invitation.url).form(&pairs).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"error-summary\""));
    assert!(html.contains("href=\"#f-sat_procedures-1\""), "summary links to the question");
    assert!(html.contains("<p class=\"error\" id=\"e-sat_procedures\">Vui lòng trả lời câu hỏi này.</p>"));
    assert!(html.contains("name=\"respondent_type\" value=\"2\" checked"));
    assert!(html.contains("name=\"sat_access\" value=\"4\" checked"));
    assert!(
        html.contains("name=\"expectations\" value=\"1\" checked")
            && html.contains("name=\"expectations\" value=\"other\" checked")
    );
    assert!(html.contains("Có chỗ gửi xe &lt;miễn phí&gt;"), "text kept and escaped");
    assert!(html.contains(">Cán bộ nhiệt tình</textarea>"));
    assert!(!html.contains("id=\"e-sat_access\""), "answered questions carry no error");
}

async fn double_submission_stores_one_answer_and_shows_already_answered(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let client = browser();
    let html = open_form(&app, &client, &invitation.url).await;
    let mut pairs = form_pairs(&complete_answers(&app.form("sipas-2017").await, |_| None));
    pairs.push(("_csrf".into(), csrf_of(&html)));
    let (first, second) = tokio::join!(
        client.post(&invitation.url).form(&pairs).send(),
        client.post(&invitation.url).form(&pairs).send()
    );
    let mut statuses = [first.unwrap().status().as_u16(), second.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 409]);
    let again = client.post(&invitation.url).form(&pairs).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("Phiếu này đã được trả lời"));
    let revisit = client.get(&invitation.url).send().await.unwrap().text().await.unwrap();
    assert!(revisit.contains("đã được ghi nhận"));
    assert_eq!(app.results(&format!("/api/v1/waves/{wave}/results")).await["overall"]["responses"], 1);
}

async fn form_without_csrf_token_is_refused_and_nothing_is_lost(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let pairs = form_pairs(&complete_answers(&app.form("sipas-2017").await, |_| None));
    // A cross-site form post carries neither the cookie nor the field.
    let response = browser().post(&invitation.url).form(&pairs).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(html.contains("Phiên làm việc đã hết hạn"));
    assert!(html.contains("name=\"respondent_type\" value=\"1\" checked"), "answers kept for resubmission");
    assert_eq!(app.results(&format!("/api/v1/waves/{wave}/results")).await["overall"]["responses"], 0);
}

async fn code_entry_page_accepts_sloppy_typing_and_names_typos(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let client = browser();
    let page = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Nhập mã khảo sát"));
    let csrf = csrf_of(&page);
    let sloppy =
        format!("  {} ", invitation.code.to_lowercase().replace('-', " - ").replace('1', "l").replace('0', "o"));
    let response = client.post(app.url("/")).form(&[("code", sloppy.as_str()), ("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"].to_str().unwrap(), format!("/s/{}", invitation.code.replace('-', "")));

    let mut symbols: Vec<char> = invitation.code.replace('-', "").chars().collect();
    symbols.swap(4, 5);
    if symbols[4] == symbols[5] {
        symbols[4] = if symbols[4] == 'A' { 'B' } else { 'A' };
    }
    let typo: String = symbols.into_iter().collect();
    let response = client.post(app.url("/")).form(&[("code", typo.as_str()), ("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("có thể bạn đã gõ nhầm một ký tự"), "check symbol message");
    assert!(html.contains(&format!("value=\"{typo}\"")), "what was typed is kept");
    let short = client.post(app.url("/")).form(&[("code", "ABC"), ("_csrf", &csrf)]).send().await.unwrap();
    assert!(short.text().await.unwrap().contains("Mã phải có 13 ký tự"));
}

async fn closed_wave_and_unknown_code_pages_are_plain_vietnamese(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let unknown = phieu::domain::code::InvitationCode::generate();
    let response = browser().get(app.url(&format!("/s/{}", unknown.as_str()))).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Không tìm thấy phiếu khảo sát"));
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &serde_json::json!({})).await.status(), 200);
    let response = browser().get(&invitation.url).send().await.unwrap();
    assert_eq!(response.status(), 410);
    assert!(response.text().await.unwrap().contains("Đợt khảo sát đã kết thúc"));
}

fn client_from(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_codes_pauses_only_the_guessing_network() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.rate_failed_codes_per_prefix = 5).await.unwrap();
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let guesser = client_from(2);
    for _ in 0..5 {
        let guess = phieu::domain::code::InvitationCode::generate();
        assert_eq!(guesser.get(app.url(&format!("/s/{}", guess.as_str()))).send().await.unwrap().status(), 404);
    }
    let guess = phieu::domain::code::InvitationCode::generate();
    assert_eq!(guesser.get(app.url(&format!("/s/{}", guess.as_str()))).send().await.unwrap().status(), 429);
    assert_eq!(guesser.get(&invitation.url).send().await.unwrap().status(), 429, "the guessing network is paused");
    let neighbour = client_from(3);
    assert_eq!(neighbour.get(&invitation.url).send().await.unwrap().status(), 200, "another address is not locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_cannot_be_hammered() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.rate_requests_per_code = 3).await.unwrap();
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitations = app.invite(&wave, "00001", None, 2).await;
    for _ in 0..3 {
        assert_eq!(app.status_of(&invitations[0].url).await, 200);
    }
    assert_eq!(app.status_of(&invitations[0].url).await, 429);
    assert_eq!(app.status_of(&invitations[1].url).await, 200, "other codes unaffected");
}
