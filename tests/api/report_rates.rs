//! The report's response rates (per channel, agency and locality, hand-counted) and its
//! comments (only at places of at least k answers, in no fixed order, safe in a spreadsheet).

use crate::delivery::district_wave_with_one_answer;
use crate::helpers::{TestApp, complete_answers};
use crate::on_both_backends;
use serde_json::{Value, json};
use std::collections::BTreeSet;

on_both_backends!(
    response_rates_count_codes_issued_and_used_per_channel_agency_and_locality,
    comments_show_only_at_places_of_k_answers_and_are_neutralised_in_csv
);

async fn download(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>) {
    let response = app.api.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

/// `(invited, answered)` of the row of `dimension` whose `key` field is `value`.
fn counts(rows: &Value, dimension: &str, key: &str, value: &str) -> (u64, u64) {
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dimension"] == dimension && (key.is_empty() || r[key] == value))
        .unwrap_or_else(|| panic!("no {dimension} row with {key} = {value}: {rows}"));
    (row["invited"].as_u64().unwrap(), row["answered"].as_u64().unwrap())
}

async fn response_rates_count_codes_issued_and_used_per_channel_agency_and_locality(app: TestApp) {
    // AG1's list: two letters in 00001 (one answered), two SMS in 00002, a visit in 00003.
    let wave = district_wave_with_one_answer(&app).await;
    // Three codes Nội vụ issues for AG2 in 00003, two of them answered.
    let form = app.form("sipas-2017").await;
    for (i, invitation) in app.invite(&wave, "00003", Some("AG2"), 3).await.iter().enumerate() {
        if i < 2 {
            assert_eq!(app.answer(&invitation.code, &complete_answers(&form, |_| None)).await.status(), 201);
        }
    }
    let json =
        app.get_json(&format!("/api/v1/waves/{wave}/report?table=response_rates&level=district&by=agency")).await;
    assert_eq!(json["table"], "response_rates");
    let rows = &json["rows"];
    assert_eq!(rows[0]["dimension"], "wave", "the whole wave first: {rows}");
    assert_eq!(counts(rows, "wave", "", ""), (8, 3));
    assert_eq!(rows[0]["rate"], json!(37.5));
    assert_eq!(counts(rows, "channel", "channel", "letter"), (2, 1));
    assert_eq!(counts(rows, "channel", "channel", "sms"), (2, 0));
    assert_eq!(counts(rows, "channel", "channel", "enumerator"), (1, 0));
    assert_eq!(counts(rows, "channel", "channel", "direct"), (3, 2));
    let channels: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dimension"] == "channel")
        .map(|r| r["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["letter", "sms", "enumerator", "direct"]);
    assert_eq!(counts(rows, "agency", "agency_code", "AG1"), (5, 1));
    assert_eq!(counts(rows, "agency", "agency_code", "AG2"), (3, 2));
    let strata: Vec<(String, String, u64, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dimension"] == "locality")
        .map(|r| {
            let code = |f: &str| r[f].as_str().unwrap().to_string();
            (
                code("locality_code"),
                code("agency_code"),
                r["invited"].as_u64().unwrap(),
                r["answered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        strata,
        [("001".into(), "AG1".into(), 4, 1), ("002".into(), "AG1".into(), 1, 0), ("002".into(), "AG2".into(), 3, 2)]
    );

    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=response_rates&level=commune")).await;
    let rows = &json["rows"];
    assert_eq!(counts(rows, "locality", "locality_code", "00001"), (2, 1));
    assert_eq!(counts(rows, "locality", "locality_code", "00002"), (2, 0));
    assert_eq!(counts(rows, "locality", "locality_code", "00003"), (4, 2));
    assert!(rows.as_array().unwrap().iter().all(|r| r["dimension"] != "agency"), "agencies with by=agency only");

    let officer = app.official("agency_officer", Some("AG2")).await;
    let response =
        app.get_as(&officer, &format!("/api/v1/waves/{wave}/report?table=response_rates&level=district")).await;
    let rows = response.json::<Value>().await.unwrap()["rows"].clone();
    assert_eq!(counts(&rows, "wave", "", ""), (3, 2), "an officer sees its agency only: {rows}");
    assert_eq!(rows.as_array().unwrap().iter().filter(|r| r["dimension"] == "locality").count(), 1);

    let (status, bytes) = download(
        &app,
        &app.admin_token,
        &format!("/api/v1/waves/{wave}/report.csv?table=response_rates&level=district"),
    )
    .await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "dimension",
            "locality_code",
            "locality_name",
            "level",
            "agency_code",
            "agency_name",
            "channel",
            "channel_label",
            "invited",
            "answered",
            "rate"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let district = records.iter().find(|r| &r[0] == "locality" && &r[1] == "001").unwrap();
    assert_eq!(
        (&district[2], &district[3], &district[8], &district[9], &district[10]),
        ("Huyện Một", "district", "4", "1", "25")
    );
    let direct = records.iter().find(|r| &r[6] == "direct").unwrap();
    assert!((direct[10].parse::<f64>().unwrap() - 200.0 / 3.0).abs() < 1e-9, "unrounded: {direct:?}");

    use calamine::{Data, Reader, Xlsx};
    let (status, bytes) =
        download(&app, &app.admin_token, &format!("/api/v1/waves/{wave}/report.xlsx?level=district")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let summary = workbook.worksheet_range("Tổng hợp").unwrap();
    assert_eq!(summary.get_value((3, 1)), Some(&Data::Float(8.0)), "codes issued, from the same counts");
    assert_eq!(summary.get_value((5, 1)), Some(&Data::Float(37.5)));
    let sheet = workbook.worksheet_range("Tỷ lệ phản hồi").unwrap();
    assert_eq!(sheet.get_value((1, 0)).unwrap().to_string(), "Toàn đợt");
    assert_eq!((sheet.get_value((1, 4)), sheet.get_value((1, 5))), (Some(&Data::Float(8.0)), Some(&Data::Float(3.0))));
    assert_eq!(sheet.get_value((1, 6)), Some(&Data::Float(37.5)), "rates are numbers");
    let letter =
        (1..sheet.height() as u32).find(|&r| sheet.get_value((r, 3)) == Some(&Data::String("Thư qua bưu điện".into())));
    assert_eq!(sheet.get_value((letter.unwrap(), 6)), Some(&Data::Float(50.0)));

    // Contact data deleted, the channels stay: they are kept on the invitations.
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/purge"), &json!({"force": true})).await.status(), 200);
    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=response_rates")).await;
    assert_eq!(counts(&json["rows"], "channel", "channel", "letter"), (2, 1), "after the purge: {json}");
    assert_eq!(counts(&json["rows"], "channel", "channel", "direct"), (3, 2));
}

/// Answers `count` codes of `locality` × `agency`, the first ones with these comments.
async fn answer_with_comments(
    app: &TestApp,
    wave: &str,
    locality: &str,
    agency: &str,
    count: usize,
    comments: &[&str],
) {
    let form = app.form("sipas-2017").await;
    for (i, invitation) in app.invite(wave, locality, Some(agency), count).await.iter().enumerate() {
        let comment = comments.get(i).map(|c| json!(c));
        let answers = complete_answers(&form, |item| if item["id"] == "comment" { comment.clone() } else { None });
        assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
    }
}

/// `(item, locality, agency, text)` of every comment row.
fn comment_set(rows: &Value) -> BTreeSet<(String, String, String, String)> {
    let text = |r: &Value, f: &str| r[f].as_str().unwrap_or("").to_string();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (text(r, "item_id"), text(r, "locality_code"), text(r, "agency_code"), text(r, "text")))
        .collect()
}

async fn comments_show_only_at_places_of_k_answers_and_are_neutralised_in_csv(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave_with(&json!({"name": "Đợt ý kiến", "form_id": "sipas-2017", "min_cell": 3})).await;
    let formula = "=HYPERLINK(\"http://x.example\",\"bấm\")";
    // 00001 (2 answers) and 00002 (1) are too few apart: their comments show at district 001,
    // where AG1 has 3; 00003 has 3 answers of AG2, one with a comment.
    answer_with_comments(&app, &wave, "00001", "AG1", 2, &["Ghế chờ còn ít", formula]).await;
    answer_with_comments(&app, &wave, "00002", "AG1", 1, &["Cán bộ nhiệt tình"]).await;
    answer_with_comments(&app, &wave, "00003", "AG2", 3, &["Thủ tục nhanh"]).await;

    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=comments")).await;
    assert_eq!(json["table"], "comments");
    let expected: BTreeSet<(String, String, String, String)> = [
        ("001", "AG1", "Ghế chờ còn ít"),
        ("001", "AG1", formula),
        ("001", "AG1", "Cán bộ nhiệt tình"),
        ("00003", "AG2", "Thủ tục nhanh"),
    ]
    .into_iter()
    .map(|(l, a, t)| ("comment".to_string(), l.to_string(), a.to_string(), t.to_string()))
    .collect();
    assert_eq!(comment_set(&json["rows"]), expected, "{json}");
    assert_eq!(json["rows"].as_array().unwrap().len(), 4);
    let first = &json["rows"].as_array().unwrap().iter().find(|r| r["locality_code"] == "001").unwrap();
    assert_eq!((&first["locality_name"], &first["level"]), (&json!("Huyện Một"), &json!("district")));
    assert!(first.get("submitted_on").is_none() && first.get("month").is_none(), "no date: {first}");

    let (status, bytes) =
        download(&app, &app.admin_token, &format!("/api/v1/waves/{wave}/report.csv?table=comments")).await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["item_id", "item_label", "locality_code", "locality_name", "level", "agency_code", "agency_name", "text"]
    );
    let texts: BTreeSet<String> = reader.records().map(|r| r.unwrap()[7].to_string()).collect();
    assert!(texts.contains(&format!("'{formula}")), "a formula-looking comment is neutralised: {texts:?}");
    assert!(!texts.contains(formula));

    let officer = app.official("agency_officer", Some("AG2")).await;
    let response = app.get_as(&officer, &format!("/api/v1/waves/{wave}/report?table=comments")).await;
    let rows = response.json::<Value>().await.unwrap()["rows"].clone();
    assert_eq!(comment_set(&rows).into_iter().map(|c| c.3).collect::<Vec<_>>(), ["Thủ tục nhanh"], "own agency only");
    let enumerator = app.official("enumerator", None).await;
    assert_eq!(app.get_as(&enumerator, &format!("/api/v1/waves/{wave}/report?table=comments")).await.status(), 403);

    use calamine::{Reader, Xlsx};
    let (status, bytes) = download(&app, &app.admin_token, &format!("/api/v1/waves/{wave}/report.xlsx")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    assert!(workbook.sheet_names().contains(&"Tỷ lệ phản hồi".to_string()));
    let sheet = workbook.worksheet_range("Ý kiến").unwrap();
    let texts: BTreeSet<String> =
        (1..sheet.height() as u32).map(|r| sheet.get_value((r, 3)).unwrap().to_string()).collect();
    assert_eq!(texts, expected.iter().map(|c| c.3.clone()).collect());
    let places: BTreeSet<String> =
        (1..sheet.height() as u32).map(|r| sheet.get_value((r, 1)).unwrap().to_string()).collect();
    assert_eq!(places, ["Huyện Một", "Xã Hai Một"].into_iter().map(String::from).collect());
    // Listing every comment would read every answer: the workbook lists a random sample.
    let capped = app.another_instance(|settings| settings.report_comments = 1).await;
    let (status, bytes) = download(&capped, &capped.admin_token, &format!("/api/v1/waves/{wave}/report.xlsx")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = workbook.worksheet_range("Ý kiến").unwrap();
    assert!(texts.contains(&sheet.get_value((1, 3)).unwrap().to_string()), "one of the comments");
    assert!(sheet.get_value((2, 3)).is_none_or(|v| *v == calamine::Data::Empty), "only one");
    assert!(sheet.get_value((3, 0)).unwrap().to_string().starts_with("Bảng chỉ liệt kê 1 ý kiến chọn ngẫu nhiên"));

    // A wave of fewer than k answers shows no comment at all.
    let small = app.open_wave_with(&json!({"name": "Đợt nhỏ", "form_id": "sipas-2017", "min_cell": 3})).await;
    answer_with_comments(&app, &small, "00001", "AG1", 2, &["Một", "Hai"]).await;
    let json = app.get_json(&format!("/api/v1/waves/{small}/report?table=comments")).await;
    assert_eq!(json["rows"], json!([]));
    let audit = app.get_json("/api/v1/audit?limit=50").await;
    assert!(audit.to_string().contains("wave.comments"), "audited: {audit}");
}
