//! Agencies' lists in, a reproducible sample out.

use crate::helpers::{Backend, TestApp, xlsx};
use crate::on_both_backends;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};

on_both_backends!(
    list_is_reported_line_by_line_and_enters_the_frame_only_when_confirmed,
    xlsx_with_title_block_and_merged_header_is_read,
    unreadable_file_is_refused_and_changes_nothing,
    corrected_list_replaces_the_earlier_one,
    sample_is_drawn_per_stratum_recorded_and_reproducible,
);

/// A list shaped like a real one: semicolons, BOM, a TCVN3 name, an old 11-digit mobile, a
/// duplicate, a blank line, a transaction from the wrong year, an ID column never to be kept.
const MESSY_CSV: &str = "\u{feff}STT;Họ và tên;Địa chỉ;Số điện thoại;Số CCCD;Ngày trả kết quả;Xã/Phường\n\
1;Nguyễn Văn An;Thôn Đông;01682345678;001099001234;15/03/2026;Xã Một Một\n\
2;Trần Thị Bình;Thôn Tây;+84 912 000 111;001099005678;02/04/2026;00002\n\
\n\
3;NguyÔn V¨n C\u{ad}êng;Th«n Nam;0933333333;;10/05/2026;xa mot mot\n\
4;Nguyễn Văn An;Nơi khác;0382345678;;20/03/2026;Xã Một Một\n\
5;Phạm Thị Dung;Thôn Bắc;0987654321;;12/12/2025;00001\n\
6;Lê Văn Em;Xóm Chợ;0944444444;;01/06/2026;Xã Không Có\n";

pub async fn wave_with_period(app: &TestApp) -> String {
    let created = app
        .post(
            "/api/v1/waves",
            &json!({"name": "SIPAS 2026", "form_id": "sipas-2017", "localities": ["01"], "period_from": "2026-01-01", "period_to": "2026-12-31"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

pub async fn upload(
    app: &TestApp,
    token: &str,
    wave: &str,
    name: &str,
    bytes: Vec<u8>,
    agency: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    if let Some(agency) = agency {
        form = form.text("agency_code", agency.to_string());
    }
    app.api
        .post(app.url(&format!("/api/v1/waves/{wave}/lists")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Uploads `csv` as AG1's list of `wave` and confirms it; returns the upload's summary.
pub async fn confirmed_list(app: &TestApp, wave: &str, csv: &str) -> Value {
    let body: Value =
        upload(app, &app.admin_token, wave, "l.csv", csv.as_bytes().to_vec(), Some("AG1")).await.json().await.unwrap();
    let id = body["upload_id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/uploads/{id}/confirm"), &json!({})).await.status(), 200);
    body
}

fn line(body: &Value, line: u64) -> &Value {
    body["report"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == line)
        .unwrap_or_else(|| panic!("no line {line}: {body}"))
}

async fn sample(app: &TestApp, wave: &str, body: Value) -> Value {
    let response = app.post(&format!("/api/v1/waves/{wave}/sample"), &body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn list_is_reported_line_by_line_and_enters_the_frame_only_when_confirmed(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let response =
        upload(&app, &app.admin_token, &wave, "danh-sach.csv", MESSY_CSV.as_bytes().to_vec(), Some("AG1")).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["rows"].as_u64(), body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(6), Some(3), Some(2)),
        "{body}"
    );
    assert_eq!(line(&body, 2)["status"], "accepted");
    assert_eq!(line(&body, 5)["status"], "accepted", "TCVN3 text and a name without diacritics");
    assert_eq!(line(&body, 6)["status"], "duplicate", "same phone once renumbered");
    assert_eq!(line(&body, 6)["reason"], "trùng với dòng 2, đã gộp");
    assert!(line(&body, 7)["reason"].as_str().unwrap().contains("ngoài kỳ khảo sát"));
    assert!(line(&body, 8)["reason"].as_str().unwrap().contains("không tìm thấy địa bàn"));

    let before = app
        .post(
            &format!("/api/v1/waves/{wave}/sample"),
            &json!({"level": "commune", "method": "quota", "quota": 10, "seed": 1}),
        )
        .await;
    assert_eq!(before.status(), 422, "nothing in the frame before confirmation");

    let upload_id = body["upload_id"].as_str().unwrap();
    let report = app.get_as(&app.admin_token, &format!("/api/v1/uploads/{upload_id}/report.csv")).await;
    assert_eq!(report.status(), 200);
    let csv = report.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}') && csv.contains("6,\"Trùng, đã gộp\",\"trùng với dòng 2, đã gộp\""), "{csv}");

    let confirmed = app.post(&format!("/api/v1/uploads/{upload_id}/confirm"), &json!({})).await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.post(&format!("/api/v1/uploads/{upload_id}/confirm"), &json!({})).await.status(), 409);

    let names = stored(
        &app,
        "SELECT name || '|' || coalesce(phone, '') || '|' || locality_code AS value FROM contacts ORDER BY line",
    );
    assert_eq!(
        names,
        ["Nguyễn Văn An|0382345678|00001", "Trần Thị Bình|0912000111|00002", "Nguyễn Văn Cường|0933333333|00001"]
    );
    let columns = stored(&app, "SELECT group_concat(address, ',') AS value FROM contacts");
    assert!(!columns.join("").contains("001099"), "ID numbers are never stored");
}

async fn xlsx_with_title_block_and_merged_header_is_read(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let rows: Vec<Vec<&str>> = vec![
        vec!["UBND HUYỆN MỘT"],
        vec!["DANH SÁCH CÁ NHÂN, TỔ CHỨC ĐÃ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"],
        vec![],
        vec!["Họ và tên", "Địa chỉ", "Thông tin liên hệ", "", "Xã"],
        vec!["", "", "Điện thoại", "Email", ""],
        vec!["Nguyễn Văn An", "Thôn Đông", "912345678", "an@example.vn", "00001"],
        vec!["Công ty TNHH Bình Minh", "Khu công nghiệp", "", "lienhe@binhminh.vn", "00002"],
    ];
    let response =
        upload(&app, &app.admin_token, &wave, "danh-sach.xlsx", xlsx(&rows, &["C4:D4", "A1:E1"]), Some("AG1")).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 2, "{body}");
    assert_eq!(line(&body, 6)["status"], "accepted");
    let upload_id = body["upload_id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/uploads/{upload_id}/confirm"), &json!({})).await.status(), 200);
    let phones =
        stored(&app, "SELECT coalesce(phone, '-') || '|' || coalesce(email, '-') AS value FROM contacts ORDER BY line");
    assert_eq!(phones, ["0912345678|an@example.vn", "-|lienhe@binhminh.vn"], "leading zero restored");
}

