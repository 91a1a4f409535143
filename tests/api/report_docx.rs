//! The report as a Word document: a zip whose body is well-formed WordprocessingML with the
//! official heading, its sections numbered in turn, tables of hand-computed figures written
//! as people read them (the workbook's items, expectations, response rates, comments and
//! comparison among them), hidden figures as `*`, names from lists escaped, and the same
//! scoping as the workbook; officials download it from the printable page with their
//! session, and the page carries the same tables.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, browser, complete_answers, csrf_of, satisfied_at};
use crate::on_both_backends;
use quick_xml::events::Event;
use serde_json::json;
use std::io::Read;

on_both_backends!(
    word_report_has_heading_sections_and_hand_computed_figures,
    word_report_hides_small_units_and_keeps_an_officer_to_its_agency,
    word_report_downloads_from_the_printable_page_with_a_session,
    word_report_turns_the_page_for_the_many_headline_indices_of_sipas_2023,
    word_report_carries_items_expectations_rates_comments_and_the_comparison,
    printable_page_carries_the_same_tables_numbered_in_turn
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

/// Cells without the interval written under a figure.
fn values(cells: &[String]) -> Vec<&str> {
    cells.iter().map(|c| c.split('\n').next().unwrap()).collect()
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
    let headings = [
        "1. Tổng hợp",
        "2. Chỉ số theo đơn vị",
        "3. Kết quả từng câu hỏi",
        "4. Đánh giá và hài lòng",
        "5. Mong đợi",
        "6. Tỷ lệ phản hồi",
        "7. Ý kiến của người dân",
        "8. Phương pháp",
    ];
    for heading in headings {
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
    assert_eq!(values(&one[1..4]), ["8", "2", "75,0"], "6 of 8 satisfied, second on SIPAS");
    // The 95% interval in small type under the value.
    let (low, high) = one[3].split_once('\n').unwrap().1.split_once('–').expect("an interval under the value");
    let bound = |b: &str| b.replace(',', ".").parse::<f64>().unwrap();
    assert!(bound(low) < 75.0 && 75.0 < bound(high), "{}", one[3]);
    assert!(body.xml.contains(r#"<w:rPr><w:sz w:val="18"/><w:szCs w:val="18"/></w:rPr><w:br/>"#), "small type");
    let two = body.row(&format!("Huyện Hai · {AMPERSAND_AGENCY}"));
    assert_eq!(values(&two[1..4]), ["7", "1", "100,0"]);
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
    assert_eq!(values(&body.row("Bộ phận Một cửa huyện Một")[1..4]), ["8", "1", "75,0"]);
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
    assert_eq!(values(&body.row("Huyện Một")[1..4]), ["8", "2", "75,0"]);

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
    assert_eq!(values(&body.row("Huyện Một")[1..4]), ["1", "1", "100,0"]);
    assert_eq!(values(&body.row("Huyện Hai")[1..4]), ["1", "2", "0,0"]);
    let (by_unit, method) = (body.xml.find("2. Chỉ số theo đơn vị").unwrap(), body.xml.find("8. Phương pháp").unwrap());
    let turned = body.xml.find(r#"w:orient="landscape""#).expect("a landscape section");
    assert!(by_unit < turned && turned < method, "the table by unit alone on turned pages");
    assert_eq!(body.xml.matches("<w:sectPr>").count(), 3, "upright, turned, upright");
}

/// A comment with characters to escape.
const COMMENT: &str = "Cần thêm ghế chờ & quạt <mát>";

/// Last year `answered_wave` (SIPAS 13 of 15 = 86,7; Huyện Một 75,0 second, Huyện Hai 100,0
/// first); this year Huyện Một 6 answers at level 5 wishing for options 2 and 3, Huyện Hai 5
/// at level 2 wishing for 3 (one with `COMMENT`) of 7 codes issued. Returns both waves.
async fn compared_waves(app: &TestApp) -> (String, String) {
    let last_year = answered_wave(app).await;
    let form = app.form("sipas-2017").await;
    let this_year = app.open_wave("sipas-2017").await;
    for (commune, agency, level, wishes, count, issued) in
        [("00001", "AG1", "5", json!(["2", "3"]), 6, 6), ("00003", "AG2", "2", json!(["3"]), 5, 7)]
    {
        for (i, invitation) in
            app.invite(&this_year, commune, Some(agency), issued).await.iter().enumerate().take(count)
        {
            let comment = (commune == "00003" && i == 0).then(|| json!(COMMENT));
            let answers = complete_answers(&form, |item| match item["id"].as_str().unwrap() {
                "expectations" => Some(wishes.clone()),
                "comment" => comment.clone(),
                _ => (item["kind"] == "satisfaction").then(|| json!(level)),
            });
            assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
        }
    }
    (last_year, this_year)
}

/// The label of `item`'s option `code`, and the item's text.
fn labels(form: &serde_json::Value, item: &str, code: &str) -> (String, String) {
    let item = form["items"].as_array().unwrap().iter().find(|i| i["id"] == item).unwrap();
    let label = match code {
        "" => "",
        code => {
            item["options"].as_array().unwrap().iter().find(|o| o["code"] == code).unwrap()["label"].as_str().unwrap()
        }
    };
    (label.to_string(), item["text"].as_str().unwrap().to_string())
}

async fn word_report_carries_items_expectations_rates_comments_and_the_comparison(app: TestApp) {
    let (last_year, this_year) = compared_waves(&app).await;
    let path = format!("/api/v1/waves/{this_year}/report.docx?level=district&compare={last_year}");
    let (status, bytes) = download(&app, &app.admin_token, &path).await;
    assert_eq!(status, 200);
    let body = body_of(bytes);
    let headings = [
        "2. Chỉ số theo đơn vị",
        "3. So sánh với đợt trước",
        "4. Kết quả từng câu hỏi",
        "5. Đánh giá và hài lòng",
        "6. Mong đợi",
        "7. Tỷ lệ phản hồi",
        "8. Ý kiến của người dân",
        "9. Phương pháp",
    ];
    let at: Vec<usize> = headings.iter().map(|h| body.xml.find(h).unwrap_or_else(|| panic!("{h}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in turn: {at:?}");
    let form = app.form("sipas-2017").await;
    let sipas = form["indices"][0]["label"].as_str().unwrap();

    // SIPAS 6 of 11 = 54,5 against 86,7: 54.545 - 86.667 = -32.1 points.
    assert!(body.rows.iter().any(|r| r[..] == ["Chỉ số", "Giá trị (%)", "Thay đổi (điểm)"]));
    let rows_of = |first: &str| body.rows.iter().filter(|r| r[0] == first).collect::<Vec<_>>();
    assert!(rows_of(sipas).iter().any(|r| r[1..] == ["54,5", "-32,1"]), "{:?}", rows_of(sipas));
    // Huyện Một 75,0 → 100,0, second → first; Huyện Hai 100,0 → 0,0, first → second.
    assert!(rows_of("Huyện Một").iter().any(|r| r[1..] == ["100,0", "+25,0", "+1"]), "{:?}", rows_of("Huyện Một"));
    assert!(rows_of("Huyện Hai").iter().any(|r| r[1..] == ["0,0", "-100,0", "-1"]), "{:?}", rows_of("Huyện Hai"));

    // The first satisfaction item: 6 of 11 at level 5 (54,5), 5 at level 2 (45,5); positive 6 of 11.
    let (very, question) = labels(&form, "sat_access", "5");
    let (unhappy, _) = labels(&form, "sat_access", "2");
    let first = body.rows.iter().position(|r| r[0] == question).expect("the item's first row");
    let options: Vec<&Vec<String>> =
        body.rows[first..].iter().take_while(|r| r[0] == question || r[0].is_empty()).collect();
    assert_eq!(options[0][4..], ["11", "54,5"], "valid answers and positive share on the first row");
    assert!(options.iter().any(|r| r[1..4] == [very.as_str(), "6", "54,5"]), "{options:?}");
    assert!(options.iter().any(|r| r[1..4] == [unhappy.as_str(), "5", "45,5"]), "{options:?}");

    // Expectations: option 3 chosen by all 11, option 2 by 6 of the 11 valid forms.
    assert!(body.has("Tỷ lệ % trên tổng số phiếu hợp lệ."));
    let (time, _) = labels(&form, "expectations", "3");
    let (simplify, _) = labels(&form, "expectations", "2");
    assert!(body.rows.iter().any(|r| r[..] == ["1", time.as_str(), "11", "100,0"]), "rank 1: {time}");
    assert!(body.rows.iter().any(|r| r[..] == ["2", simplify.as_str(), "6", "54,5"]), "rank 2: {simplify}");

    // Perception criteria beside satisfaction: all 11 found enough seats, 6 of 11 satisfied.
    let (_, criterion) = labels(&form, "access_1", "1");
    let access = ["Tiếp cận dịch vụ hành chính công", criterion.as_str(), "100,0", question.as_str(), "54,5"];
    assert!(body.rows.iter().any(|r| r[..] == access), "{access:?}");

    // Response rates: 11 of 13 codes; Huyện Hai 5 of 7.
    assert_eq!(body.row("Theo")[4..], ["Số mã đã phát", "Số phiếu trả lời", "Tỷ lệ phản hồi (%)"]);
    assert_eq!(body.row("Toàn đợt")[4..], ["13", "11", "84,6"]);
    assert!(body.rows.iter().any(|r| r[..] == ["Địa bàn", "Huyện Hai", "", "", "7", "5", "71,4"]), "Huyện Hai");

    // The comment, where it is published, escaped in the XML.
    let comment = body.rows.iter().find(|r| r.last().is_some_and(|c| c == COMMENT)).expect("the comment");
    assert_eq!(comment[0], labels(&form, "comment", "").1, "under its question");
    assert!(!comment[1].is_empty(), "its place: {comment:?}");
    assert!(body.xml.contains("Cần thêm ghế chờ &amp; quạt &lt;mát&gt;"));
}

async fn printable_page_carries_the_same_tables_numbered_in_turn(app: TestApp) {
    let (last_year, this_year) = compared_waves(&app).await;
    let client = browser();
    let csrf = csrf_of(&client.get(app.url("/dang-nhap")).send().await.unwrap().text().await.unwrap());
    let form = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("_csrf", &csrf)];
    assert_eq!(client.post(app.url("/dang-nhap")).form(&form).send().await.unwrap().status(), 303);
    let get = |path: String| {
        let (client, url) = (client.clone(), app.url(&path));
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = get(format!("/quan-ly/dot/{this_year}/bao-cao?level=district&compare={last_year}")).await;
    let headings = [
        "<h2>III. Kết quả theo",
        "<h2>IV. So sánh với đợt trước</h2>",
        "<h2>V. Kết quả từng câu hỏi</h2>",
        "<h2>VI. Đánh giá và hài lòng</h2>",
        "<h2>VII. Mong đợi</h2>",
        "<h2>VIII. Tỷ lệ phản hồi</h2>",
        "<h2>IX. Ý kiến của người dân</h2>",
        "<h2>X. Phương pháp</h2>",
    ];
    let at: Vec<usize> = headings.iter().map(|h| html.find(h).unwrap_or_else(|| panic!("{h}: {html}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in turn: {at:?}");
    let form = app.form("sipas-2017").await;
    let cells = |cells: &[&str]| cells.iter().map(|c| format!(r#"<td class="num">{c}</td>"#)).collect::<String>();
    // The comparison, as in the Word document.
    assert!(html.contains(&format!("<td>Huyện Một</td>{}", cells(&["100,0", "+25,0", "+1"]))), "{html}");
    assert!(html.contains(&format!("<td>Huyện Hai</td>{}", cells(&["0,0", "-100,0", "-1"]))), "{html}");
    assert!(html.contains(&cells(&["54,5", "-32,1"])), "SIPAS of the wave and its change");
    // Items, expectations, rates, the comment escaped.
    let (very, _) = labels(&form, "sat_access", "5");
    assert!(html.contains(&format!("<td>{very}</td>{}", cells(&["6", "54,5"]))), "{html}");
    let (time, _) = labels(&form, "expectations", "3");
    assert!(html.contains(&format!(r#"<td class="num">1</td><td>{time}</td>{}"#, cells(&["11", "100,0"]))));
    assert!(
        html.contains(&format!("<td>Địa bàn</td><td>Huyện Hai</td><td></td><td></td>{}", cells(&["7", "5", "71,4"])))
    );
    assert!(html.contains("<td>Cần thêm ghế chờ &amp; quạt &lt;mát&gt;</td>"), "{html}");
    // The units' 95% intervals under their values.
    assert!(html.contains(r#"<br><small class="ci">"#), "{html}");

    // Perception criteria beside satisfaction: all 11 found enough seats, 6 of 11 satisfied.
    let (_, criterion) = labels(&form, "access_1", "1");
    let (_, satisfaction) = labels(&form, "sat_access", "5");
    let satisfaction = satisfaction.replace('/', "&#x2f;");
    let side_by_side = format!(
        r#"<td>Tiếp cận dịch vụ hành chính công</td><td>{criterion}</td><td class="num">100,0</td><td>{satisfaction}</td><td class="num">54,5</td>"#
    );
    assert!(html.contains(&side_by_side), "{html}");

    // Without units or comparison the numbers close up: method is VIII.
    let html = get(format!("/quan-ly/dot/{this_year}/bao-cao")).await;
    assert!(!html.contains("So sánh với đợt trước") && !html.contains("Kết quả theo"));
    for heading in
        ["<h2>III. Kết quả từng câu hỏi</h2>", "<h2>VII. Ý kiến của người dân</h2>", "<h2>VIII. Phương pháp</h2>"]
    {
        assert!(html.contains(heading), "{heading}: {html}");
    }
}
