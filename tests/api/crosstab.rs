//! Crosstabs: every index by a background item, hand-counted, as JSON, CSV and a workbook
//! sheet; hidden where small, with their complements, and wherever the wave's own tables
//! hide the total they add up to.

use crate::helpers::{TestApp, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    crosstab_breaks_every_index_down_by_gender_for_the_wave_and_each_agency,
    crosstab_hides_small_categories_their_complements_and_totals_hidden_elsewhere,
    crosstab_is_a_workbook_sheet_when_asked_and_refuses_items_that_do_not_split_respondents,
    crosstab_counts_answers_that_arrive_after_it_was_read,
    crosstab_breaks_every_index_down_by_the_localities_of_a_level,
    no_hidden_crosstab_figure_follows_from_every_table_the_wave_publishes,
    crosstab_refuses_a_level_the_tree_does_not_have,
    a_wave_too_large_for_its_localities_gets_crosstabs_for_the_whole_wave_and_says_why
);

/// A form satisfied at `level` on every item, with `gender` ("" leaves it blank), answered
/// in commune 00001 through `agency`.
async fn answer(app: &TestApp, wave: &str, form: &Value, agency: &str, gender: &str, level: &str) {
    answer_in(app, wave, form, "00001", agency, gender, level).await;
}

/// `answer`, in `commune`.
async fn answer_in(app: &TestApp, wave: &str, form: &Value, commune: &str, agency: &str, gender: &str, level: &str) {
    let mut answers = satisfied_at(form, level);
    match gender {
        "" => drop(answers.as_object_mut().unwrap().remove("gender")),
        code => answers["gender"] = json!(code),
    }
    let invitation = app.invite(wave, commune, Some(agency), 1).await.remove(0);
    assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
}

/// The gender crosstab an officer of `agency` reads.
async fn officers_crosstab(app: &TestApp, wave: &str, agency: &str) -> Value {
    let officer = app.official("agency_officer", Some(agency)).await;
    let response = app.get_as(&officer, &format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The rows of one group (agency code, `None` for the whole wave) and index.
fn rows_of<'a>(json: &'a Value, agency: Option<&str>, index: &str) -> Vec<&'a Value> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["agency_code"].as_str() == agency && r["index_id"] == index)
        .collect()
}

/// (category, option code, responses, value) of rows.
fn summary(rows: &[&Value]) -> Vec<(String, String, u64, Option<f64>)> {
    rows.iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().to_string(),
                r["option_code"].as_str().unwrap_or("").to_string(),
                r["responses"].as_u64().unwrap(),
                r["value"].as_f64(),
            )
        })
        .collect()
}

async fn crosstab_counts_answers_that_arrive_after_it_was_read(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(&app, &wave, &form, "AG1", "1", "5").await;
    let path = format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender");
    let men = |json: &Value| summary(&rows_of(json, None, "access"))[1].clone();
    let first = app.get_json(&path).await;
    assert_eq!(men(&first), ("option".to_string(), "1".to_string(), 1, Some(100.0)));
    assert_eq!(men(&app.get_json(&path).await), men(&first), "read again, unchanged");

    answer(&app, &wave, &form, "AG1", "1", "1").await;
    assert_eq!(men(&app.get_json(&path).await), ("option".to_string(), "1".to_string(), 2, Some(50.0)));
    let json = officers_crosstab(&app, &wave, "AG1").await;
    assert_eq!(summary(&rows_of(&json, Some("AG1"), "access"))[1].2, 2, "the agency's view counts it too");
}

