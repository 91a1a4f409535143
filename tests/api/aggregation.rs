//! How a higher level is formed: pooled (every answer beneath) or, where an index declares
//! it, the mean of the units at a named level; and rows of answers invited above the level
//! asked, so that a level's rows add up to the whole.

use crate::helpers::{TestApp, forms_dir_with, in_dir, satisfied_at, shipped_form};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    answers_invited_above_the_level_get_their_own_row_and_the_rows_add_up,
    a_row_of_answers_invited_above_the_level_is_hidden_with_what_would_give_it_away,
    an_index_declared_mean_of_children_averages_the_units_of_that_level,
    design_weights_follow_the_strata_of_the_draw_and_both_values_are_available
);

fn figure<'a>(group: &'a Value, id: &str) -> &'a Value {
    group["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no index {id}"))
}

fn row<'a>(results: &'a Value, locality: &str) -> &'a Value {
    results["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["locality"]["code"] == locality)
        .unwrap_or_else(|| panic!("no row {locality} in {results}"))
}

/// `count` answers at `locality` with every satisfaction item at `level`.
async fn answer(app: &TestApp, wave: &str, form: &Value, locality: &str, level: &str, count: usize) {
    for invitation in app.invite(wave, locality, None, count).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(form, level)).await.status(), 201);
    }
}

