//! Answering through the JSON API: validation, exactly-once storage, closed waves.

use crate::helpers::{TestApp, complete_answers, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    valid_answer_is_stored_and_the_same_code_again_conflicts,
    simultaneous_submissions_of_one_code_store_exactly_one_answer,
    invalid_answer_gets_an_error_for_each_item,
    unknown_code_is_404_and_closed_wave_is_410,
    mistyped_code_is_caught_by_its_check_symbol,
);

async fn valid_answer_is_stored_and_the_same_code_again_conflicts(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", Some("AG1"), 1).await.remove(0);
    let form = app.form("sipas-2017").await;
    let answers = satisfied_at(&form, "5");
    assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
    // Typed differently (lower case, no dashes): still the same invitation.
    let retyped = invitation.code.to_lowercase().replace('-', " ");
    assert_eq!(app.answer(&retyped, &answers).await.status(), 409);
    let results = app.results(&format!("/api/v1/waves/{wave}/results")).await;
    assert_eq!(results["overall"]["responses"], 1);
}

async fn simultaneous_submissions_of_one_code_store_exactly_one_answer(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let answers = satisfied_at(&app.form("sipas-2017").await, "4");
    let body = json!({"code": invitation.code, "answers": answers});
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let request = app.api.post(app.url("/api/v1/responses")).json(&body);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["responses_stored"], 1);
    assert_eq!(verify["consistent"], true);
}

async fn invalid_answer_gets_an_error_for_each_item(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let form = app.form("sipas-2017").await;
    let mut answers = satisfied_at(&form, "4");
    let object = answers.as_object_mut().unwrap();
    object.remove("sat_access");
    object.insert("sat_results".into(), json!("9"));
    object.insert("expectations".into(), json!(["1", "2", "3", "4"]));
    object.insert("no_such_item".into(), json!("1"));
    let response = app.answer(&invitation.code, &answers).await;
    assert_eq!(response.status(), 422);
    let errors = response.json::<Value>().await.unwrap()["errors"].clone();
    assert_eq!(errors["sat_access"], "Vui lòng trả lời câu hỏi này.");
    assert_eq!(errors["sat_results"], "Lựa chọn “9” không có trong câu hỏi này.");
    assert!(errors["expectations"].as_str().unwrap().contains("tối đa 3"), "{errors}");
    assert!(errors["no_such_item"].is_string());
    // Nothing was used up: the corrected answer goes through.
    assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "4")).await.status(), 201);
}

async fn unknown_code_is_404_and_closed_wave_is_410(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let answers = complete_answers(&app.form("sipas-2017").await, |_| None);
    let draft = app.post("/api/v1/waves", &json!({"name": "Nháp", "form_id": "sipas-2017"})).await;
    let draft = draft.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let early = app.invite(&draft, "00001", None, 1).await.remove(0);
    let response = app.answer(&early.code, &answers).await;
    assert_eq!(response.status(), 403, "a draft wave takes no answers yet");
    assert_eq!(response.json::<Value>().await.unwrap()["message"], "Đợt khảo sát chưa bắt đầu.");
    let unknown = phieu::domain::code::InvitationCode::generate().grouped();
    assert_eq!(app.answer(&unknown, &answers).await.status(), 404);
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);
    assert_eq!(app.answer(&invitation.code, &answers).await.status(), 410);
}

async fn mistyped_code_is_caught_by_its_check_symbol(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let code = app.invite(&wave, "00001", None, 1).await.remove(0).code;
    let mut symbols: Vec<char> = code.replace('-', "").chars().collect();
    symbols[3] = if symbols[3] == 'A' { 'B' } else { 'A' };
    let typo: String = symbols.into_iter().collect();
    let response = app.answer(&typo, &json!({})).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["code"].as_str().unwrap().contains("gõ nhầm"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_postgres_store_each_answer_once() {
    let Some(first) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let mut settings = crate::helpers::test_settings(first.database_url.clone());
    // The second instance must hash codes with the same key: it reads it from the database.
    settings.admin_password = None;
    let second = phieu::startup::Application::build(settings).await.unwrap();
    let second_url = format!("http://127.0.0.1:{}/api/v1/responses", second.port());
    tokio::spawn(second.run_until_stopped());

    first.seed_places().await;
    let wave = first.open_wave("sipas-2017").await;
    let invitations = first.invite(&wave, "00001", None, 20).await;
    let answers = satisfied_at(&first.form("sipas-2017").await, "4");
    let mut handles = Vec::new();
    for invitation in &invitations {
        for url in [first.url("/api/v1/responses"), second_url.clone()] {
            let request = first.api.post(url).json(&json!({"code": invitation.code, "answers": answers}));
            handles.push(tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }));
        }
    }
    let mut stored = 0;
    for handle in handles {
        let status = handle.await.unwrap();
        assert!(status == 201 || status == 409, "{status}");
        stored += usize::from(status == 201);
    }
    assert_eq!(stored, 20, "each invitation answered exactly once across instances");
    let verify = first.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["responses_stored"], 20);
    assert_eq!(verify["consistent"], true);
}
