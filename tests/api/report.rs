//! The report's files: the indices table as CSV and JSON, read back, and the workbook with
//! its sheets, numbers and chart.

use crate::helpers::{TestApp, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    indices_table_reads_back_as_csv_and_json_with_hidden_cells_empty,
    workbook_has_summary_units_chart_and_method
);

async fn answered_wave(app: &TestApp) -> String {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    for (commune, agency, level, count) in
        [("00001", "AG1", "5", 6), ("00002", "AG1", "2", 3), ("00003", "AG2", "4", 7)]
    {
        for invitation in app.invite(&wave, commune, Some(agency), count).await {
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }
    wave
}

async fn download(app: &TestApp, path: &str) -> (u16, Vec<u8>) {
    let response = app.api.get(app.url(path)).bearer_auth(&app.admin_token).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

async fn indices_table_reads_back_as_csv_and_json_with_hidden_cells_empty(app: TestApp) {
    let wave = answered_wave(&app).await;
    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/report.csv?table=indices&level=commune")).await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "locality_code",
            "locality_name",
            "level",
            "agency_code",
            "agency_name",
            "responses",
            "index_id",
            "index_label",
            "value",
            "n",
            "ci_low",
            "ci_high",
            "suppressed",
            "rank"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let indices = app.form("sipas-2017").await["indices"].as_array().unwrap().len();
    assert_eq!(rows.len(), 4 * indices, "the whole wave and three communes, every index");
    let find = |code: &str, index: &str| rows.iter().find(|r| &r[0] == code && &r[6] == index).unwrap().clone();
    let whole = find("", "access");
    assert_eq!((&whole[2], &whole[5], &whole[9]), ("wave", "16", "16"));
    assert!((whole[8].parse::<f64>().unwrap() - 1300.0 / 16.0).abs() < 1e-9, "unrounded: {whole:?}");
    let small = find("00002", "access");
    assert_eq!((&small[1], &small[8], &small[9], &small[12], &small[13]), ("Xã Một Hai", "", "3", "true", ""));
    let shown = find("00003", "access");
    assert_eq!((&shown[8], &shown[12], &shown[13]), ("100", "false", "1"));
    assert!(shown[10].parse::<f64>().unwrap() < 100.0, "interval: {shown:?}");

    let json = app.get_json(&format!("/api/v1/waves/{wave}/report?table=indices&level=commune")).await;
    let json_rows = json["rows"].as_array().unwrap();
    assert_eq!(json_rows.len(), rows.len());
    let small = json_rows.iter().find(|r| r["locality_code"] == "00002" && r["index_id"] == "access").unwrap();
    assert_eq!((&small["value"], &small["suppressed"], &small["n"]), (&Value::Null, &json!(true), &json!(3)));

    let (status, _) = download(&app, &format!("/api/v1/waves/{wave}/report.csv?table=items")).await;
    assert_eq!(status, 422, "tables not written yet are refused, not faked");
}

async fn workbook_has_summary_units_chart_and_method(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    let wave = answered_wave(&app).await;
    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/report.xlsx?level=district")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    assert_eq!(workbook.sheet_names(), ["Tổng hợp", "Chỉ số theo đơn vị", "Phương pháp"]);
    let summary = workbook.worksheet_range("Tổng hợp").unwrap();
    assert_eq!(summary.get_value((4, 1)), Some(&Data::Float(16.0)), "answers");
    assert_eq!(summary.get_value((5, 1)), Some(&Data::Float(100.0)), "response rate");
    let form = app.form("sipas-2017").await;
    let label_of =
        |id: &str| form["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["label"].clone();
    let first = form["indices"][0]["id"].as_str().unwrap();
    assert_eq!(
        summary.get_value((8, 0)).unwrap().to_string(),
        label_of(first).as_str().unwrap(),
        "indices in the form's order"
    );
    let units = workbook.worksheet_range("Chỉ số theo đơn vị").unwrap();
    assert_eq!(units.get_value((0, 3)).unwrap().to_string(), "Xếp hạng SIPAS");
    assert_eq!(units.get_value((0, 4)).unwrap().to_string(), label_of("sipas").as_str().unwrap());
    let names: Vec<String> = (1..=2).map(|r| units.get_value((r, 0)).unwrap().to_string()).collect();
    assert_eq!(names, ["Huyện Một", "Huyện Hai"]);
    // Huyện Một: 6 of 9 satisfied on every factor; Huyện Hai: 7 of 7.
    assert_eq!(units.get_value((1, 4)), Some(&Data::Float(600.0 / 9.0)));
    assert_eq!(units.get_value((2, 4)), Some(&Data::Float(100.0)));
    assert_eq!(units.get_value((2, 3)), Some(&Data::Float(1.0)), "rank on SIPAS");
    let method = workbook.worksheet_range("Phương pháp").unwrap();
    assert!(method.get_value((6, 1)).unwrap().to_string().contains("dưới 5 câu trả lời"));

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let chart = zip.by_name("xl/charts/chart1.xml").map(|f| f.size()).unwrap_or(0);
    assert!(chart > 0, "a native chart of the indices by unit");
}
