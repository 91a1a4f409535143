//! Health, forms, localities, agencies, waves and invitations through the API.

use crate::helpers::TestApp;
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    health_reports_the_database,
    forms_are_served_as_loaded_with_codes_and_indices,
    localities_import_from_csv_all_or_nothing,
    wave_moves_draft_open_closed_and_never_back,
    invitations_have_typable_grouped_codes_and_links,
    invitations_outside_the_wave_are_refused,
);

async fn health_reports_the_database(app: TestApp) {
    let response = app.api.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"]["status"], "ok");
    let expected = if app.backend == crate::helpers::Backend::Sqlite { "sqlite" } else { "postgres" };
    assert_eq!(body["database"]["backend"], expected);
}

async fn forms_are_served_as_loaded_with_codes_and_indices(app: TestApp) {
    let list = app.api.get(app.url("/api/v1/forms")).send().await.unwrap().json::<Value>().await.unwrap();
    let ids: Vec<&str> = list["forms"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["sipas-2017", "sipas-2023"]);

    let form = app.form("sipas-2017").await;
    let items = form["items"].as_array().unwrap();
    let perception = items.iter().filter(|i| i["kind"] == "perception").count();
    assert_eq!(perception, 22, "22 perception criteria");
    let satisfaction: Vec<&Value> = items.iter().filter(|i| i["kind"] == "satisfaction").collect();
    assert_eq!(satisfaction.len(), 6, "five factors and overall");
    let codes: Vec<&str> =
        satisfaction[0]["options"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["1", "2", "3", "4", "5", "0"]);
    assert_eq!(satisfaction[0]["options"][5]["missing"], true, "“Không trả lời” is marked missing");
    assert_eq!(satisfaction[0]["options"][4]["missing"], false, "every option shows its flag");
    assert!(items.iter().all(|i| i["id"].is_string() && i["required"].is_boolean()));
    let sipas = form["indices"].as_array().unwrap().iter().find(|i| i["id"] == "sipas").unwrap();
    assert_eq!(sipas["rule"], "mean");
    assert_eq!(sipas["of"].as_array().unwrap().len(), 5);

    let form_2023 = app.form("sipas-2023").await;
    let satisfaction_2023: Vec<Value> = form_2023["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "satisfaction")
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(satisfaction_2023.len(), 39);
    let sipas = form_2023["indices"].as_array().unwrap().iter().find(|i| i["id"] == "sipas").unwrap();
    assert_eq!(sipas["of"], json!(satisfaction_2023), "SIPAS 2023 is the mean of the 39 item indices");

    assert_eq!(app.api.get(app.url("/api/v1/forms/nope")).send().await.unwrap().status(), 404);
}

async fn localities_import_from_csv_all_or_nothing(app: TestApp) {
    let import = |body: &'static str| {
        app.api
            .post(app.url("/api/v1/localities/import"))
            .bearer_auth(&app.admin_token)
            .header("Content-Type", "text/csv")
            .body(body)
            .send()
    };
    let bad = import("code,name,level,parent_code\n02,Tỉnh Hai,province,\n020,,district,02\n").await.unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["lines"][0]["line"], 3);
    let listed = app.get_json("/api/v1/localities").await;
    assert_eq!(listed["localities"].as_array().unwrap().len(), 0, "nothing half-imported");

    // Children listed before their parents are still accepted.
    let good = import("\u{feff}code,name,level,parent_code\n02001,Xã Hai,commune,020\n020,Huyện Hai,district,02\n02,Tỉnh Hai,province,\n").await.unwrap();
    assert_eq!(good.status(), 200);
    let body: Value = good.json().await.unwrap();
    assert_eq!(body["created"], 3);
    let cycle = app
        .post(
            "/api/v1/localities",
            &json!({"code": "02", "name": "Tỉnh Hai", "level": "province", "parent_code": "02001"}),
        )
        .await;
    assert_eq!(cycle.status(), 422, "a province cannot sit under its own commune");
    let orphan =
        import("code,name,level,parent_code\n03,Tỉnh Ba,province,\n03001,Xã Mồ Côi,commune,999\n").await.unwrap();
    assert_eq!(orphan.status(), 422);
    let body: Value = orphan.json().await.unwrap();
    assert_eq!(body["lines"][0]["line"], 3, "the orphan's line: {body}");
    let listed = app.get_json("/api/v1/localities").await;
    assert!(listed["localities"].as_array().unwrap().iter().all(|l| l["code"] != "03"), "nothing half-imported");
    let commune = listed["localities"].as_array().unwrap().iter().find(|l| l["code"] == "02001").unwrap().clone();
    assert_eq!(commune, json!({"code": "02001", "name": "Xã Hai", "level": "commune", "parent_code": "020"}));
}