async fn unreadable_file_is_refused_and_changes_nothing(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let broken =
        upload(&app, &app.admin_token, &wave, "hong.xlsx", b"PK\x03\x04 not a workbook".to_vec(), Some("AG1")).await;
    assert_eq!(broken.status(), 422);
    assert!(broken.json::<Value>().await.unwrap()["errors"]["file"].as_str().unwrap().contains("không đọc được tệp"));
    let headless = upload(&app, &app.admin_token, &wave, "x.csv", b"a,b\n1,2\n".to_vec(), Some("AG1")).await;
    assert_eq!(headless.status(), 422);
    assert!(
        headless.json::<Value>().await.unwrap()["errors"]["file"]
            .as_str()
            .unwrap()
            .contains("không tìm thấy dòng tiêu đề")
    );
    assert_eq!(stored(&app, "SELECT id AS value FROM list_uploads").len(), 0);
}

async fn corrected_list_replaces_the_earlier_one(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let first = "Họ tên,SĐT,Xã\nNguyễn Văn An,0912345678,00001\nTrần Thị Bình,0912000111,00001\n";
    let second = "Họ tên,SĐT,Xã\nNguyễn Văn An,0912345678,00001\n";
    for (list, expected) in [(first, 2usize), (second, 1)] {
        let body: Value = upload(&app, &app.admin_token, &wave, "l.csv", list.as_bytes().to_vec(), Some("AG1"))
            .await
            .json()
            .await
            .unwrap();
        let id = body["upload_id"].as_str().unwrap();
        let confirmed: Value =
            app.post(&format!("/api/v1/uploads/{id}/confirm"), &json!({})).await.json().await.unwrap();
        assert_eq!(confirmed["replaced"], usize::from(expected == 1), "the corrected list replaces the first");
        assert_eq!(confirmed["sample_reset"], expected == 1, "the earlier sample no longer stands");
        let outcome =
            sample(&app, &wave, json!({"level": "commune", "method": "quota", "quota": 100, "seed": 3})).await;
        assert_eq!(outcome["strata"][0]["population"], expected);
    }
    // Another agency's list stands beside it; an officer cannot touch AG1's list.
    let officer = app.official("agency_officer", Some("AG2")).await;
    let own =
        upload(&app, &officer, &wave, "l.csv", "Họ tên,SĐT,Xã\nLê Văn Em,0944444444,00003\n".as_bytes().to_vec(), None)
            .await;
    assert_eq!(own.status(), 201);
    let foreign = upload(&app, &officer, &wave, "l.csv", first.as_bytes().to_vec(), Some("AG1")).await;
    assert_eq!(foreign.status(), 403);
}