async fn crosstab_breaks_every_index_down_by_gender_for_the_wave_and_each_agency(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    // Men: satisfied (5) and not (1), both at AG1; a woman satisfied (4) and one who left
    // gender blank, not satisfied (2), at AG2.
    answer(&app, &wave, &form, "AG1", "1", "5").await;
    answer(&app, &wave, &form, "AG1", "1", "1").await;
    answer(&app, &wave, &form, "AG2", "2", "4").await;
    answer(&app, &wave, &form, "AG2", "", "2").await;

    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender")).await;
    assert_eq!(json["table"], "crosstab");
    let whole = rows_of(&json, None, "access");
    let expected = |rows: &[(&str, &str, u64, Option<f64>)]| -> Vec<(String, String, u64, Option<f64>)> {
        rows.iter().map(|(c, o, n, v)| (c.to_string(), o.to_string(), *n, *v)).collect()
    };
    assert_eq!(
        summary(&whole),
        expected(&[
            ("total", "", 4, Some(50.0)),
            ("option", "1", 2, Some(50.0)),
            ("option", "2", 1, Some(100.0)),
            ("blank", "", 1, Some(0.0)),
        ])
    );
    assert_eq!(whole[1]["option_label"], "Nam");
    assert_eq!(whole[1]["item_text"], "Giới tính");
    assert_eq!(whole[1]["n"], 2);
    assert!(whole[1]["ci_low"].as_f64().unwrap() < 50.0 && whole[1]["ci_high"].as_f64().unwrap() > 50.0);
    // SIPAS, the mean of five factors each at the same share.
    let sipas = rows_of(&json, None, "sipas");
    assert_eq!(sipas[2]["value"].as_f64(), Some(100.0));
    let by_agency = app.get_json(&format!("/api/v1/waves/{wave}/report?table=crosstab&by=agency")).await;
    assert!(
        by_agency["rows"].as_array().unwrap().iter().all(|r| r["agency_code"].is_null()),
        "the whole wave only: thousands of agencies would make tables of millions of rows"
    );

    // Each agency's officer sees its own agency.
    let json = officers_crosstab(&app, &wave, "AG1").await;
    assert_eq!(
        summary(&rows_of(&json, Some("AG1"), "access")),
        expected(&[("total", "", 2, Some(50.0)), ("option", "1", 2, Some(50.0)), ("option", "2", 0, None)])
    );
    let json = officers_crosstab(&app, &wave, "AG2").await;
    assert_eq!(
        summary(&rows_of(&json, Some("AG2"), "access")),
        expected(&[
            ("total", "", 2, Some(50.0)),
            ("option", "1", 0, None),
            ("option", "2", 1, Some(100.0)),
            ("blank", "", 1, Some(0.0)),
        ])
    );
    // Every background item with one choice, when none is named.
    let all = app.get_json(&format!("/api/v1/waves/{wave}/report?table=crosstab")).await;
    let items: std::collections::BTreeSet<&str> =
        all["rows"].as_array().unwrap().iter().map(|r| r["item_id"].as_str().unwrap()).collect();
    assert!(items.contains("gender") && items.contains("age_group") && items.contains("occupation"), "{items:?}");

    // The CSV: the same rows, long format.
    let response = app
        .api
        .get(app.url(&format!("/api/v1/waves/{wave}/report.csv?table=crosstab&crosstab=gender")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header[..11],
        [
            "locality_code",
            "locality_name",
            "level",
            "agency_code",
            "agency_name",
            "item_id",
            "item_text",
            "category",
            "option_code",
            "option_label",
            "responses"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let indices = form["indices"].as_array().unwrap().len();
    assert_eq!(records.len(), 4 * indices, "total, men, women, blank: every index");
    let women = records.iter().find(|r| &r[7] == "option" && &r[8] == "2" && &r[11] == "access").unwrap();
    assert_eq!((&women[0], &women[10], &women[13], &women[17]), ("", "1", "100", "false"));
}

async fn crosstab_hides_small_categories_their_complements_and_totals_hidden_elsewhere(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 3})).await;
    // AG1: 6 men (4 satisfied), 2 women; AG2: 2 men, whose agency total (2 < 3) the
    // wave's tables hide.
    for level in ["5", "5", "5", "5", "1", "1"] {
        answer(&app, &wave, &form, "AG1", "1", level).await;
    }
    for _ in 0..2 {
        answer(&app, &wave, &form, "AG1", "2", "4").await;
        answer(&app, &wave, &form, "AG2", "1", "5").await;
    }
    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender")).await;
    let hidden = |rows: &[&Value]| rows.iter().map(|r| r["suppressed"] == true).collect::<Vec<bool>>();
    let whole = rows_of(&json, None, "access");
    assert_eq!(summary(&whole)[0], ("total".to_string(), String::new(), 10, Some(80.0)));
    assert_eq!(hidden(&whole), [false, true, true], "2 women, and the 8 men who are the total minus them");
    assert!(whole[1]["value"].is_null() && whole[1]["ci_low"].is_null());
    assert_eq!(whole[2]["n"], 2, "counts of forms stay published");
    // AG2's total is hidden by the wave's results, so is everything that adds up to it;
    // and AG1's, which is the whole wave minus AG2's.
    let results = app.results(&format!("/api/v1/waves/{wave}/results?by=agency")).await;
    let group = |code: &str| {
        results["groups"].as_array().unwrap().iter().find(|g| g["agency"]["code"] == code).unwrap()["indices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "access")
            .unwrap()["suppressed"]
            .clone()
    };
    assert_eq!((group("AG1"), group("AG2")), (json!(true), json!(true)));
    for agency in ["AG1", "AG2"] {
        let theirs = officers_crosstab(&app, &wave, agency).await;
        let rows = rows_of(&theirs, Some(agency), "access");
        assert!(
            rows.iter().all(|r| r["suppressed"] == true || r["responses"] == 0),
            "{agency}: every figure hidden: {rows:?}"
        );
    }
    // A mean is hidden wherever one of its shares is.
    assert_eq!(hidden(&rows_of(&json, None, "sipas")), [false, true, true]);

    // An agency officer sees its own agency only, under the same pattern.
    let theirs = officers_crosstab(&app, &wave, "AG1").await;
    let agencies: std::collections::BTreeSet<Option<&str>> =
        theirs["rows"].as_array().unwrap().iter().map(|r| r["agency_code"].as_str()).collect();
    assert_eq!(agencies, [Some("AG1")].into());
    assert_eq!(hidden(&rows_of(&theirs, Some("AG1"), "access")), [true, true, true]);
}

async fn crosstab_is_a_workbook_sheet_when_asked_and_refuses_items_that_do_not_split_respondents(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(&app, &wave, &form, "AG1", "1", "5").await;
    answer(&app, &wave, &form, "AG1", "2", "1").await;
    let download = |query: &str| {
        let request = app.api.get(app.url(&format!("/api/v1/waves/{wave}/report.xlsx?{query}")));
        let token = app.admin_token.clone();
        async move {
            let response = request.bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let bytes = response.bytes().await.unwrap().to_vec();
            let workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
            workbook
        }
    };
    let plain = download("level=commune").await;
    assert!(!plain.sheet_names().contains(&"Theo đặc điểm người trả lời".to_string()), "only when asked");
    let mut workbook = download("level=commune&crosstab=gender,age_group").await;
    let sheet = workbook.worksheet_range("Theo đặc điểm người trả lời").unwrap();
    assert_eq!(sheet.get_value((2, 0)).unwrap().to_string(), "Giới tính — toàn đợt");
    assert_eq!(sheet.get_value((3, 2)).unwrap().to_string(), "Chỉ số SIPAS");
    let labels: Vec<String> = (4..=6).map(|r| sheet.get_value((r, 0)).unwrap().to_string()).collect();
    assert_eq!(labels, ["Chung", "Nam", "Nữ"]);
    assert_eq!(sheet.get_value((5, 2)), Some(&Data::Float(100.0)), "the man: satisfied on every factor");
    assert_eq!(sheet.get_value((6, 2)), Some(&Data::Float(0.0)));
    // Then the same for each commune, the level of the workbook.
    assert_eq!(sheet.get_value((8, 0)).unwrap().to_string(), "Giới tính — Xã Một Một");
    assert_eq!(sheet.get_value((14, 0)).unwrap().to_string(), "Độ tuổi — toàn đợt");

    for bad in ["sat_access", "expectations", "nothing"] {
        let response = app
            .api
            .get(app.url(&format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab={bad}")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body.to_string().contains("gender"), "the error names the usable items: {body}");
    }
}

/// The rows of one locality's group (`None` for the whole wave) and index.
fn locality_rows<'a>(json: &'a Value, locality: Option<&str>, index: &str) -> Vec<&'a Value> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["locality_code"].as_str() == locality && r["index_id"] == index)
        .collect()
}

async fn crosstab_breaks_every_index_down_by_the_localities_of_a_level(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    // District 001: a satisfied man in each of its communes, and a woman who is not;
    // district 002: a satisfied woman.
    answer_in(&app, &wave, &form, "00001", "AG1", "1", "5").await;
    answer_in(&app, &wave, &form, "00002", "AG1", "1", "4").await;
    answer_in(&app, &wave, &form, "00002", "AG1", "2", "1").await;
    answer_in(&app, &wave, &form, "00003", "AG2", "2", "5").await;
    let path = |level: &str| format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender&level={level}");
    let expected = |rows: &[(&str, &str, u64, Option<f64>)]| -> Vec<(String, String, u64, Option<f64>)> {
        rows.iter().map(|(c, o, n, v)| (c.to_string(), o.to_string(), *n, *v)).collect()
    };

    let json = app.get_json(&path("district")).await;
    let localities: std::collections::BTreeSet<Option<&str>> =
        json["rows"].as_array().unwrap().iter().map(|r| r["locality_code"].as_str()).collect();
    assert_eq!(localities, [None, Some("001"), Some("002")].into(), "the whole wave, then each district");
    assert_eq!(
        summary(&locality_rows(&json, Some("001"), "access")),
        expected(&[
            ("total", "", 3, Some(100.0 * 2.0 / 3.0)),
            ("option", "1", 2, Some(100.0)),
            ("option", "2", 1, Some(0.0))
        ])
    );
    assert_eq!(
        summary(&locality_rows(&json, Some("002"), "access")),
        expected(&[("total", "", 1, Some(100.0)), ("option", "1", 0, None), ("option", "2", 1, Some(100.0))])
    );
    let district = locality_rows(&json, Some("001"), "access")[0];
    assert_eq!((&district["locality_name"], &district["level"]), (&json!("Huyện Một"), &json!("district")));
    assert_eq!(summary(&locality_rows(&json, None, "access"))[0], ("total".to_string(), String::new(), 4, Some(75.0)));

    let json = app.get_json(&path("commune")).await;
    assert_eq!(
        summary(&locality_rows(&json, Some("00002"), "access")),
        expected(&[("total", "", 2, Some(50.0)), ("option", "1", 1, Some(100.0)), ("option", "2", 1, Some(0.0))])
    );
    let json = app.get_json(&path("province")).await;
    assert_eq!(summary(&locality_rows(&json, Some("01"), "access"))[0].2, 4);

    // An agency's officer sees its own agency, by locality too.
    let officer = app.official("agency_officer", Some("AG1")).await;
    let response = app.get_as(&officer, &path("commune")).await;
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    let groups: std::collections::BTreeSet<(Option<&str>, Option<&str>)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["locality_code"].as_str(), r["agency_code"].as_str()))
        .collect();
    assert_eq!(groups, [(None, Some("AG1")), (Some("00001"), Some("AG1")), (Some("00002"), Some("AG1"))].into());

    // The CSV names each row's locality.
    let response = app
        .get_as(
            &app.admin_token,
            &format!("/api/v1/waves/{wave}/report.csv?table=crosstab&crosstab=gender&level=district"),
        )
        .await;
    let bytes = response.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let indices = form["indices"].as_array().unwrap().len();
    assert_eq!(records.len(), (3 + 3 + 3) * indices, "total and two genders for the wave and each district");
    assert!(records.iter().any(|r| (&r[0], &r[1], &r[2]) == ("002", "Huyện Hai", "district")));
}

