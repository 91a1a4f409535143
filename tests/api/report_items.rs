//! The report's `items` and `expectations` tables: CSV and JSON read back with hand-counted
//! shares (a missing answer among them), expectations ranked by their declared denominator,
//! the workbook's two sheets, and item distributions under disclosure control.

use crate::helpers::{TestApp, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    item_table_reads_back_as_csv_and_json_with_shares_of_valid_answers_and_a_missing_answer,
    expectations_are_ranked_by_their_share_of_the_declared_denominator,
    expectations_asked_one_by_one_are_ranked_against_each_other,
    workbook_has_item_and_expectation_sheets_with_numbers_and_a_chart,
    a_small_communes_distribution_is_hidden_and_its_district_minus_siblings_does_not_give_it
);

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/survey_forms");

/// Four forms in commune 00001: satisfied at 5 (expectations 1, 2), 5 (2), 4 (2, 3) and
/// "0" Không trả lời (expectations left blank).
async fn four_forms(app: &TestApp) -> String {
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2017", "min_cell": 1})).await;
    let forms: [(&str, Option<Value>); 4] =
        [("5", Some(json!(["1", "2"]))), ("5", Some(json!(["2"]))), ("4", Some(json!(["2", "3"]))), ("0", None)];
    for (level, expectations) in forms {
        let mut answers = satisfied_at(&form, level);
        match expectations {
            Some(codes) => answers["expectations"] = codes,
            None => drop(answers.as_object_mut().unwrap().remove("expectations")),
        }
        let invitation = app.invite(&wave, "00001", Some("AG1"), 1).await.remove(0);
        assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
    }
    wave
}