async fn sample_is_drawn_per_stratum_recorded_and_reproducible(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let mut csv = String::from("Họ tên,SĐT,Xã\n");
    for i in 0..120 {
        let commune = ["00001", "00002", "00003"][i % 3];
        csv.push_str(&format!("Người số {i},09{i:08},{commune}\n"));
    }
    let body: Value =
        upload(&app, &app.admin_token, &wave, "l.csv", csv.into_bytes(), Some("AG1")).await.json().await.unwrap();
    assert_eq!(body["accepted"], 120);
    let id = body["upload_id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/uploads/{id}/confirm"), &json!({})).await.status(), 200);

    let design = json!({"level": "district", "by_agency": true, "method": "slovin", "margin": 0.05, "seed": 20261122});
    let first = sample(&app, &wave, design.clone()).await;
    // District 001 holds communes 00001 and 00002 (80 people), district 002 holds 40.
    assert_eq!(
        first["strata"],
        json!([
            {"locality_code": "001", "agency_code": "AG1", "population": 80, "sample": 67, "reserve": 13},
            {"locality_code": "002", "agency_code": "AG1", "population": 40, "sample": 37, "reserve": 3}
        ])
    );
    let chosen =
        |app: &TestApp| stored(app, "SELECT name AS value FROM contacts WHERE selection = 'sample' ORDER BY name");
    let first_sample = chosen(&app);
    assert_eq!(first_sample.len(), 104);
    let second = sample(&app, &wave, design).await;
    assert_eq!(second["seed"], 20261122);
    assert_eq!(chosen(&app), first_sample, "same lists and seed, same sample");
    let other =
        sample(&app, &wave, json!({"level": "district", "by_agency": true, "method": "slovin", "seed": 7})).await;
    assert_ne!(chosen(&app), first_sample, "another seed, another sample");
    assert_eq!(other["seed"], 7);

    let history = app.get_json(&format!("/api/v1/waves/{wave}/sample")).await;
    let draws = history["draws"].as_array().unwrap();
    assert_eq!(draws.len(), 3);
    assert!(draws.iter().all(|d| d["drawn_by"].is_string() && d["drawn_at"].is_string()));
    assert_eq!(draws[2]["seed"], 20261122, "oldest last");
    let bad = app.post(&format!("/api/v1/waves/{wave}/sample"), &json!({"level": "district", "method": "quota"})).await;
    assert_eq!(bad.status(), 422);
}

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Text)]
    value: String,
}

/// First column of a query, straight from the database.
pub fn stored(app: &TestApp, sql: &str) -> Vec<String> {
    let sql = match app.backend {
        Backend::Sqlite => sql.to_string(),
        Backend::Postgres => sql.replace("group_concat(address, ',')", "string_agg(address, ',')"),
    };
    let cells: Vec<Cell> = match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.strip_prefix("sqlite://").unwrap();
            diesel::sql_query(sql).load(&mut SqliteConnection::establish(path).unwrap()).unwrap()
        }
        Backend::Postgres => {
            diesel::sql_query(sql).load(&mut PgConnection::establish(&app.database_url).unwrap()).unwrap()
        }
    };
    cells.into_iter().map(|c| c.value).collect()
}
