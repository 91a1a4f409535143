//! The report's files: the indices table as CSV and JSON, read back, the workbook with its
//! sheets, numbers and chart, and the anonymised microdata.

use crate::helpers::{TestApp, complete_answers, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    indices_table_reads_back_as_csv_and_json_with_hidden_cells_empty,
    workbook_has_summary_units_chart_and_method,
    workbook_compares_every_unit_with_the_earlier_wave,
    microdata_rows_carry_codes_months_and_places_of_at_least_k_answers,
    microdata_workbook_holds_the_csv_rows_and_codebook_as_text
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

/// Answers that differ within each commune on every choice item (nowhere did everyone choose
/// alike): 00001 12, 00002 3 (AG1, district 001), 00003 15 (AG2, district 002).
async fn mixed_wave(app: &TestApp) -> String {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    let mut answered = 0;
    for (commune, agency, count) in [("00001", "AG1", 12), ("00002", "AG1", 3), ("00003", "AG2", 15)] {
        for invitation in app.invite(&wave, commune, Some(agency), count).await {
            let answers = complete_answers(&form, |item| {
                let options: Vec<&Value> =
                    item["options"].as_array()?.iter().filter(|o| o["missing"] != true).collect();
                let salt = item["id"].as_str()?.len() * 3;
                let code = options.get((answered * 7 + salt) % options.len().max(1))?["code"].clone();
                Some(if item.get("max_choices").is_some() { json!([code]) } else { code })
            });
            assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
            answered += 1;
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

    let (status, _) = download(&app, &format!("/api/v1/waves/{wave}/report.csv?table=unknown")).await;
    assert_eq!(status, 422, "tables not written yet are refused, not faked");
}

async fn workbook_has_summary_units_chart_and_method(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    let wave = answered_wave(&app).await;
    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/report.xlsx?level=district")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    assert_eq!(
        workbook.sheet_names(),
        [
            "Tổng hợp",
            "Chỉ số theo đơn vị",
            "Chỉ số theo cơ quan",
            "Từng câu hỏi",
            "Đánh giá và hài lòng",
            "Mong đợi",
            "Tỷ lệ phản hồi",
            "Ý kiến",
            "Phương pháp"
        ]
    );
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
    // SIPAS and its five factors beside the table, for the summary's chart: 13 of 16 satisfied.
    assert_eq!(summary.get_value((8, 6)).unwrap().to_string(), label_of("sipas").as_str().unwrap());
    assert_eq!(summary.get_value((8, 7)), Some(&Data::Float(1300.0 / 16.0)));
    assert_eq!(summary.get_value((9, 6)).unwrap().to_string(), label_of("access").as_str().unwrap());

    // The units asked for are districts: agencies alone get their own sheet.
    let agencies = workbook.worksheet_range("Chỉ số theo cơ quan").unwrap();
    let rows: Vec<(String, Data, Data)> = (1..=2)
        .map(|r| {
            let cell = |c| agencies.get_value((r, c)).cloned().unwrap_or(Data::Empty);
            (cell(1).to_string(), cell(3), cell(4))
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Bộ phận Một cửa huyện Hai".to_string(), Data::Float(1.0), Data::Float(100.0)),
            ("Bộ phận Một cửa huyện Một".to_string(), Data::Float(2.0), Data::Float(600.0 / 9.0)),
        ]
    );

    // Perception criteria beside satisfaction, factor by factor.
    let side = workbook.worksheet_range("Đánh giá và hài lòng").unwrap();
    let text_of = |id: &str| form["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["text"].clone();
    assert_eq!(side.get_value((1, 0)).unwrap().to_string(), "Tiếp cận dịch vụ hành chính công");
    assert_eq!(side.get_value((1, 1)).unwrap().to_string(), text_of("access_1").as_str().unwrap());
    let hidden = Data::String("*".into());
    assert_eq!(side.get_value((1, 2)), Some(&hidden), "everyone gave the same answer: hidden");
    assert_eq!(side.get_value((1, 3)).unwrap().to_string(), text_of("sat_access").as_str().unwrap());
    assert_eq!(side.get_value((1, 4)), Some(&Data::Float(1300.0 / 16.0)));
    assert!(side.get_value((2, 3)).is_none_or(|v| *v == Data::Empty), "one satisfaction question beside four criteria");
    assert_eq!(side.get_value((5, 0)).unwrap().to_string(), "Thủ tục hành chính", "the next factor after four rows");

    let units = workbook.worksheet_range("Chỉ số theo đơn vị").unwrap();
    assert_eq!(units.get_value((0, 3)).unwrap().to_string(), "Xếp hạng SIPAS");
    assert_eq!(units.get_value((0, 4)).unwrap().to_string(), label_of("sipas").as_str().unwrap());
    let names: Vec<String> = (1..=2).map(|r| units.get_value((r, 0)).unwrap().to_string()).collect();
    assert_eq!(names, ["Huyện Hai", "Huyện Một"], "best ranked on SIPAS first");
    // Huyện Hai: 7 of 7 satisfied on every factor; Huyện Một: 6 of 9.
    assert_eq!(units.get_value((1, 4)), Some(&Data::Float(100.0)));
    assert_eq!(units.get_value((2, 4)), Some(&Data::Float(600.0 / 9.0)));
    assert_eq!(units.get_value((1, 3)), Some(&Data::Float(1.0)), "rank on SIPAS");
    assert_eq!(units.get_value((2, 3)), Some(&Data::Float(2.0)));
    // Four columns, each headline figure, then each one's interval: SIPAS's comes first.
    let titled = (0..).take_while(|&c| units.get_value((0, c)).is_some_and(|t| !t.to_string().is_empty())).count();
    let headline = (titled as u32 - 4) / 3;
    let charted = (8..).take_while(|&r| summary.get_value((r, 6)).is_some_and(|v| !v.to_string().is_empty())).count();
    assert_eq!(charted as u32, headline, "the summary charts the headline indices, not every index");
    let sipas_low = 4 + headline;
    let low_title = units.get_value((0, sipas_low)).unwrap().to_string();
    assert!(
        low_title.contains("KTC 95% từ") && low_title.starts_with(label_of("sipas").as_str().unwrap()),
        "{low_title}"
    );
    let (low, high) = (units.get_value((2, sipas_low)), units.get_value((2, sipas_low + 1)));
    let (Some(Data::Float(low)), Some(Data::Float(high))) = (low, high) else {
        panic!("an interval: {low:?} {high:?}")
    };
    assert!(*low < 600.0 / 9.0 && 600.0 / 9.0 < *high, "{low}–{high} around 66.7");
    let method = workbook.worksheet_range("Phương pháp").unwrap();
    assert!(method.get_value((6, 1)).unwrap().to_string().contains("dưới 5 câu trả lời"));

    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let charts = zip.file_names().filter(|n| n.as_ref().is_ok_and(|n| n.starts_with("xl/charts/chart"))).count();
    // The expectations are hidden (everyone chose alike), so not charted.
    assert_eq!(charts, 3, "native charts: factors, districts, agencies");
}

async fn workbook_compares_every_unit_with_the_earlier_wave(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    // Last year Huyện Một 6 of 9 satisfied, Huyện Hai 7 of 7; this year 6 of 6 and 0 of 7.
    let last_year = answered_wave(&app).await;
    let form = app.form("sipas-2017").await;
    let this_year = app.open_wave("sipas-2017").await;
    for (commune, level, count) in [("00001", "5", 6), ("00003", "2", 7)] {
        for invitation in app.invite(&this_year, commune, None, count).await {
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }
    let path = format!("/api/v1/waves/{this_year}/report.xlsx?level=district&compare={last_year}");
    let (status, bytes) = download(&app, &path).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    assert!(workbook.sheet_names().contains(&"So sánh với đợt trước".to_string()), "{:?}", workbook.sheet_names());
    let sheet = workbook.worksheet_range("So sánh với đợt trước").unwrap();
    let row = |name: &str| (1..sheet.height() as u32).find(|&r| *sheet.get_value((r, 0)).unwrap() == name).unwrap();
    // SIPAS leads: value, change in points, change in places.
    let (one, two) = (row("Huyện Một"), row("Huyện Hai"));
    assert_eq!(sheet.get_value((one, 2)), Some(&Data::Float(100.0)));
    let change = |r: u32| match sheet.get_value((r, 3)) {
        Some(Data::Float(x)) => *x,
        other => panic!("{other:?}"),
    };
    assert!((change(one) - (100.0 - 600.0 / 9.0)).abs() < 1e-9);
    assert_eq!(change(two), -100.0);
    assert_eq!(sheet.get_value((one, 4)), Some(&Data::Float(1.0)), "up one place");
    assert_eq!(sheet.get_value((two, 4)), Some(&Data::Float(-1.0)), "down one place");
    // Without compare, no such sheet.
    let (_, plain) = download(&app, &format!("/api/v1/waves/{this_year}/report.xlsx?level=district")).await;
    let plain: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(plain)).unwrap();
    assert!(!plain.sheet_names().contains(&"So sánh với đợt trước".to_string()));
}

async fn microdata_rows_carry_codes_months_and_places_of_at_least_k_answers(app: TestApp) {
    let wave = mixed_wave(&app).await;
    let (status, bytes) = download(&app, &format!("/api/v1/waves/{wave}/answers.csv")).await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..3], ["locality_code", "agency_code", "month"]);
    assert!(header.contains(&"sat_access".to_string()) && !header.contains(&"comment".to_string()), "no free text");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 30, "one row per answer");
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert!(rows.iter().all(|r| r[2].len() == 7), "the month, not the day: {:?}", rows[0]);
    assert!(rows.iter().any(|r| r[2] == month || r[2] < *month.as_str()));
    // 00002 has 3 answers (AG1): too few, so they join district 001. The tables hide
    // 00001's figures beside them (the district minus 00001 would give 00002's away), so
    // 00001's 12 rows may not stay at 00001 either: they join 001 too. 00003's 15 stay.
    let commune = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    let first = commune["groups"].as_array().unwrap().iter().find(|g| g["locality"]["code"] == "00001").unwrap();
    assert!(first["indices"].as_array().unwrap().iter().any(|f| f["suppressed"] == true), "{first}");
    let mut cells: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for row in &rows {
        *cells.entry((row[0].to_string(), row[1].to_string())).or_default() += 1;
    }
    let expected: std::collections::BTreeMap<(String, String), usize> =
        [(("001".into(), "AG1".into()), 15), (("00003".into(), "AG2".into()), 15)].into_iter().collect();
    assert_eq!(cells, expected);
    let access = header.iter().position(|h| h == "sat_access").unwrap();
    let codes: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[access]).collect();
    assert_eq!(codes.len(), 5, "every level of the scale: {codes:?}");

    let (status, codebook) = download(&app, &format!("/api/v1/waves/{wave}/answers-codebook.csv")).await;
    assert_eq!(status, 200);
    let codebook = String::from_utf8(codebook).unwrap();
    assert!(codebook.contains("sat_access,"), "{codebook}");
    let officer = app.official("agency_officer", Some("AG1")).await;
    assert_eq!(app.get_as(&officer, &format!("/api/v1/waves/{wave}/answers.csv")).await.status(), 403);
    let audit = app.get_json("/api/v1/audit?limit=50").await;
    assert!(audit.to_string().contains("wave.microdata"), "audited: {audit}");
}

