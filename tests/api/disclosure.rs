//! Disclosure control: a figure on fewer than k valid answers is hidden in every output, and
//! so are enough others that subtraction across levels and agencies cannot recover it.

use crate::helpers::{TestApp, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    a_small_commune_and_its_complement_are_hidden_and_no_subtraction_recovers_them,
    a_closed_wave_keeps_the_names_and_tree_it_closed_with,
    hidden_figures_that_are_all_satisfied_are_not_given_away_by_their_total,
    answers_without_an_agency_are_hidden_as_their_own_cell_when_split_by_agency
);

fn group<'a>(results: &'a Value, locality: &str, agency: Option<&str>) -> &'a Value {
    results["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["locality"]["code"] == locality && g["agency"]["code"].as_str() == agency)
        .unwrap_or_else(|| panic!("no group {locality} {agency:?} in {results}"))
}

fn index<'a>(group: &'a Value, id: &str) -> &'a Value {
    group["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()
}

async fn answer(app: &TestApp, wave: &str, form: &Value, commune: &str, agency: &str, level: &str, count: usize) {
    for invitation in app.invite(wave, commune, Some(agency), count).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(form, level)).await.status(), 201);
    }
}

async fn a_small_commune_and_its_complement_are_hidden_and_no_subtraction_recovers_them(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    // District 001: commune 00001 has 6 answers, 00002 only 3. District 002: 7 in 00003.
    answer(&app, &wave, &form, "00001", "AG1", "5", 6).await;
    answer(&app, &wave, &form, "00002", "AG1", "2", 3).await;
    answer(&app, &wave, &form, "00003", "AG2", "4", 7).await;

    let communes = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    let small = index(group(&communes, "00002", None), "access");
    assert_eq!((&small["value"], &small["suppressed"], &small["n"]), (&Value::Null, &json!(true), &json!(3)));
    assert!(small.get("ci_low").is_none(), "no interval either: {small}");
    assert_eq!(group(&communes, "00002", None)["responses"], 3, "counts of forms stay published");
    // Its district (9) is published, so its sibling must be hidden too.
    let sibling = index(group(&communes, "00001", None), "access");
    assert_eq!((&sibling["value"], &sibling["suppressed"]), (&Value::Null, &json!(true)), "{sibling}");
    let other = index(group(&communes, "00003", None), "access");
    assert_eq!((&other["value"], &other["suppressed"]), (&json!(100.0), &json!(false)));

    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    let district = index(group(&districts, "001", None), "access");
    assert_eq!((&district["value"], &district["n"]), (&json!(200.0 / 3.0), &json!(9)), "{district}");
    // Ranks among the published figures, 1 the highest.
    assert_eq!(index(group(&districts, "002", None), "access")["rank"], 1);
    assert_eq!(district["rank"], 2);
    assert!(index(group(&communes, "00002", None), "access").get("rank").is_none());
    // The agency tables (commune × agency) hide the same cells: AG1 holds all of 001.
    let by_agency = app.results(&format!("/api/v1/waves/{wave}/results?level=commune&by=agency")).await;
    assert_eq!(index(group(&by_agency, "00002", Some("AG1")), "access")["suppressed"], true);
    assert_eq!(index(group(&by_agency, "00001", Some("AG1")), "access")["suppressed"], true);
    // A mean is hidden wherever one of its parts is.
    assert_eq!(index(group(&communes, "00002", None), "sipas")["suppressed"], true);

    // A wave may set its own threshold: at 3, nothing here is hidden.
    let lenient = app.open_wave_with(&json!({"name": "Ngưỡng 3", "form_id": "sipas-2017", "min_cell": 3})).await;
    answer(&app, &lenient, &form, "00002", "AG1", "5", 3).await;
    let communes = app.results(&format!("/api/v1/waves/{lenient}/results?level=commune")).await;
    assert_eq!(index(group(&communes, "00002", None), "access")["value"], 100.0);
    let refused = app.post("/api/v1/waves", &json!({"name": "Sai", "form_id": "sipas-2017", "min_cell": 0})).await;
    assert_eq!(refused.status(), 422);
}

async fn a_closed_wave_keeps_the_names_and_tree_it_closed_with(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(&app, &wave, &form, "00002", "AG1", "5", 2).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);
    let before = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;

    // The commune is renamed and moved to the other district after the wave closed.
    let moved = json!({"code": "00002", "name": "Phường Mới", "level": "commune", "parent_code": "002"});
    assert_eq!(app.post("/api/v1/localities", &moved).await.status(), 200);

    let after = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    assert_eq!(after, before, "nothing of a closed wave's results changes");
    assert_eq!(group(&after, "00002", None)["locality"]["name"], "Xã Một Hai");
    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    assert_eq!(group(&districts, "001", None)["responses"], 2);
    assert_eq!(index(group(&districts, "001", None), "sipas")["value"], 100.0);
}

async fn hidden_figures_that_are_all_satisfied_are_not_given_away_by_their_total(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    // District 001: 6 and 3 answers, all satisfied. District 002: 4 satisfied, 3 not.
    answer(&app, &wave, &form, "00001", "AG1", "5", 6).await;
    answer(&app, &wave, &form, "00002", "AG1", "5", 3).await;
    answer(&app, &wave, &form, "00003", "AG2", "5", 4).await;
    answer(&app, &wave, &form, "00003", "AG2", "2", 3).await;

    // Hiding both communes of 001 is not enough: 001 at 100% would say each of them is at
    // 100% too. So 001 is hidden, and then 002 beside it; the province (13 of 16) stays.
    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    for district in ["001", "002"] {
        let access = index(group(&districts, district, None), "access");
        assert_eq!(access["suppressed"], true, "{district}: {access}");
    }
    let provinces = app.results(&format!("/api/v1/waves/{wave}/results?level=province")).await;
    assert_eq!(index(group(&provinces, "01", None), "access")["value"], 1300.0 / 16.0);
}

async fn answers_without_an_agency_are_hidden_as_their_own_cell_when_split_by_agency(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    // AG1 has 2 answers (under k = 5), AG2 10, and 5 came without an agency: the smallest
    // part beside AG1, so the one hidden with it.
    answer(&app, &wave, &form, "00001", "AG1", "5", 2).await;
    answer(&app, &wave, &form, "00001", "AG2", "4", 10).await;
    for invitation in app.invite(&wave, "00001", None, 5).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "1")).await.status(), 201);
    }
    let results = app.results(&format!("/api/v1/waves/{wave}/results?by=agency")).await;
    let access = |agency: Option<&str>| {
        let groups = results["groups"].as_array().unwrap();
        let group = groups.iter().find(|g| g["agency"]["code"].as_str() == agency).unwrap();
        index(group, "access").clone()
    };
    assert_eq!(index(&results["overall"], "access")["suppressed"], false, "all 17 answers");
    assert_eq!(access(Some("AG2"))["suppressed"], false);
    assert_eq!(access(Some("AG1"))["suppressed"], true);
    let without = access(None);
    assert_eq!((&without["suppressed"], &without["n"]), (&json!(true), &json!(5)), "else AG1 = all − AG2 − it");
}