async fn answers_invited_above_the_level_get_their_own_row_and_the_rows_add_up(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(&app, &wave, &form, "00001", "5", 2).await;
    answer(&app, &wave, &form, "00003", "2", 1).await;
    // Invited at the district and at the province themselves: in no commune.
    answer(&app, &wave, &form, "001", "4", 1).await;
    answer(&app, &wave, &form, "01", "1", 2).await;

    let communes = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    let groups = communes["groups"].as_array().unwrap();
    let total: u64 = groups.iter().map(|g| g["responses"].as_u64().unwrap()).sum();
    assert_eq!(total, 6, "the rows add up to the whole: {communes}");
    let district_own = row(&communes, "001");
    assert_eq!(district_own["own_level"], true);
    assert_eq!(district_own["locality"]["level"], "district");
    assert_eq!(district_own["responses"], 1);
    assert_eq!(figure(district_own, "access")["value"], 100.0);
    assert!(figure(district_own, "access").get("rank").is_none(), "not a commune: not ranked");
    let province_own = row(&communes, "01");
    assert_eq!((province_own["own_level"].clone(), province_own["responses"].clone()), (json!(true), json!(2)));
    assert_eq!(figure(province_own, "access")["value"], 0.0);
    assert!(row(&communes, "00001").get("own_level").is_none());
    assert_eq!(figure(row(&communes, "00001"), "access")["rank"], 1);
    assert_eq!(figure(row(&communes, "00003"), "access")["rank"], 2);
    // The units come first, then the rows above them.
    let codes: Vec<&str> = groups.iter().map(|g| g["locality"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["00001", "00003", "001", "01"]);

    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    let codes: Vec<(&str, u64)> = districts["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["locality"]["code"].as_str().unwrap(), g["responses"].as_u64().unwrap()))
        .collect();
    assert_eq!(codes, [("001", 3), ("002", 1), ("01", 2)]);
    assert!(row(&districts, "001").get("own_level").is_none(), "the district's own answers are in its row");

    // Nothing above the province: no extra row.
    let provinces = app.results(&format!("/api/v1/waves/{wave}/results?level=province")).await;
    assert_eq!(provinces["groups"].as_array().unwrap().len(), 1);

    // The report names the row for people.
    let csv = app
        .api
        .get(app.url(&format!("/api/v1/waves/{wave}/report.csv?table=indices&level=district")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("01,Tỉnh Thử Nghiệm,province,"), "{csv}");
}

async fn a_row_of_answers_invited_above_the_level_is_hidden_with_what_would_give_it_away(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    // Threshold 5: the district's own 2 answers are too few to show.
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017"})).await;
    answer(&app, &wave, &form, "00001", "5", 6).await;
    answer(&app, &wave, &form, "00002", "4", 5).await;
    answer(&app, &wave, &form, "001", "1", 2).await;

    let communes = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    let own = figure(row(&communes, "001"), "access");
    assert_eq!(
        (own["value"].clone(), own["suppressed"].clone(), own["n"].clone()),
        (Value::Null, json!(true), json!(2))
    );
    // The district's figure minus its two communes' would give the own row: one of them is
    // hidden too.
    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    let published = [
        figure(row(&districts, "001"), "access"),
        figure(row(&communes, "00001"), "access"),
        figure(row(&communes, "00002"), "access"),
    ];
    assert!(published.iter().any(|f| f["suppressed"] == true), "{published:?}");
}

async fn an_index_declared_mean_of_children_averages_the_units_of_that_level(app: TestApp) {
    let mut declared = shipped_form("sipas-2017");
    declared["id"] = json!("sipas-test");
    for index in declared["indices"].as_array_mut().unwrap() {
        if index["id"] == "access" || index["id"] == "sipas" {
            index["aggregate"] = json!({"mean_of_children": "district"});
        }
    }
    let dir = forms_dir_with(&[("sipas-test.json", &declared)]);
    let app = app.another_instance(in_dir(dir.path())).await;
    let shown = app.form("sipas-test").await;
    let aggregate =
        |id: &str| shown["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["aggregate"].clone();
    assert_eq!(aggregate("sipas"), json!({"mean_of_children": "district"}));
    assert_eq!(aggregate("procedures"), json!("pooled"));

    app.seed_places().await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-test", "min_cell": 1})).await;
    // District 001: 3 of 4 satisfied (75%); district 002: 1 of 1 (100%).
    answer(&app, &wave, &shown, "00001", "5", 2).await;
    answer(&app, &wave, &shown, "00002", "5", 1).await;
    answer(&app, &wave, &shown, "00002", "1", 1).await;
    answer(&app, &wave, &shown, "00003", "5", 1).await;

    let overall = app.results(&format!("/api/v1/waves/{wave}/results")).await;
    let whole = &overall["overall"];
    // The mean of the districts, not 4 of 5 pooled; n counts what stands behind them.
    assert_eq!(figure(whole, "access")["value"], 87.5);
    assert_eq!(figure(whole, "access")["n"], 5);
    assert_eq!(figure(whole, "sipas")["value"], 87.5);
    assert_eq!(figure(whole, "procedures")["value"], 80.0, "declared pooled");
    let (low, high) =
        (figure(whole, "access")["ci_low"].as_f64().unwrap(), figure(whole, "access")["ci_high"].as_f64().unwrap());
    assert!(low < 87.5 && 87.5 < high && high <= 100.0, "{low}–{high}");

    let provinces = app.results(&format!("/api/v1/waves/{wave}/results?level=province")).await;
    assert_eq!(figure(row(&provinces, "01"), "access")["value"], 87.5);
    assert_eq!(figure(row(&provinces, "01"), "procedures")["value"], 80.0);
    // At the level itself and below, each unit is its own answers.
    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    assert_eq!(figure(row(&districts, "001"), "access")["value"], 75.0);
    assert_eq!(figure(row(&districts, "002"), "access")["value"], 100.0);
    let communes = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    assert_eq!(figure(row(&communes, "00002"), "access")["value"], 50.0);
}

/// A list of 12 people in district 001 (communes 00001, 00002) and 3 in district 002 (00003),
/// each with an address naming their commune.
fn unequal_districts() -> String {
    let mut csv = String::from("Họ và tên,Địa chỉ,Xã\n");
    for (i, commune) in std::iter::repeat_n("00001", 6)
        .chain(std::iter::repeat_n("00002", 6))
        .chain(std::iter::repeat_n("00003", 3))
        .enumerate()
    {
        csv.push_str(&format!("Người Thứ {i},Số {i} xã {commune},{commune}\n"));
    }
    csv
}

async fn design_weights_follow_the_strata_of_the_draw_and_both_values_are_available(app: TestApp) {
    app.seed_places().await;
    let created = app
        .post("/api/v1/waves", &json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1, "weighting": "design"}))
        .await;
    assert_eq!(created.status(), 201);
    let declared = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(app.get_json(&format!("/api/v1/waves/{declared}")).await["weighting"], "design");
    let refused = app.post("/api/v1/waves", &json!({"name": "Đợt", "form_id": "sipas-2017", "weighting": "tùy"})).await;
    assert_eq!(refused.status(), 400, "an unknown weighting is refused");

    let wave = app
        .post("/api/v1/waves", &json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1, "localities": ["01"]}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    crate::lists::confirmed_list(&app, &wave, &unequal_districts()).await;
    // Three drawn in each district: 3 of 12 (25%) and 3 of 3 (100%).
    let design = json!({"level": "district", "method": "quota", "quota": 3, "seed": 7, "reserve": 0});
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/sample"), &design).await.status(), 201);
    let sent = app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "letter"})).await;
    assert_eq!(sent.json::<Value>().await.unwrap()["queued"], 6);
    let letters =
        app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/letters.csv")).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(letters.trim_start_matches('\u{feff}').as_bytes());
    let form = app.form("sipas-2017").await;
    let (mut first_district, mut second_district) = (0, 0);
    for letter in reader.records().map(Result::unwrap) {
        // District 001: two satisfied, one not; district 002: one satisfied, two not.
        let level = if letter[1].ends_with("00003") {
            second_district += 1;
            if second_district == 1 { "5" } else { "1" }
        } else {
            first_district += 1;
            if first_district <= 2 { "5" } else { "1" }
        };
        assert_eq!(app.answer(&letter[2], &satisfied_at(&form, level)).await.status(), 201);
    }
    assert_eq!((first_district, second_district), (3, 3));

    let access = |results: &Value| figure(&results["overall"], "access").clone();
    let unweighted = app.results(&format!("/api/v1/waves/{wave}/results")).await;
    assert_eq!(unweighted["overall"]["weighting"], "none");
    assert_eq!(access(&unweighted)["value"], 50.0);
    let weighted = app.results(&format!("/api/v1/waves/{wave}/results?weighting=design")).await;
    assert_eq!(weighted["overall"]["weighting"], "design");
    // (12/3 · 2 + 3/3 · 1) / (12 + 3) = 60%.
    let value = access(&weighted)["value"].as_f64().unwrap();
    assert!((value - 60.0).abs() < 1e-9, "{weighted}");
    assert_eq!(access(&weighted)["n"], 6, "n stays the answers behind");
    // Only district 001 varies: w² (1 − f) r/(r − 1) Σ(z − z̄)² = 16 · 0.75 · 1.5 · (2/3)/15².
    let margin = 1.959_963_984_540_054 * (12.0_f64 / 225.0).sqrt();
    let low = access(&weighted)["ci_low"].as_f64().unwrap();
    assert!((low - 100.0 * (0.6 - margin)).abs() < 1e-6, "{low}");
    assert!(access(&weighted)["deff"].as_f64().unwrap() > 0.0);
    assert!(access(&unweighted).get("deff").is_none());
    // Within one stratum weights change nothing; the province is the whole again.
    let districts = app.results(&format!("/api/v1/waves/{wave}/results?level=district&weighting=design")).await;
    let district_value = |code: &str| figure(row(&districts, code), "access")["value"].as_f64().unwrap();
    assert!((district_value("001") - 200.0 / 3.0).abs() < 1e-9 && (district_value("002") - 100.0 / 3.0).abs() < 1e-9);
    let provinces = app.results(&format!("/api/v1/waves/{wave}/results?level=province&weighting=design")).await;
    assert!((figure(row(&provinces, "01"), "access")["value"].as_f64().unwrap() - 60.0).abs() < 1e-9);
}