async fn microdata_workbook_holds_the_csv_rows_and_codebook_as_text(app: TestApp) {
    use calamine::{Data, Reader, Xlsx};
    let wave = mixed_wave(&app).await;
    let csv_rows = |bytes: &[u8]| -> Vec<Vec<String>> {
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&bytes[3..]);
        reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect()
    };
    // Every cell is read back as text (codes such as "00003" or "5" never become numbers).
    let sheet_rows = |workbook: &mut Xlsx<_>, name: &str| -> Vec<Vec<String>> {
        let range = workbook.worksheet_range(name).unwrap();
        let width = range.width();
        range
            .rows()
            .map(|row| {
                let mut row: Vec<String> = row
                    .iter()
                    .map(|cell| match cell {
                        Data::String(text) => text.clone(),
                        Data::Empty => String::new(),
                        other => panic!("{name}: not text: {other:?}"),
                    })
                    .collect();
                row.resize(width, String::new());
                row
            })
            .collect()
    };
    let (status, csv) = download(&app, &format!("/api/v1/waves/{wave}/answers.csv")).await;
    assert_eq!(status, 200);
    let (status, xlsx) = download(&app, &format!("/api/v1/waves/{wave}/answers.xlsx")).await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    assert_eq!(workbook.sheet_names(), ["Dữ liệu", "Sổ mã"]);
    let data = sheet_rows(&mut workbook, "Dữ liệu");
    let csv = csv_rows(&csv);
    assert_eq!(csv.len(), 31, "the header and 30 answers");
    assert_eq!(data, csv, "the same header and rows, in the same order");
    let range = workbook.worksheet_range("Dữ liệu").unwrap();
    let access = csv[0].iter().position(|h| h == "sat_access").unwrap() as u32;
    let placed = (1..31).find(|&r| range.get_value((r, 0)) == Some(&Data::String("00003".into()))).unwrap();
    let code = &csv[placed as usize][access as usize];
    assert!(["1", "2", "3", "4", "5"].contains(&code.as_str()), "{code}");
    assert_eq!(range.get_value((placed, access)), Some(&Data::String(code.clone())), "a code is text");

    let (status, codebook) = download(&app, &format!("/api/v1/waves/{wave}/answers-codebook.csv")).await;
    assert_eq!(status, 200);
    let codebook = csv_rows(&codebook);
    let sheet = sheet_rows(&mut workbook, "Sổ mã");
    assert_eq!(sheet[0], ["Cột", "Câu hỏi / ý nghĩa", "Mã", "Phương án", "Là không trả lời"]);
    assert!(codebook.iter().any(|r| r[0] == "sat_access" && r[2] == "5"), "{codebook:?}");
    assert_eq!(sheet[1..], codebook[1..], "the codebook's rows");

    let officer = app.official("agency_officer", Some("AG1")).await;
    assert_eq!(app.get_as(&officer, &format!("/api/v1/waves/{wave}/answers.xlsx")).await.status(), 403);
    let analyst = app.official("analyst", None).await;
    assert_eq!(app.get_as(&analyst, &format!("/api/v1/waves/{wave}/answers.xlsx")).await.status(), 200);
    let empty = app.open_wave("sipas-2017").await;
    let (status, _) = download(&app, &format!("/api/v1/waves/{empty}/answers.xlsx")).await;
    assert_eq!(status, 422, "fewer answers than k");
    let audit = app.get_json("/api/v1/audit?limit=50").await;
    let read = audit.to_string().matches("wave.microdata").count();
    assert!(read >= 3, "each reading audited: {audit}");
}
