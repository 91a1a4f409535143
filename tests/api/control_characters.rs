//! Control characters (a NUL above all, which PostgreSQL cannot store): refused in names and
//! free text with 422 on both backends, removed from list cells so the list still imports.

use crate::helpers::{TestApp, complete_answers};
use crate::lists::{confirmed_list, stored, wave_with_period};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    names_and_texts_with_control_characters_are_refused,
    a_nul_in_a_list_cell_is_removed_on_import,
    a_nul_in_a_path_or_a_looked_up_code_is_refused_never_a_server_error
);

async fn refused_field(response: reqwest::Response, field: &str) -> String {
    assert_eq!(response.status(), 422, "{field}");
    let body: Value = response.json().await.unwrap();
    body["errors"][field].as_str().unwrap_or_else(|| panic!("no error for {field}: {body}")).to_string()
}

async fn names_and_texts_with_control_characters_are_refused(app: TestApp) {
    app.seed_places().await;
    let wave = app.post("/api/v1/waves", &json!({"name": "Đợt\u{0} thử", "form_id": "sipas-2017"})).await;
    assert!(refused_field(wave, "name").await.contains("ký tự điều khiển"));
    let agency = json!({"code": "AG9", "name": "Cơ quan\u{0}", "locality_code": "001"});
    assert!(refused_field(app.post("/api/v1/agencies", &agency).await, "name").await.contains("ký tự điều khiển"));
    let locality =
        app.post("/api/v1/localities", &json!({"code": "09", "name": "Tỉnh\u{1}", "level": "province"})).await;
    assert_eq!(locality.status(), 422);
    let user = json!({"email": "a\u{0}b@test.phieu", "password": "mot-mat-khau-tot", "role": "analyst"});
    refused_field(app.post("/api/v1/users", &user).await, "email").await;

    let wave = app.open_wave("sipas-2017").await;
    let template = app
        .api
        .put(app.url(&format!("/api/v1/waves/{wave}/mail-template")))
        .bearer_auth(&app.admin_token)
        .json(&json!({"subject": "Khảo sát\u{0}", "body": "{ma} {duong_dan} {tu_choi}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(template.status(), 422);

    let code = &app.invite(&wave, "00001", Some("AG1"), 1).await[0].code;
    let form = app.form("sipas-2017").await;
    let mut answers = complete_answers(&form, |_| None);
    answers["comment"] = json!("Ý kiến\u{0} của tôi");
    let refused = app.answer(code, &answers).await;
    assert!(refused_field(refused, "comment").await.contains("ký tự điều khiển"));
    answers["comment"] = json!("Ý kiến của tôi\nvà dòng thứ hai");
    assert_eq!(app.answer(code, &answers).await.status(), 201, "the code was not used up; line breaks are fine");
    assert_eq!(app.get_json("/api/v1/waves").await["waves"].as_array().unwrap().len(), 1, "nothing stored");
}

async fn a_nul_in_a_list_cell_is_removed_on_import(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let csv = "Họ và tên;Địa chỉ;Số điện thoại;Xã/Phường\n\
               Nguyễn\u{0} Văn An;Thôn\u{0}Đông;0912000111;00001\n\
               Trần Thị Bình;Thôn Tây;0912000222;00002\n";
    let body = confirmed_list(&app, &wave, csv).await;
    assert_eq!((body["accepted"].as_u64(), body["rejected"].as_u64()), (Some(2), Some(0)), "{body}");
    let names = stored(&app, "SELECT name || '|' || coalesce(address, '') AS value FROM contacts ORDER BY line");
    assert_eq!(names, ["Nguyễn Văn An|ThônĐông", "Trần Thị Bình|Thôn Tây"]);
}

async fn a_nul_in_a_path_or_a_looked_up_code_is_refused_never_a_server_error(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    for path in [
        format!("/api/v1/waves/{wave}%00"),
        "/api/v1/uploads/x%00y".into(),
        format!("/api/v1/waves/{wave}/results?level=%00"),
    ] {
        let response = app.api.get(app.url(&path)).bearer_auth(&app.admin_token).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("ký tự điều khiển"), "{body}");
    }
    // A code looked up from a body: a client error on either backend, never a 500.
    let invite = app
        .post(&format!("/api/v1/waves/{wave}/invitations"), &json!({"count": 1, "locality_code": "0000\u{0}1"}))
        .await;
    assert!(invite.status().is_client_error(), "{}", invite.status());
}
