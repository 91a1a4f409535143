//! Agencies' lists in, a reproducible sample out.

use crate::helpers::{Backend, TestApp, xlsx};
use crate::on_both_backends;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Value, json};

on_both_backends!(
    list_is_reported_line_by_line_and_enters_the_frame_only_when_confirmed,
    xlsx_with_title_block_and_merged_header_is_read,
    unreadable_file_is_refused_kept_as_failed_and_changes_nothing,
    corrected_list_replaces_the_earlier_one,
    sample_is_drawn_per_stratum_recorded_and_reproducible,
    officer_corrects_the_column_mapping_before_confirming,
    report_downloads_as_an_excel_workbook,
    list_of_100_000_rows_is_imported_with_every_line_reported,
    import_cut_off_by_a_crash_is_failed_with_nothing_it_stored,
    a_list_is_not_replaced_once_invitations_went_out_nor_once_the_wave_is_closed,
    report_of_a_list_with_errors_and_duplicates_across_batches_is_exact_on_either_backend,
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

pub async fn sample(app: &TestApp, wave: &str, body: Value) -> Value {
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
    let db = phieu::storage::Database::connect(&app.database_url, 1).unwrap();
    let mut kept = Vec::new();
    db.copy_kept_file(upload_id, &mut kept).unwrap().unwrap();
    let kept = String::from_utf8(kept).unwrap();
    assert!(kept.contains("Trần Thị Bình") && !kept.contains("001099"), "the kept copy drops the ID column: {kept}");
    assert_eq!(body["columns"]["dropped"], json!([4]));
    let mapped = put_columns(&app, &app.admin_token, upload_id, json!({"name": 1, "phone": 4})).await;
    assert_eq!(mapped.status(), 422, "a column never stored cannot be mapped");
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

async fn unreadable_file_is_refused_kept_as_failed_and_changes_nothing(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let broken =
        upload(&app, &app.admin_token, &wave, "hong.xlsx", b"PK\x03\x04 not a workbook".to_vec(), Some("AG1")).await;
    assert_eq!(broken.status(), 422);
    let broken: Value = broken.json().await.unwrap();
    assert!(broken["errors"]["file"].as_str().unwrap().contains("không đọc được tệp"));
    let headless = upload(&app, &app.admin_token, &wave, "x.csv", b"a,b\n1,2\n".to_vec(), Some("AG1")).await;
    assert_eq!(headless.status(), 422);
    let headless: Value = headless.json().await.unwrap();
    let reason = headless["errors"]["file"].as_str().unwrap();
    assert!(reason.contains("không tìm thấy dòng tiêu đề"));

    // Each upload is kept as failed, with the 422's reason, to be found by its id.
    for refused in [&broken, &headless] {
        let id = refused["upload_id"].as_str().unwrap();
        let shown = app.get_as(&app.admin_token, &format!("/api/v1/uploads/{id}")).await;
        assert_eq!(shown.status(), 200);
        let shown: Value = shown.json().await.unwrap();
        assert_eq!((&shown["status"], &shown["failure"]), (&json!("failed"), &refused["errors"]["file"]));
        assert_eq!((&shown["rows"], &shown["report"]), (&json!(0), &json!([])));
    }
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads"), ["failed", "failed"]);
    assert!(stored(&app, "SELECT id AS value FROM contacts").is_empty());
    assert!(stored(&app, "SELECT reason AS value FROM list_lines").is_empty());
    assert!(stored(&app, "SELECT upload_id AS value FROM list_files").is_empty());

    // A failed upload holds nothing to map again or confirm.
    let id = headless["upload_id"].as_str().unwrap();
    for refused in [
        put_columns(&app, &app.admin_token, id, json!({"name": 0, "address": 1})).await,
        app.post(&format!("/api/v1/uploads/{id}/confirm"), &json!({})).await,
    ] {
        assert_eq!(refused.status(), 409);
        assert_eq!(
            refused.json::<Value>().await.unwrap()["message"],
            "Danh sách này không đọc được nên không thể chọn lại cột hay xác nhận: hãy sửa tệp và tải lên lại."
        );
    }
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads"), ["failed", "failed"]);
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
        let confirmed: Value = app
            .post(&format!("/api/v1/uploads/{id}/confirm"), &json!({"reset_sample": true}))
            .await
            .json()
            .await
            .unwrap();
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

async fn put_columns(app: &TestApp, token: &str, upload_id: &str, columns: Value) -> reqwest::Response {
    app.api
        .put(app.url(&format!("/api/v1/uploads/{upload_id}/columns")))
        .bearer_auth(token)
        .json(&json!({ "columns": columns }))
        .send()
        .await
        .unwrap()
}

async fn officer_corrects_the_column_mapping_before_confirming(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    // "Số liên lạc" is no header the service knows, and the locality sits under "Nơi cư trú":
    // until the officer maps them, the phones go unread and every row lacks a commune.
    let csv = "Họ tên,Địa chỉ,Số liên lạc,Nơi cư trú\n\
               Nguyễn Văn An,Thôn Đông,0912345678,00001\n\
               Trần Thị Bình,Thôn Tây,0912345678,00002\n\
               Lê Văn Cường,Xóm Chợ,0987654321,00003\n";
    let officer = app.official("agency_officer", Some("AG1")).await;
    let first: Value =
        upload(&app, &officer, &wave, "l.csv", csv.as_bytes().to_vec(), None).await.json().await.unwrap();
    assert_eq!(first["columns"]["labels"], json!(["Họ tên", "Địa chỉ", "Số liên lạc", "Nơi cư trú"]));
    assert_eq!(first["columns"]["fields"], json!({"name": 0, "address": 1}), "{first}");
    assert_eq!((first["accepted"].as_u64(), first["rejected"].as_u64()), (Some(3), Some(0)), "agency's own commune");
    let id = first["upload_id"].as_str().unwrap();

    let refused = put_columns(&app, &officer, id, json!({"name": 0, "phone": 0})).await;
    assert_eq!(refused.status(), 422);
    let reason = refused.json::<Value>().await.unwrap()["errors"]["columns"].as_str().unwrap().to_string();
    assert!(reason.contains("cột thứ 1 được chọn cho hai thông tin"), "{reason}");
    let other_agency = app.official("agency_officer", Some("AG2")).await;
    let mapping = json!({"name": 0, "address": 1, "phone": 2, "locality": 3});
    assert_eq!(put_columns(&app, &other_agency, id, mapping.clone()).await.status(), 403);

    let remapped = put_columns(&app, &officer, id, mapping.clone()).await;
    assert_eq!(remapped.status(), 200);
    let remapped: Value = remapped.json().await.unwrap();
    assert_eq!(remapped["upload_id"], id, "the same upload, read again");
    assert_eq!(remapped["columns"]["fields"], mapping);
    assert_eq!((remapped["rows"].as_u64(), remapped["accepted"].as_u64()), (Some(3), Some(2)), "{remapped}");
    assert_eq!(line(&remapped, 3)["status"], "duplicate", "the phone, now read, is the same as line 2's");
    let shown = app.get_as(&officer, &format!("/api/v1/uploads/{id}")).await.json::<Value>().await.unwrap();
    assert_eq!((shown["status"].as_str(), shown["report"].as_array().map(Vec::len)), (Some("pending"), Some(3)));
    assert_eq!(
        stored(&app, "SELECT phone || '|' || locality_code AS value FROM contacts ORDER BY line"),
        ["0912345678|00001", "0987654321|00003"],
        "read with the new mapping, and the first reading is gone"
    );

    // A corrected file from the same agency replaces the pending upload.
    let corrected: Value =
        upload(&app, &officer, &wave, "l.csv", csv.as_bytes().to_vec(), None).await.json().await.unwrap();
    let corrected_id = corrected["upload_id"].as_str().unwrap();
    let mut statuses = stored(&app, "SELECT status AS value FROM list_uploads");
    statuses.sort();
    assert_eq!(statuses, ["pending", "replaced"]);
    assert_eq!(app.post_as(&officer, &format!("/api/v1/uploads/{id}/confirm"), &json!({})).await.status(), 409);
    let id = corrected_id;
    let remapped = put_columns(&app, &officer, id, mapping.clone()).await;
    assert_eq!(remapped.status(), 200);
    assert_eq!(app.post_as(&officer, &format!("/api/v1/uploads/{id}/confirm"), &json!({})).await.status(), 200);
    assert_eq!(put_columns(&app, &officer, id, mapping).await.status(), 409, "a confirmed list is not read again");
    assert_eq!(stored(&app, "SELECT upload_id AS value FROM list_files").len(), 0, "the file goes once confirmed");
}

async fn report_downloads_as_an_excel_workbook(app: TestApp) {
    use calamine::{Reader, Xlsx};
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let body: Value = upload(&app, &app.admin_token, &wave, "l.csv", MESSY_CSV.as_bytes().to_vec(), Some("AG1"))
        .await
        .json()
        .await
        .unwrap();
    let id = body["upload_id"].as_str().unwrap();
    let response = app.get_as(&app.admin_token, &format!("/api/v1/uploads/{id}/report.xlsx")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains(".xlsx"));
    let bytes = response.bytes().await.unwrap();
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = workbook.worksheet_range("Báo cáo").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0], ["Dòng", "Kết quả", "Lý do"]);
    assert_eq!(rows.len(), 7, "a header and six lines");
    assert_eq!(rows[4], ["6", "Trùng, đã gộp", "trùng với dòng 2, đã gộp"]);
    let outsider = app.official("agency_officer", Some("AG2")).await;
    assert_eq!(app.get_as(&outsider, &format!("/api/v1/uploads/{id}/report.xlsx")).await.status(), 403);
}

/// Every 50th row repeats the phone of a row 40,001 rows earlier (or the first row's), and
/// every 100th has no name: spread over many import batches, so duplicates are found across
/// them.
async fn list_of_100_000_rows_is_imported_with_every_line_reported(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    const ROWS: usize = 100_000;
    let mut csv = String::from("Họ và tên,Địa chỉ,Số điện thoại,Ngày trả kết quả,Mã xã\n");
    let (mut duplicates, mut nameless) = (0, 0);
    for i in 0..ROWS {
        let phone = if i % 50 == 49 {
            duplicates += 1;
            format!("09{:08}", i.saturating_sub(40_001))
        } else {
            format!("09{i:08}")
        };
        let name = if i % 100 == 10 {
            nameless += 1;
            String::new()
        } else {
            format!("Người Thứ {i}")
        };
        csv.push_str(&format!("{name},Số {i} đường Trần Phú,{phone},15/03/2026,0000{}\n", 1 + i % 3));
    }
    let response = upload(&app, &app.admin_token, &wave, "lon.csv", csv.into_bytes(), Some("AG1")).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rows"], ROWS);
    assert_eq!(body["rejected"], nameless);
    assert_eq!(body["accepted"], ROWS - nameless - duplicates);
    let report = body["report"].as_array().unwrap();
    assert_eq!(report.len(), ROWS, "a line for every row");
    assert!(report.windows(2).all(|w| w[0]["line"].as_u64() < w[1]["line"].as_u64()), "in file order");
    // Row 99_999 (line 100_001) repeats the phone of row 59_998 (line 60_000).
    assert_eq!(
        report[ROWS - 1],
        json!({"line": 100_001, "status": "duplicate", "reason": "trùng với dòng 60000, đã gộp"})
    );
    assert_eq!(report[10], json!({"line": 12, "status": "rejected", "reason": "thiếu họ tên"}));
    let stored_count = stored(&app, "SELECT CAST(count(*) AS TEXT) AS value FROM contacts");
    assert_eq!(stored_count, [(ROWS - nameless - duplicates).to_string()]);
}

async fn import_cut_off_by_a_crash_is_failed_with_nothing_it_stored(app: TestApp) {
    use phieu::storage::lists::NewUpload;
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let list = "Họ tên,SĐT,Xã\nNguyễn Văn An,0912345678,00001\n";
    let pending: Value = upload(&app, &app.admin_token, &wave, "l.csv", list.as_bytes().to_vec(), Some("AG1"))
        .await
        .json()
        .await
        .unwrap();
    let db = phieu::storage::Database::connect(&app.database_url, 1).unwrap();
    let cut_off = db.begin_import(&NewUpload { wave_id: &wave, agency_code: "AG1", uploaded_by: "crash" }).unwrap();
    db.keep_file(&cut_off, &mut list.as_bytes()).unwrap();
    assert_eq!(app.get_as(&app.admin_token, &format!("/api/v1/uploads/{cut_off}")).await.status(), 404);
    let now = chrono::Utc::now().naive_utc();
    assert_eq!(db.fail_stale_imports(now - chrono::Duration::hours(1)).unwrap(), 0, "a running import stays");
    assert_eq!(db.fail_stale_imports(now + chrono::Duration::seconds(1)).unwrap(), 1);
    let pending = pending["upload_id"].as_str().unwrap();
    let mut uploads = stored(&app, "SELECT id || ' ' || status AS value FROM list_uploads");
    uploads.sort();
    let mut expected = [format!("{cut_off} failed"), format!("{pending} pending")];
    expected.sort();
    assert_eq!(uploads, expected);
    assert_eq!(
        stored(&app, "SELECT upload_id AS value FROM list_files"),
        [pending],
        "the pending upload keeps its file, the cut-off one is gone"
    );
    let shown = app.get_json(&format!("/api/v1/uploads/{cut_off}")).await;
    assert_eq!(
        (&shown["status"], &shown["failure"]),
        (&json!("failed"), &json!("máy chủ dừng giữa chừng khi đọc tệp"))
    );
    // A slow import finishing after it was given up stays failed.
    let counts = phieu::storage::lists::ImportCounts { rows: 1, accepted: 1, rejected: 0, columns: "{}".into() };
    assert!(db.finish_import(&cut_off, &counts).is_err());
    assert_eq!(stored(&app, &format!("SELECT status AS value FROM list_uploads WHERE id = '{cut_off}'")), ["failed"]);
}

async fn a_list_is_not_replaced_once_invitations_went_out_nor_once_the_wave_is_closed(app: TestApp) {
    let wave = crate::delivery::sampled_wave(&app).await;
    let sent = app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "letter"})).await;
    assert_eq!(sent.status(), 200);
    let invited = "SELECT id || ' ' || selection || ' ' || invite_code AS value FROM contacts \
                   WHERE code_hash IS NOT NULL ORDER BY id";
    let before = stored(&app, invited);
    assert_eq!(before.len(), 2, "letters to the two with an address");

    // A corrected list of the same agency would replace the invited people's list.
    let corrected = crate::delivery::PEOPLE.replace("Thôn Đông", "Thôn Đông mới");
    let pending: Value =
        upload(&app, &app.admin_token, &wave, "l.csv", corrected.into_bytes(), Some("AG1")).await.json().await.unwrap();
    let id = pending["upload_id"].as_str().unwrap();
    let confirm = format!("/api/v1/uploads/{id}/confirm");
    let refused = app.post(&confirm, &json!({})).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["message"],
        "Thư mời đã được gửi từ mẫu hiện tại nên không thể thay danh sách nữa."
    );
    assert_eq!(stored(&app, invited), before, "the invited people keep their place and codes");
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads ORDER BY status"), ["confirmed", "pending"]);

    // The pending list's mapping can still be corrected, until the wave closes.
    let mapping = json!({"name": 0, "address": 1, "phone": 2, "locality": 3});
    assert_eq!(put_columns(&app, &app.admin_token, id, mapping.clone()).await.status(), 200);
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);
    assert_eq!(put_columns(&app, &app.admin_token, id, mapping).await.status(), 410);
    let refused = app.post(&confirm, &json!({})).await;
    assert_eq!(refused.status(), 410);
    assert_eq!(refused.json::<Value>().await.unwrap()["message"], "Đợt khảo sát đã kết thúc.");
    assert_eq!(stored(&app, invited), before);
}

