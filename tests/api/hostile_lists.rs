//! Files made to exhaust the server: each is refused with the limit it went beyond, leaves
//! its upload `failed` with that reason (none stuck `importing`) and nothing else stored,
//! and the server goes on serving.

use crate::helpers::TestApp;
use crate::hostile_files::*;
use crate::lists::{stored, upload, wave_with_period};
use crate::on_both_backends;
use serde_json::Value;

on_both_backends!(
    xlsx_declaring_a_hundred_billion_shared_strings_is_refused,
    xlsx_zip_bomb_is_refused_by_its_compression_ratio,
    xlsx_of_one_cell_rows_is_refused_before_filling_the_report,
    csv_of_separators_only_is_refused_at_the_field_limit,
    csv_single_giant_line_is_refused_at_the_line_limit,
    header_of_many_columns_is_refused_at_the_column_limit,
    csv_beyond_the_row_limit_is_refused,
);

/// Uploads `bytes` as AG1's list and expects a 422 naming the limit (all of `expected`),
/// the upload failed with that reason and nothing else stored, and the server still
/// reading a real list.
async fn refused(app: &TestApp, name: &str, bytes: Vec<u8>, expected: &[&str]) {
    app.seed_places().await;
    let wave = wave_with_period(app).await;
    let response = upload(app, &app.admin_token, &wave, name, bytes, Some("AG1")).await;
    assert_eq!(response.status(), 422, "{name}");
    let body: Value = response.json().await.unwrap();
    let message = body["errors"]["file"].as_str().unwrap_or_default();
    assert!(message.starts_with("tệp vượt giới hạn: "), "{name}: {body}");
    for part in expected {
        assert!(message.contains(part), "{name}: {message:?} should name {part:?}");
    }
    assert_eq!(
        stored(app, "SELECT id || ' ' || status || ' ' || failure AS value FROM list_uploads"),
        [format!("{} failed {message}", body["upload_id"].as_str().unwrap())],
        "the upload is kept as failed, with the 422's reason"
    );
    assert_eq!(stored(app, "SELECT id AS value FROM contacts"), Vec::<String>::new(), "no contacts");
    assert_eq!(stored(app, "SELECT reason AS value FROM list_lines"), Vec::<String>::new(), "no report");
    assert_eq!(stored(app, "SELECT upload_id AS value FROM list_files"), Vec::<String>::new(), "no kept file");
    let good = "Họ và tên,Địa chỉ\nNguyễn Văn An,Thôn Đông\n".as_bytes().to_vec();
    let after = upload(app, &app.admin_token, &wave, "l.csv", good, Some("AG1")).await;
    assert_eq!(after.status(), 201, "the server still reads lists");
}

async fn xlsx_declaring_a_hundred_billion_shared_strings_is_refused(app: TestApp) {
    let bomb = in_memory(|out| declared_count_bomb(out, "100000000000"));
    assert!(bomb.len() < 4096, "a tiny file");
    refused(&app, "bom.xlsx", bomb, &["chuỗi dùng chung", "giới hạn 3.000.000"]).await;
    // The largest count: it once answered 500 and left the upload importing.
    let largest = in_memory(|out| declared_count_bomb(out, "18446744073709551615"));
    let wave = wave_with_period(&app).await;
    let response = upload(&app, &app.admin_token, &wave, "bom.xlsx", largest, Some("AG1")).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        stored(&app, "SELECT status AS value FROM list_uploads ORDER BY status"),
        ["failed", "failed", "pending"],
        "only the good list is read"
    );
}

async fn xlsx_zip_bomb_is_refused_by_its_compression_ratio(app: TestApp) {
    let bomb = in_memory(|out| zip_bomb(out, 16 << 20));
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    refused(&app, "bom.xlsx", bomb, &["xl/sharedStrings.xml", "giới hạn tỉ lệ nén 100:1"]).await;
}

async fn xlsx_of_one_cell_rows_is_refused_before_filling_the_report(app: TestApp) {
    let rows = in_memory(|out| one_cell_rows(out, 200_000));
    assert!(rows.len() < 100_000, "{} bytes", rows.len());
    refused(&app, "dong.xlsx", rows, &["xl/worksheets/sheet1.xml", "giới hạn tỉ lệ nén 100:1"]).await;
}

async fn csv_of_separators_only_is_refused_at_the_field_limit(app: TestApp) {
    let separators = in_memory(|out| separators_csv(out, 1 << 20, 20_000));
    refused(&app, "phay.csv", separators, &["dòng 1 có hơn 16.384 ô kể cả ô trống", "giới hạn 16.384 ô mỗi dòng"])
        .await;
}

async fn csv_single_giant_line_is_refused_at_the_line_limit(app: TestApp) {
    let line = in_memory(|out| single_line_csv(out, 300 * 1024));
    refused(&app, "dong.csv", line, &["dòng 1 dài hơn giới hạn 256 KiB mỗi dòng"]).await;
}

async fn header_of_many_columns_is_refused_at_the_column_limit(app: TestApp) {
    let named = in_memory(|out| wide_header_csv(out, 2_000, "Cột"));
    refused(&app, "cot.csv", named, &["dòng 1 có hơn 1.024 cột"]).await;
    // Identity-number columns, once quadratic to drop from the kept copy.
    let ids = in_memory(|out| wide_header_csv(out, 2_000, "Số CCCD"));
    let wave = wave_with_period(&app).await;
    let response = upload(&app, &app.admin_token, &wave, "cccd.csv", ids, Some("AG1")).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["file"].as_str().unwrap().contains("1.024 cột"), "{body}");
}

async fn csv_beyond_the_row_limit_is_refused(app: TestApp) {
    let lines = in_memory(|out| many_lines_csv(out, 2_500_000));
    refused(&app, "dai.csv", lines, &["tệp có hơn 2.500.000 dòng", "giới hạn 2.500.000 dòng mỗi tệp"]).await;
}