async fn crosstab_refuses_a_level_the_tree_does_not_have(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer(&app, &wave, &form, "AG1", "1", "5").await;
    let response = app
        .get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender&level=hamlet"))
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let message = body.to_string();
    assert!(message.contains("Không có cấp địa bàn này") && message.contains("cấp huyện"), "{message}");
}

/// A row of published figures or a hidden one, as the set of (commune, agency, gender)
/// cells whose positive answers it adds up.
type Cells = Vec<f64>;

const COMMUNES: [(&str, &str); 3] = [("00001", "001"), ("00002", "001"), ("00003", "002")];
const AGENCIES: [&str; 2] = ["AG1", "AG2"];
/// Gender's options, then the blank.
const GENDERS: [&str; 3] = ["1", "2", ""];

/// The cells a figure covers: its locality (`None` the whole wave), agency (`None` all) and
/// gender (`None` every one).
fn cells_of(locality: Option<&str>, agency: Option<&str>, gender: Option<&str>) -> Cells {
    let mut cells = Vec::new();
    for (commune, district) in COMMUNES {
        for code in AGENCIES {
            for option in GENDERS {
                let within = locality.is_none_or(|l| l == commune || l == district || l == "01");
                let inside = within && agency.is_none_or(|a| a == code) && gender.is_none_or(|g| g == option);
                cells.push(if inside { 1.0 } else { 0.0 });
            }
        }
    }
    cells
}

