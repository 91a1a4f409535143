//! The report as a Word document: a zip whose body is well-formed WordprocessingML with the
//! official heading, the three sections, tables of hand-computed figures written as people
//! read them, hidden figures as `*`, names from lists escaped, and the same scoping as the
//! workbook; officials download it from the printable page with their session.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, browser, csrf_of, satisfied_at};
use crate::on_both_backends;
use quick_xml::events::Event;
use serde_json::json;
use std::io::Read;

on_both_backends!(
    word_report_has_heading_sections_and_hand_computed_figures,
    word_report_hides_small_units_and_keeps_an_officer_to_its_agency,
    word_report_downloads_from_the_printable_page_with_a_session,
    word_report_turns_the_page_for_the_many_headline_indices_of_sipas_2023
);

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// An agency whose name needs escaping in XML.
const AMPERSAND_AGENCY: &str = "Tổ Một cửa & Tiếp dân <liên thông>";

/// Huyện Một (AG1): 6 answers satisfied in Xã Một Một, 2 not in Xã Một Hai, so 6 of 8;
/// Huyện Hai (AG3): 7 of 7. The whole wave: 13 of 15.
async fn answered_wave(app: &TestApp) -> String {
    app.seed_places().await;
    let r =
        app.post("/api/v1/agencies", &json!({"code": "AG3", "name": AMPERSAND_AGENCY, "locality_code": "002"})).await;
    assert_eq!(r.status(), 201);
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    for (commune, agency, level, count) in
        [("00001", "AG1", "5", 6), ("00002", "AG1", "2", 2), ("00003", "AG3", "4", 7)]
    {
        for invitation in app.invite(&wave, commune, Some(agency), count).await {
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }
    wave
}

/// The document's body as text, and its paragraphs' and table rows' texts; panics unless
/// the body is well-formed XML.
struct Body {
    xml: String,
    paragraphs: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn body_of(bytes: Vec<u8>) -> Body {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    for part in ["[Content_Types].xml", "_rels/.rels", "word/styles.xml"] {
        assert!(zip.by_name(part).is_ok(), "{part}");
    }
    let mut xml = String::new();
    zip.by_name("word/document.xml").unwrap().read_to_string(&mut xml).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut paragraphs, mut rows) = (Vec::new(), Vec::<Vec<String>>::new());
    let (mut paragraph, mut cell, mut in_cell) = (String::new(), String::new(), false);
    loop {
        let text = match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) => {
                match e.name().as_ref() {
                    "w:tr" => rows.push(Vec::new()),
                    "w:tc" => (in_cell, cell) = (true, String::new()),
                    _ => {}
                }
                continue;
            }
            Event::End(e) => {
                match e.name().as_ref() {
                    "w:p" => paragraphs.push(std::mem::take(&mut paragraph)),
                    "w:tc" => {
                        in_cell = false;
                        rows.last_mut().unwrap().push(std::mem::take(&mut cell));
                    }
                    _ => {}
                }
                continue;
            }
            Event::Empty(e) if e.name().as_ref() == "w:br" => "\n".to_string(),
            Event::Text(t) => t.xml10_content().into_owned(),
            Event::GeneralRef(r) => match &*r {
                "amp" => "&".into(),
                "lt" => "<".into(),
                "gt" => ">".into(),
                "quot" => "\"".into(),
                other => panic!("unexpected reference {}", other),
            },
            _ => continue,
        };
        paragraph.push_str(&text);
        if in_cell {
            cell.push_str(&text);
        }
    }
    Body { xml, paragraphs, rows }
}

impl Body {
    fn row(&self, first: &str) -> &[String] {
        self.rows.iter().find(|r| r.first().is_some_and(|c| c == first)).unwrap_or_else(|| panic!("row {first}"))
    }

    fn has(&self, paragraph: &str) -> bool {
        self.paragraphs.iter().any(|p| p == paragraph)
    }
}

