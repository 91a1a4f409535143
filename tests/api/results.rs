//! Results: hand-computed indices, rolled up the locality tree, per agency.

use crate::helpers::{TestApp, complete_answers, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    results_roll_up_the_locality_tree_with_hand_computed_indices,
    results_by_agency_and_for_sipas_2023,
    missing_answers_are_stored_and_counted_but_outside_every_denominator
);

fn index<'a>(group: &'a Value, id: &str) -> &'a Value {
    group["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no index {id}"))
}

fn group<'a>(results: &'a Value, locality: &str) -> &'a Value {
    results["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["locality"]["code"] == locality)
        .unwrap_or_else(|| panic!("no group {locality}"))
}

async fn results_roll_up_the_locality_tree_with_hand_computed_indices(app: TestApp) {
    app.seed_places().await;
    // Threshold 1: hand-computed figures of small groups, nothing hidden.
    let wave = app.open_wave_with(&json!({"name": "Đợt thử", "form_id": "sipas-2017", "min_cell": 1})).await;
    let form = app.form("sipas-2017").await;
    // Commune 00001: 3 answers all at level 5. Commune 00002: 1 at level 2.
    // Commune 00003 (other district): 2 at level 4, 2 at level 3, and in one of them the
    // access factor is answered 1.
    let plan: [(&str, &str, usize); 4] = [("00001", "5", 3), ("00002", "2", 1), ("00003", "4", 2), ("00003", "3", 2)];
    for (commune, level, count) in plan {
        for invitation in app.invite(&wave, commune, None, count).await {
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }
    let extra = app.invite(&wave, "00003", None, 1).await.remove(0);
    let mut answers = satisfied_at(&form, "4");
    answers["sat_access"] = json!("1");
    assert_eq!(app.answer(&extra.code, &answers).await.status(), 201);

    let by_district = app.get_json(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    assert_eq!(by_district["overall"]["responses"], 9);
    // Overall access: levels 4–5 in 3 + 2 = 5 of 9 answers.
    let access = index(&by_district["overall"], "access");
    assert_eq!(access["n"], 9);
    assert!((access["value"].as_f64().unwrap() - 500.0 / 9.0).abs() < 1e-9, "{access}");
    // SIPAS = mean of five factors: four at 6/9 and access at 5/9.
    let sipas = index(&by_district["overall"], "sipas").clone();
    let expected = (4.0 * 600.0 / 9.0 + 500.0 / 9.0) / 5.0;
    assert!((sipas["value"].as_f64().unwrap() - expected).abs() < 1e-9, "{sipas}");

    let district_one = group(&by_district, "001");
    assert_eq!(district_one["responses"], 4);
    assert_eq!(district_one["locality"], json!({"code": "001", "name": "Huyện Một", "level": "district"}));
    assert_eq!(index(district_one, "results")["value"], 75.0);
    let district_two = group(&by_district, "002");
    assert_eq!(district_two["responses"], 5);
    assert_eq!(index(district_two, "access")["value"], 40.0);
    assert_eq!(index(district_two, "procedures")["value"], 60.0);

    let by_commune = app.get_json(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    assert_eq!(index(group(&by_commune, "00002"), "sipas")["value"], 0.0);
    assert_eq!(index(group(&by_commune, "00001"), "sipas")["value"], 100.0);
    let province = app.get_json(&format!("/api/v1/waves/{wave}/results?level=province")).await;
    assert_eq!(group(&province, "01")["responses"], 9);
    assert_eq!(index(group(&province, "01"), "sipas")["value"], sipas["value"]);
}

async fn results_by_agency_and_for_sipas_2023(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave_with(&json!({"name": "Đợt thử", "form_id": "sipas-2023", "min_cell": 1})).await;
    let form = app.form("sipas-2023").await;
    // The third person is satisfied with policies (4) but not with services (2).
    let levels = [("00001", "AG1", "5", "5"), ("00001", "AG1", "1", "1"), ("00003", "AG2", "4", "2")];
    for (commune, agency, policy, services) in levels {
        let invitation = app.invite(&wave, commune, Some(agency), 1).await.remove(0);
        let answers = complete_answers(&form, |item| {
            let policy_item = item["dimension"].as_str().is_some_and(|d| d.starts_with("policy."));
            (item["kind"] == "satisfaction").then(|| json!(if policy_item { policy } else { services }))
        });
        let response = app.answer(&invitation.code, &answers).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
    let results = app.get_json(&format!("/api/v1/waves/{wave}/results?level=district&by=agency")).await;
    let groups = results["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let first = groups.iter().find(|g| g["agency"]["code"] == "AG1").unwrap();
    assert_eq!(first["locality"]["code"], "001");
    assert_eq!(first["agency"]["name"], "Bộ phận Một cửa huyện Một");
    assert_eq!(index(first, "sipas")["value"], 50.0);
    assert_eq!(index(first, "area_policy")["n"], 2);
    // Overall, each of the 23 policy items is at 2/3 and each of the 16 service items at 1/3.
    let overall = &results["overall"];
    assert!((index(overall, "area_policy")["value"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);
    assert!((index(overall, "area_services")["value"].as_f64().unwrap() - 100.0 / 3.0).abs() < 1e-9);
    // SIPAS is the mean of the 39 items, (23 × 2/3 + 16 × 1/3) / 39, not the areas' mean (50).
    let sipas = index(overall, "sipas")["value"].as_f64().unwrap();
    assert!((sipas - 6200.0 / 117.0).abs() < 1e-9, "{sipas}");
    assert!(index(overall, "sipas")["label"].as_str().unwrap().contains("SIPAS"));
}

async fn missing_answers_are_stored_and_counted_but_outside_every_denominator(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave_with(&json!({"name": "Đợt thử", "form_id": "sipas-2017", "min_cell": 1})).await;
    let form = app.form("sipas-2017").await;
    // Three people: all at 5, all at 2, and all at 4 except "Không trả lời" on access.
    let mut skipped_access = satisfied_at(&form, "4");
    skipped_access["sat_access"] = json!("0");
    for answers in [satisfied_at(&form, "5"), satisfied_at(&form, "2"), skipped_access] {
        let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
        let response = app.answer(&invitation.code, &answers).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    let db = phieu::storage::Database::connect(&app.database_url, 1).unwrap();
    let stored = db.raw_answers_after(&wave, "", 10).unwrap();
    assert_eq!(stored.len(), 3);
    let access_answers: Vec<Value> = stored
        .iter()
        .map(|(.., answers)| serde_json::from_str::<Value>(answers).unwrap()["sat_access"].clone())
        .collect();
    assert_eq!(access_answers.iter().filter(|a| **a == "0").count(), 1, "{access_answers:?}");
    // The access item's distribution holds the missing answer, in the leaf cells the tallies keep.
    let layout = db.tally_layout(&wave).unwrap();
    let count_of = |code: &str| {
        let slot = layout.option("sat_access", code).unwrap();
        let mut total = 0;
        db.each_cell(&wave, true, None, |_, counts| total += counts.tally.get(slot)).unwrap();
        total
    };
    assert_eq!((count_of("0"), count_of("5"), count_of("2"), count_of("4")), (1, 1, 1, 0));

    let results = app.get_json(&format!("/api/v1/waves/{wave}/results")).await;
    let overall = &results["overall"];
    assert_eq!(overall["responses"], 3, "the form with a missing answer still counts as a response");
    // Access: 1 satisfied of the 2 who answered it (not of 3).
    assert_eq!(index(overall, "access")["n"], 2);
    assert_eq!(index(overall, "access")["value"], 50.0);
    // Procedures: 2 of 3.
    assert_eq!(index(overall, "procedures")["n"], 3);
    assert!((index(overall, "procedures")["value"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);
    let sipas = index(overall, "sipas")["value"].as_f64().unwrap();
    assert!((sipas - (50.0 + 4.0 * 200.0 / 3.0) / 5.0).abs() < 1e-9, "{sipas}");
}
