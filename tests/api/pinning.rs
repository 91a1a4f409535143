//! A wave's figures never change after the fact: it pins its form when it is created, so
//! editing or replacing a file in survey_forms/ changes only waves created afterwards.

use crate::helpers::{TestApp, forms_dir_with, in_dir, satisfied_at, shipped_form};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    editing_a_form_file_never_changes_an_existing_wave,
    waves_from_before_pinning_get_the_version_they_were_answered_with
);

fn index_value(results: &Value, id: &str) -> Value {
    results["overall"]["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["value"].clone()
}

async fn answer_at(app: &TestApp, wave: &str, levels: &[&str]) {
    let form = app
        .get_json(&format!(
            "/api/v1/forms/sipas-2017?version={}",
            wave_of(app, wave).await["form_version"].as_str().unwrap()
        ))
        .await;
    for level in levels {
        let invitation = app.invite(wave, "00001", None, 1).await.remove(0);
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
    }
}

async fn wave_of(app: &TestApp, wave: &str) -> Value {
    app.get_json(&format!("/api/v1/waves/{wave}")).await
}

async fn editing_a_form_file_never_changes_an_existing_wave(app: TestApp) {
    app.seed_places().await;
    let closed = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer_at(&app, &closed, &["5", "3"]).await;
    assert_eq!(index_value(&app.results(&format!("/api/v1/waves/{closed}/results")).await, "access"), 50.0);
    assert_eq!(app.post(&format!("/api/v1/waves/{closed}/close"), &json!({})).await.status(), 200);
    let pinned = wave_of(&app, &closed).await;
    let shipped = shipped_form("sipas-2017");
    assert_eq!(pinned["form_id"], "sipas-2017");
    assert_eq!(pinned["form_version"], shipped["version"]);

    // The file is edited in place (same version): "Bình thường" now counts as satisfied,
    // and an earlier version is kept beside it.
    let mut edited = shipped.clone();
    let access = edited["indices"].as_array_mut().unwrap().iter_mut().find(|i| i["id"] == "access").unwrap();
    access["positive"] = json!(["3", "4", "5"]);
    let mut earlier = shipped.clone();
    earlier["version"] = json!("0.9");
    let dir = forms_dir_with(&[("sipas-2017.json", &edited), ("sipas-2017@0.9.json", &earlier)]);
    let restarted = app.another_instance(in_dir(dir.path())).await;

    let results = restarted.get_json(&format!("/api/v1/waves/{closed}/results")).await;
    assert_eq!(index_value(&results, "access"), 50.0, "the closed wave keeps its rule: {results}");
    assert_eq!(wave_of(&restarted, &closed).await["form_hash"], pinned["form_hash"]);

    // A wave created now pins the edited file.
    let fresh = restarted.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer_at(&restarted, &fresh, &["5", "3"]).await;
    let results = restarted.get_json(&format!("/api/v1/waves/{fresh}/results")).await;
    assert_eq!(index_value(&results, "access"), 100.0, "{results}");
    assert_ne!(wave_of(&restarted, &fresh).await["form_hash"], pinned["form_hash"]);

    // `form_id` alone is the newest version; an earlier one is asked for by name.
    let listed = restarted.get_json("/api/v1/forms").await;
    let entry = listed["forms"].as_array().unwrap().iter().find(|f| f["id"] == "sipas-2017").unwrap().clone();
    assert_eq!(entry["version"], shipped["version"]);
    let versions = entry["versions"].as_array().unwrap();
    assert_eq!((versions.first(), versions.last()), (Some(&json!("0.9")), Some(&shipped["version"])), "oldest first");
    let older = restarted.get_json("/api/v1/forms/sipas-2017?version=0.9").await;
    assert_eq!(older["version"], "0.9");
    let options = older["items"].as_array().unwrap().iter().flat_map(|i| i["options"].as_array().unwrap().iter());
    assert!(options.clone().all(|o| o["missing"].is_boolean()), "every option shows its missing flag");
    assert!(options.clone().any(|o| o["missing"] == true));
    let on_earlier = restarted
        .post("/api/v1/waves", &json!({"name": "Đợt cũ", "form_id": "sipas-2017", "form_version": "0.9"}))
        .await;
    assert_eq!(on_earlier.status(), 201);
    let on_earlier = on_earlier.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(wave_of(&restarted, &on_earlier).await["form_version"], "0.9");
    let unknown =
        restarted.post("/api/v1/waves", &json!({"name": "Đợt", "form_id": "sipas-2017", "form_version": "7"})).await;
    assert_eq!(unknown.status(), 422);
    let errors = unknown.json::<Value>().await.unwrap();
    assert_eq!(errors["errors"]["form_version"], "Bộ phiếu này không có phiên bản “7”.", "{errors}");
    assert_eq!(restarted.status_of(&restarted.url("/api/v1/forms/sipas-2017?version=7")).await, 404);
}

async fn waves_from_before_pinning_get_the_version_they_were_answered_with(app: TestApp) {
    app.seed_places().await;
    let answered = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer_at(&app, &answered, &["5"]).await;
    let draft = app.post("/api/v1/waves", &json!({"name": "Nháp", "form_id": "sipas-2017"})).await;
    let draft = draft.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let shipped = shipped_form("sipas-2017");
    let version = shipped["version"].as_str().unwrap().to_string();

    // As a database from before pinning: no pinned forms. A newer version has been
    // installed since, with an option the answered wave's counters never had.
    app.execute("UPDATE waves SET form_version = NULL, form_hash = NULL");
    app.execute("DELETE FROM pinned_forms");
    let mut newer = shipped.clone();
    newer["version"] = json!("9999.1");
    let scale = newer["scales"]["satisfaction_5"].as_array_mut().unwrap();
    scale.push(json!({"code": "9", "label": "Không muốn trả lời", "missing": true}));
    let dir = forms_dir_with(&[("sipas-2017.json", &newer), (&format!("sipas-2017@{version}.json"), &shipped)]);
    let restarted = app.another_instance(in_dir(dir.path())).await;

    assert_eq!(wave_of(&restarted, &answered).await["form_version"], version.as_str());
    assert_eq!(wave_of(&restarted, &draft).await["form_version"], "9999.1");
    let results = restarted.get_json(&format!("/api/v1/waves/{answered}/results")).await;
    assert_eq!(results["overall"]["responses"], 1);
    assert_eq!(index_value(&results, "access"), 100.0);
}