async fn download(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>) {
    let response = app.api.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["content-type"], DOCX);
        let disposition = response.headers()["content-disposition"].to_str().unwrap();
        assert!(disposition.contains("bao-cao-khao-sat.docx"), "{disposition}");
    }
    (status, response.bytes().await.unwrap().to_vec())
}

async fn word_report_has_heading_sections_and_hand_computed_figures(app: TestApp) {
    let wave = answered_wave(&app).await;
    let path = format!("/api/v1/waves/{wave}/report.docx?level=district&by=agency");
    let (status, bytes) = download(&app, &app.admin_token, &path).await;
    assert_eq!(status, 200);
    let body = body_of(bytes);
    assert!(body.xml.contains("<w:tbl>"));
    assert!(body.has("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n……, ngày …… tháng …… năm ……"));
    assert!(body.has("BÁO CÁO KẾT QUẢ KHẢO SÁT\nĐợt thử"));
    for heading in ["1. Tổng hợp", "2. Chỉ số theo đơn vị", "3. Phương pháp"] {
        let styled = format!(r#"<w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t xml:space="preserve">{heading}</w:t>"#);
        assert!(body.xml.contains(&styled), "{heading} as a heading");
    }
    assert!(body.has("Số thư mời / mã khảo sát đã phát: 15"));
    assert!(body.has("Số phiếu hợp lệ: 15"));
    assert!(body.has("Tỷ lệ phản hồi: 100,0%"));

    // Every index of the form in the summary; SIPAS of the wave: 13 of 15.
    let form = app.form("sipas-2017").await;
    let labels: Vec<&str> = form["indices"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    let summary = body.row("Chỉ số");
    assert_eq!(summary, ["Chỉ số", "Giá trị (%)", "n", "KTC 95%"]);
    for label in &labels {
        body.row(label);
    }
    let sipas_label =
        form["indices"].as_array().unwrap().iter().find(|i| i["id"] == "sipas").unwrap()["label"].as_str().unwrap();
    let sipas = body.row(sipas_label);
    assert_eq!((sipas[1].as_str(), sipas[2].as_str()), ("86,7", "15"));
    let (low, high) = sipas[3].split_once('–').expect("an interval");
    assert!(low.contains(',') && high.contains(','), "{low}–{high}");

    let units = body.row("Đơn vị");
    assert_eq!(units[..4], ["Đơn vị", "Số phiếu", "Xếp hạng SIPAS", sipas_label]);
    let one = body.row("Huyện Một · Bộ phận Một cửa huyện Một");
    assert_eq!(one[1..4], ["8", "2", "75,0"], "6 of 8 satisfied, second on SIPAS");
    let two = body.row(&format!("Huyện Hai · {AMPERSAND_AGENCY}"));
    assert_eq!(two[1..4], ["7", "1", "100,0"]);
    let at = |name: &str| body.rows.iter().position(|r| r.first().is_some_and(|c| c.starts_with(name))).unwrap();
    assert!(at("Huyện Hai") < at("Huyện Một"), "best ranked on SIPAS first");
    assert!(body.xml.contains("Tổ Một cửa &amp; Tiếp dân &lt;liên thông&gt;"), "escaped in the XML");
    assert!(!body.xml.contains("& Tiếp") && !body.xml.contains("<liên"));

    // The method's statements are the workbook's.
    assert!(body.paragraphs.iter().any(|p| p.starts_with("Ẩn số liệu: ") && p.contains("dưới 5 câu trả lời")));
    assert!(body.has("Trọng số: Không dùng trọng số thiết kế (mỗi phiếu có trọng số 1)."));
}

async fn word_report_hides_small_units_and_keeps_an_officer_to_its_agency(app: TestApp) {
    let wave = answered_wave(&app).await;
    let (status, bytes) =
        download(&app, &app.admin_token, &format!("/api/v1/waves/{wave}/report.docx?level=commune")).await;
    assert_eq!(status, 200);
    let body = body_of(bytes);
    let small = body.row("Xã Một Hai");
    assert_eq!(small[1..4], ["2", "", "*"], "2 answers: counted, not shown");
    assert!(body.paragraphs.iter().any(|p| p.starts_with("(*) Số liệu ẩn: dựa trên dưới 5 câu trả lời")));

    let officer = app.official("agency_officer", Some("AG1")).await;
    let (status, bytes) = download(&app, &officer, &format!("/api/v1/waves/{wave}/report.docx?by=agency")).await;
    assert_eq!(status, 200);
    let body = body_of(bytes);
    assert_eq!(body.row("Bộ phận Một cửa huyện Một")[1..4], ["8", "1", "75,0"]);
    assert!(!body.xml.contains("Tiếp dân"), "another agency's unit is left out");
    assert!(body.has("Số phiếu hợp lệ: 8"));

    let enumerator = app.official("enumerator", None).await;
    let (status, _) = download(&app, &enumerator, &format!("/api/v1/waves/{wave}/report.docx")).await;
    assert_eq!(status, 403);
}

async fn word_report_downloads_from_the_printable_page_with_a_session(app: TestApp) {
    let wave = answered_wave(&app).await;
    let client = browser();
    let csrf = csrf_of(&client.get(app.url("/dang-nhap")).send().await.unwrap().text().await.unwrap());
    let form = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("_csrf", &csrf)];
    assert_eq!(client.post(app.url("/dang-nhap")).form(&form).send().await.unwrap().status(), 303);
    let page = format!("/quan-ly/dot/{wave}/bao-cao?level=district");
    let html = client.get(app.url(&page)).send().await.unwrap().text().await.unwrap();
    let link = format!("/quan-ly/dot/{wave}/bao-cao.docx?level=district");
    assert!(html.contains(&format!("href=\"{link}\"")), "linked from the printable page");
    // The page states the method from the same source as the workbook and the document.
    assert!(html.contains("Không dùng trọng số thiết kế (mỗi phiếu có trọng số 1)."), "{html}");
    assert!(html.contains("<dt>Phiên bản</dt>"), "{html}");
    let response = client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], DOCX);
    let body = body_of(response.bytes().await.unwrap().to_vec());
    assert_eq!(body.row("Huyện Một")[1..4], ["8", "2", "75,0"]);

    let signed_out = browser().get(app.url(&link)).send().await.unwrap();
    assert_eq!(signed_out.headers()["location"], "/dang-nhap");
}