async fn download(app: &TestApp, path: &str) -> (u16, Vec<u8>) {
    let response = app.api.get(app.url(path)).bearer_auth(&app.admin_token).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

/// The CSV's header and rows as maps of column to text.
fn read_csv(bytes: &[u8]) -> (Vec<String>, Vec<std::collections::HashMap<String, String>>) {
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows =
        reader.records().map(|r| header.iter().cloned().zip(r.unwrap().iter().map(String::from)).collect()).collect();
    (header, rows)
}

fn close(text: &str, expected: f64) -> bool {
    text.parse::<f64>().is_ok_and(|x| (x - expected).abs() < 1e-9)
}

async fn item_table_reads_back_as_csv_and_json_with_shares_of_valid_answers_and_a_missing_answer(app: TestApp) {
    app.seed_places().await;
    let wave = four_forms(&app).await;
    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/report.csv?table=items&level=commune")).await;
    assert_eq!(status, 200);
    let (header, rows) = read_csv(&bytes);
    assert_eq!(
        header,
        [
            "locality_code",
            "locality_name",
            "level",
            "agency_code",
            "agency_name",
            "responses",
            "item_id",
            "item_label",
            "option_code",
            "option_label",
            "missing",
            "count",
            "share",
            "answered",
            "positive_share",
            "suppressed"
        ]
    );
    let form = app.form("sipas-2017").await;
    let options: usize = form["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "text")
        .map(|i| i["options"].as_array().unwrap().len())
        .sum();
    assert_eq!(rows.len(), 2 * options, "the whole wave and the commune, every option of every choice item");
    let find = |locality: &str, item: &str, code: &str| {
        rows.iter()
            .find(|r| r["locality_code"] == locality && r["item_id"] == item && r["option_code"] == code)
            .unwrap_or_else(|| panic!("no row {locality} {item} {code}"))
    };
    // sat_access: 5, 5, 4 and one "0": 3 valid answers of 4 forms.
    let very = find("", "sat_access", "5");
    assert_eq!((&very["level"][..], &very["responses"][..], &very["count"][..]), ("wave", "4", "2"));
    assert!(close(&very["share"], 200.0 / 3.0), "unrounded share of valid answers: {very:?}");
    assert_eq!((&very["answered"][..], &very["missing"][..], &very["suppressed"][..]), ("3", "false", "false"));
    assert!(close(&very["positive_share"], 100.0), "the access index: 3 of 3 at 4 or 5");
    let blank = find("", "sat_access", "0");
    assert_eq!((&blank["count"][..], &blank["missing"][..]), ("1", "true"));
    assert!(close(&blank["share"], 25.0), "a missing answer: 1 of all 4 forms: {blank:?}");
    assert!(close(&find("", "sat_access", "1")["share"], 0.0));
    // Expectations: 3 answered; "2" chosen by all 3 of them.
    let simplify = find("00001", "expectations", "2");
    assert_eq!(
        (&simplify["locality_name"][..], &simplify["count"][..], &simplify["answered"][..]),
        ("Xã Một Một", "3", "3")
    );
    assert!(close(&simplify["share"], 100.0));
    assert_eq!(simplify["positive_share"], "", "nine indices on the item: none is the item's");

    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=items&level=commune")).await;
    assert_eq!(json["table"], "items");
    let json_rows = json["rows"].as_array().unwrap();
    assert_eq!(json_rows.len(), rows.len());
    let row = |code: &str| {
        json_rows
            .iter()
            .find(|r| r["locality_code"] == "00001" && r["item_id"] == "sat_access" && r["option_code"] == code)
            .unwrap()
    };
    assert_eq!(
        (&row("4")["count"], &row("4")["answered"], &row("4")["suppressed"]),
        (&json!(1), &json!(3), &json!(false))
    );
    assert_eq!(row("4")["share"], json!(100.0 / 3.0));
    assert_eq!((&row("0")["missing"], &row("0")["share"]), (&json!(true), &json!(25.0)));
    assert_eq!(row("0")["agency_code"], Value::Null, "grouped by commune only");

    let (status, _) = download(&app, &format!("/api/v1/waves/{wave}/report?table=nothing")).await;
    assert_eq!(status, 422);
}

async fn expectations_are_ranked_by_their_share_of_the_declared_denominator(app: TestApp) {
    app.seed_places().await;
    // The shipped form declares nothing: shares of every valid form (3 of 4 chose "2").
    let wave = four_forms(&app).await;
    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=expectations")).await;
    assert_eq!(json["table"], "expectations");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9, "the whole wave's nine options, no other item");
    let ranked: Vec<(&str, i64, f64)> = rows
        .iter()
        .take(3)
        .map(|r| (r["option_code"].as_str().unwrap(), r["rank"].as_i64().unwrap(), r["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(ranked, [("2", 1, 75.0), ("1", 2, 25.0), ("3", 2, 25.0)]);
    assert_eq!((&rows[3]["rank"], &rows[3]["count"], &rows[8]["share"]), (&json!(4), &json!(0), &json!(0.0)));
    assert_eq!((&rows[0]["denominator"], &rows[0]["answered"]), (&json!("valid_forms"), &json!(3)));

    // A form that declares "answered": shares of the 3 who answered the question.
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{SHIPPED}/sipas-2017.json")).unwrap()).unwrap();
    edited["version"] = json!("2099.1");
    let item = edited["items"].as_array_mut().unwrap().iter_mut().find(|i| i["id"] == "expectations").unwrap();
    item["denominator"] = json!("answered");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(SHIPPED).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("sipas-2017.json"), edited.to_string()).unwrap();
    let restarted = app.another_instance(|settings| settings.forms_dir = dir.path().to_path_buf()).await;
    let wave = four_forms(&restarted).await;
    let (status, bytes) = download(&restarted, &format!("/api/v1/waves/{wave}/report.csv?table=expectations")).await;
    assert_eq!(status, 200);
    let (header, rows) = read_csv(&bytes);
    assert_eq!(
        &header[6..],
        [
            "item_id",
            "item_label",
            "rank",
            "option_code",
            "option_label",
            "count",
            "share",
            "denominator",
            "answered",
            "suppressed",
            "item_rank"
        ]
    );
    let first: Vec<(&str, &str, &str)> =
        rows.iter().take(3).map(|r| (&r["option_code"][..], &r["rank"][..], &r["count"][..])).collect();
    assert_eq!(first, [("2", "1", "3"), ("1", "2", "1"), ("3", "2", "1")]);
    assert!(close(&rows[0]["share"], 100.0) && close(&rows[1]["share"], 100.0 / 3.0), "{:?}", &rows[..2]);
    assert_eq!(rows[0]["denominator"], "answered");
}

async fn workbook_has_item_and_expectation_sheets_with_numbers_and_a_chart(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    app.seed_places().await;
    let wave = four_forms(&app).await;
    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/report.xlsx")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    let names = workbook.sheet_names();
    assert!(names.contains(&"Từng câu hỏi".to_string()) && names.contains(&"Mong đợi".to_string()), "{names:?}");
    let form = app.form("sipas-2017").await;
    let text_of = |id: &str| form["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["text"].clone();

    let items = workbook.worksheet_range("Từng câu hỏi").unwrap();
    assert_eq!(items.get_value((0, 3)).unwrap().to_string(), "Tỷ lệ (%)");
    let row = (0..items.height() as u32)
        .find(|&r| {
            items.get_value((r, 0)).map(|v| v.to_string()) == text_of("sat_access").as_str().map(String::from)
                && items.get_value((r, 1)).map(|v| v.to_string()).as_deref() == Some("Rất hài lòng")
        })
        .expect("a row for sat_access, Rất hài lòng");
    assert_eq!(items.get_value((row, 2)), Some(&Data::Float(2.0)));
    assert_eq!(items.get_value((row, 3)), Some(&Data::Float(200.0 / 3.0)));
    assert_eq!(items.get_value((row, 4)), Some(&Data::Float(3.0)), "valid answers");
    assert_eq!(items.get_value((row, 5)), Some(&Data::Float(100.0)), "the item's index");

    let expectations = workbook.worksheet_range("Mong đợi").unwrap();
    assert_eq!(expectations.get_value((0, 0)).unwrap().to_string(), text_of("expectations").as_str().unwrap());
    assert_eq!(expectations.get_value((2, 1)).unwrap().to_string(), "Nội dung");
    assert_eq!(expectations.get_value((3, 0)), Some(&Data::Float(1.0)), "rank");
    assert_eq!(expectations.get_value((3, 1)).unwrap().to_string(), "Tiếp tục đơn giản hóa thủ tục hành chính");
    assert_eq!(expectations.get_value((3, 2)), Some(&Data::Float(3.0)));
    assert_eq!(expectations.get_value((3, 3)), Some(&Data::Float(75.0)), "3 of 4 valid forms");
    let method = workbook.worksheet_range("Phương pháp").unwrap();
    let lines: Vec<String> =
        (0..method.height() as u32).filter_map(|r| method.get_value((r, 1))).map(|v| v.to_string()).collect();
    assert!(lines.iter().any(|l| l.contains("trên tổng số phiếu của đơn vị")), "missing answers' share explained");

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let chart = zip.by_name("xl/charts/chart1.xml").map(|f| f.size()).unwrap_or(0);
    assert!(chart > 0, "a native chart of the expectations");
}

fn distribution<'a>(rows: &'a [Value], locality: &str, agency: Option<&str>, item: &str, code: &str) -> &'a Value {
    rows.iter()
        .find(|r| {
            r["locality_code"].as_str().unwrap_or("") == locality
                && r["agency_code"].as_str() == agency
                && r["item_id"] == item
                && r["option_code"] == code
        })
        .unwrap_or_else(|| panic!("no row {locality} {agency:?} {item} {code}"))
}

async fn a_small_communes_distribution_is_hidden_and_its_district_minus_siblings_does_not_give_it(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    // District 001: 6 forms at 5 in 00001, 3 at 2 in 00002 (below 5). District 002: 7 at 4.
    for (commune, agency, level, count) in
        [("00001", "AG1", "5", 6), ("00002", "AG1", "2", 3), ("00003", "AG2", "4", 7)]
    {
        for invitation in app.invite(&wave, commune, Some(agency), count).await {
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }
    let report = |query: &'static str| {
        let (app, wave) = (&app, &wave);
        async move {
            app.get_json(&format!("/api/v1/waves/{wave}/report?table=items&{query}")).await["rows"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let communes = report("level=commune").await;
    let small = distribution(&communes, "00002", None, "sat_access", "2");
    assert_eq!(
        (&small["count"], &small["share"], &small["suppressed"], &small["answered"]),
        (&Value::Null, &Value::Null, &json!(true), &json!(3)),
        "{small}"
    );
    assert_eq!(small["positive_share"], Value::Null);
    // The district (9 forms) is published, so its other commune is hidden too: 001 minus
    // 00001 would otherwise be 00002.
    let districts = report("level=district").await;
    let district = distribution(&districts, "001", None, "sat_access", "2");
    assert_eq!((&district["count"], &district["suppressed"]), (&json!(3), &json!(false)));
    let sibling = distribution(&communes, "00001", None, "sat_access", "5");
    assert_eq!((&sibling["count"], &sibling["suppressed"]), (&Value::Null, &json!(true)), "{sibling}");
    // Nor through the agency's tables: AG1 holds both communes.
    let by_agency = report("level=commune&by=agency").await;
    for commune in ["00001", "00002"] {
        assert_eq!(distribution(&by_agency, commune, Some("AG1"), "sat_access", "5")["suppressed"], true);
    }
    let other = distribution(&communes, "00003", None, "sat_access", "4");
    assert_eq!((&other["count"], &other["suppressed"]), (&json!(7), &json!(false)));
    // Everyone chose "Nam": a published total would say each hidden commune did, so no
    // total of theirs is published, up to the whole wave.
    assert_eq!(distribution(&districts, "001", None, "gender", "1")["suppressed"], true);
    let whole = report("").await;
    let gender = distribution(&whole, "", None, "gender", "1");
    assert_eq!((&gender["suppressed"], &gender["answered"]), (&json!(true), &json!(16)));
    // The indices keep their own pattern.
    let results = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    let access =
        results["groups"][0]["indices"].as_array().unwrap().iter().find(|i| i["id"] == "access").unwrap().clone();
    assert_eq!(access["value"], json!(200.0 / 3.0));
}

async fn expectations_asked_one_by_one_are_ranked_against_each_other(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    app.seed_places().await;
    let form = app.form("sipas-2023").await;
    let wave = app.open_wave_with(&json!({"name": "Đợt", "form_id": "sipas-2023", "min_cell": 1})).await;
    let expectations: Vec<String> = form["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "expectation")
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expectations.len(), 10);
    // Of five forms, the i-th expectation is wished for ("Rất mong muốn") by (i mod 5) + 1.
    for j in 0..5 {
        let answers = crate::helpers::complete_answers(&form, |item| {
            let i = expectations.iter().position(|e| item["id"] == e.as_str())?;
            Some(json!(if j < i % 5 + 1 { "4" } else { "1" }))
        });
        let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
        let response = app.answer(&invitation.code, &answers).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=expectations")).await;
    let item_rank = |id: &str| {
        let rows = json["rows"].as_array().unwrap();
        let ranks: Vec<&Value> = rows.iter().filter(|r| r["item_id"] == id).map(|r| &r["item_rank"]).collect();
        assert!(ranks.windows(2).all(|w| w[0] == w[1]), "one place per item: {ranks:?}");
        ranks[0].clone()
    };
    // 100% for the 5th and 10th, 80% for the 4th and 9th, …, 20% for the 1st and 6th.
    assert_eq!(item_rank("expect_facilities"), json!(1));
    assert_eq!(item_rank("expect_feedback"), json!(1));
    assert_eq!(item_rank("expect_effectiveness"), json!(3));
    assert_eq!(item_rank("expect_policy_info"), json!(9));
    assert_eq!(item_rank("expect_competence"), json!(9));

    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/report.xlsx")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = workbook.worksheet_range("Mong đợi").unwrap();
    let text_of = |id: &str| form["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["text"].clone();
    assert_eq!(sheet.get_value((0, 0)).unwrap().to_string(), "Các mong đợi xếp theo tỷ lệ mong muốn");
    let row = |r: u32| {
        (
            sheet.get_value((r, 0)).cloned(),
            sheet.get_value((r, 1)).unwrap().to_string(),
            sheet.get_value((r, 2)).cloned(),
        )
    };
    assert_eq!(
        row(2),
        (Some(Data::Float(1.0)), text_of("expect_facilities").as_str().unwrap().into(), Some(Data::Float(100.0)))
    );
    assert_eq!(row(4).0, Some(Data::Float(3.0)));
    assert_eq!(
        row(11),
        (Some(Data::Float(9.0)), text_of("expect_competence").as_str().unwrap().into(), Some(Data::Float(20.0)))
    );
}