/// The rank of rows, by elimination (entries are small integers: a tolerance suffices).
fn rank(rows: &[Cells]) -> usize {
    let mut rows = rows.to_vec();
    let mut rank = 0;
    for column in 0..rows.first().map_or(0, Vec::len) {
        let Some(pivot) = (rank..rows.len()).max_by(|&a, &b| rows[a][column].abs().total_cmp(&rows[b][column].abs()))
        else {
            break;
        };
        if rows[pivot][column].abs() < 1e-9 {
            continue;
        }
        rows.swap(rank, pivot);
        for r in 0..rows.len() {
            if r != rank {
                let factor = rows[r][column] / rows[rank][column];
                let pivot_row = rows[rank].clone();
                rows[r].iter_mut().zip(&pivot_row).for_each(|(x, p)| *x -= factor * p);
            }
        }
        rank += 1;
    }
    rank
}

async fn no_hidden_crosstab_figure_follows_from_every_table_the_wave_publishes(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 3})).await;
    // AG2 serves only commune 00003, so its rows are that commune's and its district's: a
    // figure hidden in one table must be hidden in the others. AG1 serves 00001 and 00002,
    // and AG2 has a few answers in 00001 too.
    let answers: [(&str, &str, &str, usize); 8] = [
        ("00001", "AG1", "1", 5),
        ("00001", "AG1", "2", 3),
        ("00001", "AG2", "1", 2),
        ("00002", "AG1", "1", 4),
        ("00002", "AG1", "2", 1),
        ("00003", "AG2", "1", 3),
        ("00003", "AG2", "2", 1),
        ("00003", "AG2", "", 1),
    ];
    let mut counted = vec![0usize; COMMUNES.len() * AGENCIES.len() * GENDERS.len()];
    for (commune, agency, gender, count) in answers {
        for i in 0..count {
            answer_in(&app, &wave, &form, commune, agency, gender, ["5", "2", "4"][i % 3]).await;
        }
        let at = cells_of(Some(commune), Some(agency), Some(gender)).iter().position(|&x| x == 1.0).unwrap();
        counted[at] += count;
    }
    // Cells without answers are known to hold nothing.
    let mut published: Vec<Cells> = counted
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(at, _)| (0..counted.len()).map(|c| if c == at { 1.0 } else { 0.0 }).collect())
        .collect();
    let mut hidden: Vec<(String, Cells)> = Vec::new();
    let index = "access";
    let mut read = |json: &Value, agency_shown: Option<&str>| {
        for row in json["rows"].as_array().unwrap().iter().filter(|r| r["index_id"] == index) {
            let gender = match row["category"].as_str().unwrap() {
                "total" => None,
                "option" => Some(row["option_code"].as_str().unwrap()),
                _ => Some(""),
            };
            let cells = cells_of(row["locality_code"].as_str(), agency_shown, gender);
            match (row["suppressed"] == true, row["n"].as_u64().unwrap() > 0) {
                (true, true) => hidden.push((row.to_string(), cells)),
                (false, true) => published.push(cells),
                _ => {}
            }
        }
    };
    let levels = ["", "&level=province", "&level=district", "&level=commune"];
    for level in levels {
        let path = format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender{level}");
        read(&app.get_json(&path).await, None);
        for agency in AGENCIES {
            let officer = app.official("agency_officer", Some(agency)).await;
            let response = app.get_as(&officer, &path).await;
            assert_eq!(response.status(), 200);
            read(&response.json().await.unwrap(), Some(agency));
        }
    }
    // The wave's own tables: every level, with and without agencies.
    for level in levels {
        for by in ["", "&by=agency"] {
            let results = app.results(&format!("/api/v1/waves/{wave}/results?x=1{level}{by}")).await;
            let groups = results["groups"].as_array().unwrap().iter().chain([&results["overall"]]);
            for group in groups {
                let figure = group["indices"].as_array().unwrap().iter().find(|i| i["id"] == index).unwrap();
                if figure["suppressed"] != true && figure["n"].as_u64().unwrap_or(0) > 0 {
                    published.push(cells_of(
                        group["locality"]["code"].as_str(),
                        group["agency"]["code"].as_str(),
                        None,
                    ));
                }
            }
        }
    }
    assert!(hidden.len() >= 6, "small categories and their complements are hidden: {}", hidden.len());
    let known = rank(&published);
    for (row, cells) in &hidden {
        let mut with = published.clone();
        with.push(cells.clone());
        assert_eq!(rank(&with), known + 1, "a hidden figure follows from the published ones: {row}");
    }
}