async fn word_report_turns_the_page_for_the_many_headline_indices_of_sipas_2023(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave_with(&json!({"name": "Đợt 2023", "form_id": "sipas-2023", "min_cell": 1})).await;
    let form = app.form("sipas-2023").await;
    for (commune, agency, level) in [("00001", "AG1", "5"), ("00003", "AG2", "2")] {
        let invitation = app.invite(&wave, commune, Some(agency), 1).await.remove(0);
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
    }
    let (status, bytes) =
        download(&app, &app.admin_token, &format!("/api/v1/waves/{wave}/report.docx?level=district")).await;
    assert_eq!(status, 200);
    let body = body_of(bytes);
    let units = body.row("Đơn vị");
    assert!(units.len() > 10, "SIPAS, areas and sub-areas: {units:?}");
    assert_eq!(body.row("Huyện Một")[1..4], ["1", "1", "100,0"]);
    assert_eq!(body.row("Huyện Hai")[1..4], ["1", "2", "0,0"]);
    let (by_unit, method) = (body.xml.find("2. Chỉ số theo đơn vị").unwrap(), body.xml.find("3. Phương pháp").unwrap());
    let turned = body.xml.find(r#"w:orient="landscape""#).expect("a landscape section");
    assert!(by_unit < turned && turned < method, "the table by unit alone on turned pages");
    assert_eq!(body.xml.matches("<w:sectPr>").count(), 3, "upright, turned, upright");
}
