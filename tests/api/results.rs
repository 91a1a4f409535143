//! Results: hand-computed indices, rolled up the locality tree, per agency.

use crate::helpers::{TestApp, complete_answers, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    results_roll_up_the_locality_tree_with_hand_computed_indices,
    results_by_agency_and_for_sipas_2023,
    missing_answers_are_stored_and_counted_but_outside_every_denominator,
    comparison_with_an_earlier_wave_gives_the_change_in_points_and_in_rank,
    units_merged_since_the_earlier_wave_are_compared_through_the_crosswalk
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

    let by_district = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
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

    // As sent: each group's figures are arrays of the named fields, in the order of the
    // overall's indices.
    let compact = app.get_json(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    assert_eq!(compact["figure_fields"], json!(["value", "n", "ci_low", "ci_high", "suppressed", "rank"]));
    let position = compact["overall"]["indices"].as_array().unwrap().iter().position(|i| i["id"] == "access").unwrap();
    let district_two_access = compact["groups"][1]["figures"][position].as_array().unwrap();
    assert_eq!(compact["groups"][1]["locality"]["code"], "002");
    assert_eq!(district_two_access[0..2], [json!(40.0), json!(5)], "{district_two_access:?}");
    assert_eq!(
        district_two_access[4..6],
        [json!(false), json!(2)],
        "behind district 001's 75%: {district_two_access:?}"
    );
    assert!(compact["groups"][1].get("indices").is_none(), "no index named in a group");

    let by_commune = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    assert_eq!(index(group(&by_commune, "00002"), "sipas")["value"], 0.0);
    assert_eq!(index(group(&by_commune, "00001"), "sipas")["value"], 100.0);
    let province = app.results(&format!("/api/v1/waves/{wave}/results?level=province")).await;
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
    let results = app.results(&format!("/api/v1/waves/{wave}/results?level=district&by=agency")).await;
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

    let results = app.results(&format!("/api/v1/waves/{wave}/results")).await;
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

async fn comparison_with_an_earlier_wave_gives_the_change_in_points_and_in_rank(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = |name: &str| json!({"name": name, "form_id": "sipas-2017", "min_cell": 1});
    let answer = |wave: String, commune: &'static str, levels: &'static [&'static str]| {
        let (app, form) = (&app, &form);
        async move {
            for level in levels {
                let invitation = app.invite(&wave, commune, None, 1).await.remove(0);
                assert_eq!(app.answer(&invitation.code, &satisfied_at(form, level)).await.status(), 201);
            }
        }
    };
    // Last year: Xã Một Một 100%, Xã Hai Một 0%. This year: 50% and 100%.
    let last_year = app.open_wave_with(&wave("Năm trước")).await;
    answer(last_year.clone(), "00001", &["5", "5"]).await;
    answer(last_year.clone(), "00003", &["2", "2"]).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{last_year}/close"), &json!({})).await.status(), 200);
    let this_year = app.open_wave_with(&wave("Năm nay")).await;
    answer(this_year.clone(), "00001", &["5", "2"]).await;
    answer(this_year.clone(), "00003", &["5", "5"]).await;

    let results = app.results(&format!("/api/v1/waves/{this_year}/results?level=commune&compare={last_year}")).await;
    assert_eq!(index(&results["overall"], "access")["change"], 25.0, "75% after 50%");
    let fell = index(group(&results, "00001"), "access");
    assert_eq!(
        (&fell["value"], &fell["change"], &fell["rank"], &fell["rank_change"]),
        (&json!(50.0), &json!(-50.0), &json!(2), &json!(-1))
    );
    let rose = index(group(&results, "00003"), "access");
    assert_eq!((&rose["change"], &rose["rank"], &rose["rank_change"]), (&json!(100.0), &json!(1), &json!(1)));
    let plain = app.results(&format!("/api/v1/waves/{this_year}/results?level=commune")).await;
    assert!(index(group(&plain, "00001"), "access").get("change").is_none(), "no comparison asked");
}

async fn units_merged_since_the_earlier_wave_are_compared_through_the_crosswalk(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let answer = |wave: String, commune: &'static str, levels: &'static [&'static str]| {
        let (app, form) = (&app, &form);
        async move {
            for level in levels {
                let invitation = app.invite(&wave, commune, None, 1).await.remove(0);
                assert_eq!(app.answer(&invitation.code, &satisfied_at(form, level)).await.status(), 201);
            }
        }
    };
    // Last year Xã Một Một 2 of 2 satisfied, Xã Một Hai 1 of 3; since then Xã Một Hai
    // is part of Xã Một Một: together 3 of 5 (60%).
    let last_year = app.open_wave_with(&json!({"name": "Năm trước", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(last_year.clone(), "00001", &["5", "5"]).await;
    answer(last_year.clone(), "00002", &["5", "1", "1"]).await;
    let this_year = app.open_wave_with(&json!({"name": "Năm nay", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(this_year.clone(), "00001", &["5", "5", "5", "1"]).await;
    let path = format!("/api/v1/waves/{this_year}/results?level=commune&compare={last_year}");
    let before = app.results(&path).await;
    assert_eq!(index(group(&before, "00001"), "access")["change"], -25.0, "75% after 100% before the crosswalk");

    let upload = |csv: &'static str| {
        app.api.post(app.url("/api/v1/localities/crosswalk")).bearer_auth(&app.admin_token).body(csv).send()
    };
    let refused = upload("old_code,new_code\n00002,00001\nxã hai,00001\n").await.unwrap();
    assert_eq!(refused.status(), 422);
    let lines = refused.json::<Value>().await.unwrap()["lines"].clone();
    assert_eq!(lines[0]["line"], 3, "{lines}");
    assert_eq!(app.results(&path).await, before, "nothing recorded from a refused file");
    let accepted = upload("\u{feff}old_code,new_code\n00002,00001\n").await.unwrap();
    assert_eq!(accepted.json::<Value>().await.unwrap()["rows"], 1);

    let after = app.results(&path).await;
    let merged = index(group(&after, "00001"), "access");
    let change = merged["change"].as_f64().unwrap();
    assert!((change - 15.0).abs() < 1e-9, "75% after 60%: {merged}");
    assert_eq!(merged["rank_change"], 0, "ranked first among last year's units as merged");
}