async fn a_wave_too_large_for_its_localities_gets_crosstabs_for_the_whole_wave_and_says_why(app: TestApp) {
    use calamine::{Reader, Xlsx};
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    answer_in(&app, &wave, &form, "00001", "AG1", "1", "5").await;
    answer_in(&app, &wave, &form, "00003", "AG2", "2", "1").await;
    // A server whose crosstab counts may take no memory at all keeps none by locality.
    let small = app.another_instance(|s| s.crosstab_memory = 1).await;
    let response = small
        .get_as(
            &small.admin_token,
            &format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender&level=province"),
        )
        .await;
    assert_eq!(response.status(), 422);
    let message = response.json::<Value>().await.unwrap().to_string();
    assert!(message.contains("chỉ lập được cho toàn đợt và từng cơ quan"), "{message}");
    let whole = small.get_json(&format!("/api/v1/waves/{wave}/report?table=crosstab&crosstab=gender")).await;
    assert_eq!(summary(&locality_rows(&whole, None, "access"))[0].2, 2, "the whole wave still");

    // The workbook at commune level keeps its sheets and says why its crosstab is the whole
    // wave's only.
    let response = small
        .get_as(&small.admin_token, &format!("/api/v1/waves/{wave}/report.xlsx?level=commune&crosstab=gender"))
        .await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap().to_vec();
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = workbook.worksheet_range("Theo đặc điểm người trả lời").unwrap();
    let note = sheet.get_value((1, 0)).unwrap().to_string();
    assert!(note.starts_with("Chỉ có bảng toàn đợt: Đợt có quá nhiều địa bàn"), "{note}");
    assert_eq!(sheet.get_value((2, 0)).unwrap().to_string(), "Giới tính — toàn đợt");
    assert_eq!(sheet.get_value((8, 0)), None, "no commune's table");
}