async fn wave_moves_draft_open_closed_and_never_back(app: TestApp) {
    let created = app.post("/api/v1/waves", &json!({"name": "Khảo sát 2026", "form_id": "sipas-2017"})).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(app.get_json(&format!("/api/v1/waves/{id}")).await["status"], "draft");
    assert_eq!(app.post(&format!("/api/v1/waves/{id}/close"), &json!({})).await.status(), 409, "draft cannot close");
    assert_eq!(app.post(&format!("/api/v1/waves/{id}/open"), &json!({})).await.status(), 200);
    assert_eq!(app.post(&format!("/api/v1/waves/{id}/close"), &json!({})).await.status(), 200);
    assert_eq!(app.post(&format!("/api/v1/waves/{id}/open"), &json!({})).await.status(), 409, "closed stays closed");
    assert_eq!(app.get_json(&format!("/api/v1/waves/{id}")).await["status"], "closed");

    let unknown_form = app.post("/api/v1/waves", &json!({"name": "X", "form_id": "sipas-1999"})).await;
    assert_eq!(unknown_form.status(), 422);
    assert!(unknown_form.json::<Value>().await.unwrap()["errors"]["form_id"].is_string());
}

async fn invitations_have_typable_grouped_codes_and_links(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let invitations = app.invite(&wave, "00001", Some("AG1"), 50).await;
    assert_eq!(invitations.len(), 50);
    let mut seen = std::collections::HashSet::new();
    for invitation in &invitations {
        let groups: Vec<&str> = invitation.code.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [4, 4, 4, 1], "{}", invitation.code);
        assert_eq!(invitation.url, app.url(&format!("/s/{}", invitation.code.replace('-', ""))));
        assert!(seen.insert(invitation.code.clone()));
    }
}

async fn invitations_outside_the_wave_are_refused(app: TestApp) {
    app.seed_places().await;
    let created = app
        .post(
            "/api/v1/waves",
            &json!({"name": "Huyện Một", "form_id": "sipas-2017", "localities": ["001"], "agencies": ["AG1"]}),
        )
        .await;
    let wave = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/waves/{wave}/invitations");
    for (locality, agency, status, why) in [
        ("00002", "AG1", 201, "commune inside the covered district"),
        ("00003", "AG1", 422, "commune of another district"),
        ("00001", "AG2", 403, "agency not covered, as for uploads"),
        ("99999", "AG1", 422, "unknown locality"),
    ] {
        let response = app.post(&path, &json!({"count": 1, "locality_code": locality, "agency_code": agency})).await;
        assert_eq!(response.status(), status, "{why}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_2024_locality_list_imports_whole_and_rolls_up() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/localities-2024.csv");
    let Ok(csv) = std::fs::read_to_string(&path) else {
        crate::helpers::skip(
            "real locality list",
            "PHIEU_REQUIRE_SHARED_DATA",
            "../shared/data/localities-2024.csv is absent",
        );
        return;
    };
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await.unwrap();
    let response = app
        .api
        .post(app.url("/api/v1/localities/import"))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["created"], 63 + 696 + 10_051);
    // A commune of Hà Nội (00001 Phường Phúc Xá, district 001 Ba Đình) rolls up to its province.
    let wave = app.open_wave("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    let answers = crate::helpers::satisfied_at(&app.form("sipas-2017").await, "5");
    assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
    let results = app.results(&format!("/api/v1/waves/{wave}/results?level=province")).await;
    let groups = results["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["locality"]["name"], "Thành phố Hà Nội");
}
