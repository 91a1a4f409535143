//! Accounts, roles and the audit log.

use crate::helpers::{ADMIN_EMAIL, TestApp, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    wrong_password_gets_no_token,
    officials_endpoints_require_a_token,
    agency_officer_cannot_read_or_change_another_agencys_data,
    analyst_reads_results_but_changes_nothing,
    every_state_change_is_audited_without_personal_data,
);

async fn wrong_password_gets_no_token(app: TestApp) {
    let response = app
        .api
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": ADMIN_EMAIL, "password": "sai-mat-khau-roi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let unknown = app
        .api
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"email": "ai@do.vn", "password": "sai-mat-khau-roi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
}

async fn officials_endpoints_require_a_token(app: TestApp) {
    for path in ["/api/v1/waves", "/api/v1/localities", "/api/v1/audit"] {
        assert_eq!(app.api.get(app.url(path)).send().await.unwrap().status(), 401, "{path}");
        assert_eq!(app.get_as("not-a-token", path).await.status(), 401, "{path}");
    }
    let create = app
        .api
        .post(app.url("/api/v1/waves"))
        .json(&json!({"name": "x", "form_id": "sipas-2017"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 401);
}

async fn agency_officer_cannot_read_or_change_another_agencys_data(app: TestApp) {
    app.seed_places().await;
    // Agencies issue codes only where the wave lets them hand codes out at their desk.
    let wave = app.open_wave_with(&json!({"name": "Đợt thử", "form_id": "sipas-2017", "desk_codes": true})).await;
    let form = app.form("sipas-2017").await;
    for (commune, agency, level) in [("00001", "AG1", "5"), ("00003", "AG2", "1"), ("00003", "AG2", "1")] {
        let invitation = app.invite(&wave, commune, Some(agency), 1).await.remove(0);
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
    }
    let officer = app.official("agency_officer", Some("AG1")).await;
    let own = app
        .post_as(
            &officer,
            &format!("/api/v1/waves/{wave}/invitations"),
            &json!({"count": 2, "locality_code": "00001", "agency_code": "AG1"}),
        )
        .await;
    assert_eq!(own.status(), 201);
    let outside_its_area = app
        .post_as(
            &officer,
            &format!("/api/v1/waves/{wave}/invitations"),
            &json!({"count": 2, "locality_code": "00003", "agency_code": "AG1"}),
        )
        .await;
    assert_eq!(outside_its_area.status(), 403, "AG1 serves district 001, not commune 00003");
    let other = app
        .post_as(
            &officer,
            &format!("/api/v1/waves/{wave}/invitations"),
            &json!({"count": 2, "locality_code": "00003", "agency_code": "AG2"}),
        )
        .await;
    assert_eq!(other.status(), 403);
    let unscoped = app
        .post_as(&officer, &format!("/api/v1/waves/{wave}/invitations"), &json!({"count": 2, "locality_code": "00001"}))
        .await;
    assert_eq!(unscoped.status(), 403);
    let results: Value = app
        .get_as(&officer, &format!("/api/v1/waves/{wave}/results?level=district&by=agency"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results["overall"]["responses"], 1, "only AG1's answer: {results}");
    let agencies: Vec<&Value> = results["groups"].as_array().unwrap().iter().map(|g| &g["agency"]["code"]).collect();
    assert_eq!(agencies, [&json!("AG1")]);
    for (path, body) in [
        (format!("/api/v1/waves/{wave}/close"), json!({})),
        ("/api/v1/waves".to_string(), json!({"name": "x", "form_id": "sipas-2017"})),
        ("/api/v1/agencies".to_string(), json!({"code": "AG9", "name": "x", "locality_code": "001"})),
        (
            "/api/v1/users".to_string(),
            json!({"email": "x@y.vn", "password": "mat-khau-dai-du", "role": "administrator"}),
        ),
    ] {
        assert_eq!(app.post_as(&officer, &path, &body).await.status(), 403, "{path}");
    }
}

async fn analyst_reads_results_but_changes_nothing(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let analyst = app.official("analyst", None).await;
    assert_eq!(app.get_as(&analyst, &format!("/api/v1/waves/{wave}/results?level=province")).await.status(), 200);
    let invite = app
        .post_as(&analyst, &format!("/api/v1/waves/{wave}/invitations"), &json!({"count": 1, "locality_code": "00001"}))
        .await;
    assert_eq!(invite.status(), 403);
    let enumerator = app.official("enumerator", None).await;
    assert_eq!(app.get_as(&enumerator, &format!("/api/v1/waves/{wave}/results")).await.status(), 403);
}

async fn every_state_change_is_audited_without_personal_data(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", Some("AG1"), 3).await.remove(0);
    let officer_email = "can.bo.ag1@test.phieu";
    let r = app.post("/api/v1/users", &json!({"email": officer_email, "password": "mat-khau-can-bo-1", "role": "agency_officer", "agency_code": "AG1"})).await;
    assert_eq!(r.status(), 201);
    let mut answer = satisfied_at(&app.form("sipas-2017").await, "5");
    answer["comment"] = json!("Ý kiến riêng của người dân 5521");
    assert_eq!(app.answer(&invitation.code, &answer).await.status(), 201);
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);

    let log = app.get_json("/api/v1/audit?limit=1000").await;
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in
        ["locality.save", "agency.save", "wave.create", "wave.open", "invitations.issue", "user.create", "wave.closed"]
    {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    assert!(entries.iter().all(|e| e["at"].is_string() && e["actor_id"].is_string()));
    let text = log.to_string();
    assert!(!text.contains(officer_email), "no emails in the audit log");
    assert!(!text.contains(&invitation.code) && !text.contains(&invitation.code.replace('-', "")), "no codes");
    assert!(!text.contains("5521"), "no answers");
}