/// A list of 5,000 rows (more than two import batches) with every kind of outcome: nameless
/// rows, unusable phones, a line that is not UTF-8, blank lines, and duplicates by phone,
/// email and name at the same address, many of them of rows in an earlier batch. A row
/// merged into another claims none of its own keys, so the next row reusing its new phone
/// is kept. The report must be, line for line, what a plain reading of the rules gives
/// (below), so it is the same on SQLite (multi-row inserts) and PostgreSQL (COPY).
async fn report_of_a_list_with_errors_and_duplicates_across_batches_is_exact_on_either_backend(app: TestApp) {
    use std::collections::HashMap;
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    const ROWS: usize = 5_000;
    let name = |i: usize| {
        if i % 211 == 13 && i >= 1_000 { format!("Người {}", i - 1_000) } else { format!("Người {i}") }
    };
    let address = |i: usize| {
        if i % 211 == 13 && i >= 1_000 {
            format!("Số {} Trần Phú", i - 1_000)
        } else {
            format!("Số {i} Trần Phú")
        }
    };
    let mut file = "Họ và tên,Địa chỉ,Điện thoại,Email,Mã xã\n".as_bytes().to_vec();
    let mut expected: Vec<Value> = Vec::new();
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut line = 1;
    for i in 0..ROWS {
        if i % 1_000 == 500 {
            file.extend_from_slice(b"\n");
            line += 1;
        }
        if i == 2_500 {
            file.extend_from_slice(b"Tr\xffn,So 1,0912000000,,00001\n");
            line += 1;
            expected.push(json!({"line": line, "status": "rejected", "reason": "dòng có ký tự không phải UTF-8"}));
        }
        line += 1;
        let person = if i % 89 == 5 { String::new() } else { name(i) };
        let phone = if i % 97 == 7 && i >= 2_100 {
            format!("09{:08}", i - 2_100)
        } else if i % 83 == 3 {
            "12345".to_string()
        } else if i % 101 == 9 && i >= 50 {
            format!("08{i:08}")
        } else if i % 101 == 10 && i >= 51 {
            format!("08{:08}", i - 1)
        } else {
            format!("09{i:08}")
        };
        let email = if i % 101 == 9 && i >= 50 {
            format!("nguoi{}@example.vn", i - 50)
        } else if i % 3 == 0 {
            format!("nguoi{i}@example.vn")
        } else {
            String::new()
        };
        let row = format!("{person},{},{phone},{email},0000{}\n", address(i), 1 + i % 3);
        file.extend_from_slice(row.as_bytes());
        // The rules, read plainly.
        if person.is_empty() {
            expected.push(json!({"line": line, "status": "rejected", "reason": "thiếu họ tên"}));
            continue;
        }
        let valid_phone = phone != "12345";
        // Looked up in this order: the reason names the line holding the first one found.
        let mut keys = Vec::new();
        if valid_phone {
            keys.push(format!("phone:{phone}"));
        }
        if !email.is_empty() {
            keys.push(format!("email:{email}"));
        }
        keys.push(format!("name:{person}|{}", address(i)));
        if let Some(first) = keys.iter().find_map(|k| claimed.get(k)) {
            expected.push(
                json!({"line": line, "status": "duplicate", "reason": format!("trùng với dòng {first}, đã gộp")}),
            );
            continue;
        }
        for key in keys {
            claimed.insert(key, line);
        }
        expected.push(if valid_phone {
            json!({"line": line, "status": "accepted", "reason": ""})
        } else {
            json!({"line": line, "status": "warning", "reason": "số điện thoại “12345” không đúng độ dài hoặc đầu số"})
        });
    }
    let outcomes = |status: &str| expected.iter().filter(|r| r["status"] == status).count();
    // Each kind is there, and duplicates reach back into earlier batches (of 2,000 rows).
    assert!(outcomes("duplicate") > 60 && outcomes("warning") > 50 && outcomes("rejected") > 50, "{expected:?}");
    let reaching_back = expected.iter().filter(|r| r["status"] == "duplicate").filter(|r| {
        let first = r["reason"].as_str().unwrap().trim_start_matches("trùng với dòng ").split(',').next().unwrap();
        first.parse::<u64>().unwrap() + 2_000 < r["line"].as_u64().unwrap()
    });
    assert!(reaching_back.count() > 10);
    let response = upload(&app, &app.admin_token, &wave, "loi.csv", file, Some("AG1")).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let report = body["report"].as_array().unwrap();
    assert_eq!(report.len(), expected.len());
    for (got, want) in report.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    assert_eq!(
        (&body["rows"], &body["accepted"], &body["rejected"]),
        (&json!(expected.len()), &json!(outcomes("accepted") + outcomes("warning")), &json!(outcomes("rejected")))
    );
    let stored_count = stored(&app, "SELECT CAST(count(*) AS TEXT) AS value FROM contacts");
    assert_eq!(stored_count, [(outcomes("accepted") + outcomes("warning")).to_string()]);
}
