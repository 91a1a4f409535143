//! A citizen in real headless Chromium: opens the invitation link, answers the SIPAS form
//! by clicking, submits, sees the thank-you page. Driven through ChromeDriver's W3C
//! WebDriver protocol with plain HTTP.

use crate::helpers::{Backend, TestApp, spawn_app};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
    }
}

fn find_program(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        path.split(':').map(|dir| format!("{dir}/{name}")).find(|candidate| std::path::Path::new(candidate).exists())
    })
}

impl Driver {
    async fn start() -> Option<Driver> {
        let hint = "install Debian's chromium and chromium-driver";
        let (Some(chromedriver), Some(chromium)) =
            (find_program(&["chromedriver"]), find_program(&["chromium", "chromium-browser"]))
        else {
            crate::helpers::skip(
                "browser test",
                "PHIEU_REQUIRE_BROWSER",
                &format!("chromium or chromedriver not found: {hint}"),
            );
            return None;
        };
        let port = crate::helpers::free_port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        crate::helpers::wait_until_up(&format!("{base}/status")).await;
        let profile = std::env::temp_dir().join(format!("phieu-chromium-{}", uuid::Uuid::new_v4().simple()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=412,915", format!("--user-data-dir={}", profile.display())]
        }}}});
        let created: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();
        Some(Driver { process, http, session, base })
    }

    async fn try_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        match response["value"].get("error") {
            Some(_) => Err(response["value"].clone()),
            None => Ok(response["value"].clone()),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body).await.unwrap_or_else(|error| panic!("WebDriver {path}: {error}"))
    }

    /// After a click that navigates, the old page may still answer for a moment: poll.
    async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            let found = self
                .try_call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
                .await;
            if let Ok(element) = found
                && let Some(id) = element[ELEMENT].as_str()
                && let Ok(text) = self.try_call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await
            {
                last = text.as_str().unwrap_or_default().to_string();
                if last.contains(needle) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; last text: {last:?}")
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn find(&self, css: &str) -> String {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("{css}: {found}")).to_string()
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        // Scroll into view first: a phone-sized window shows one question at a time.
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": "arguments[0].scrollIntoView({block:'center'})", "args": [{ELEMENT: element}]})),
        )
        .await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({"text": text}))).await;
    }

    async fn text_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{element}/text"), None).await.as_str().unwrap().to_string()
    }

    async fn is_displayed(&self, css: &str) -> bool {
        let element = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{element}/displayed"), None).await.as_bool().unwrap()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizen_answers_sipas_in_headless_chromium() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app: TestApp = spawn_app(Backend::Sqlite).await.unwrap();
    app.seed_places().await;
    // Threshold 1: the one answer's figures are shown.
    let wave = app.open_wave_with(&json!({"name": "Đợt thử", "form_id": "sipas-2017", "min_cell": 1})).await;
    let invitation = app.invite(&wave, "00001", Some("AG1"), 1).await.remove(0);
    let form = app.form("sipas-2017").await;

    driver.goto(&invitation.url).await;
    let title = driver.text_of("h1").await;
    assert!(title.to_lowercase().contains("phiếu"), "{title}");
    // JavaScript hides the follow-up question until "Khác" is chosen.
    assert!(!driver.is_displayed("#q-expectations_other").await);
    driver.screenshot("questionnaire-top.png").await;

    // Submit once half-filled: the page comes back with the answers kept.
    driver.click("input[name=respondent_type][value='1']").await;
    driver.click("#submit").await;
    assert!(driver.wait_for_text("#error-summary", "Phiếu chưa gửi được").await.contains("Phiếu chưa gửi được"));
    let kept = driver.find("input[name=respondent_type][value='1']").await;
    let checked = driver.call(reqwest::Method::GET, &format!("/element/{kept}/selected"), None).await;
    assert_eq!(checked, json!(true), "answer kept after the error");

    for item in form["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        if item["kind"] == "text" || item.get("show_if").is_some() || id == "respondent_type" {
            continue;
        }
        let code = if item["kind"] == "satisfaction" {
            "4".to_string()
        } else {
            item["options"][0]["code"].as_str().unwrap().to_string()
        };
        driver.click(&format!("input[name={id}][value='{code}']")).await;
    }
    driver.click("input[name=expectations][value='other']").await;
    assert!(driver.is_displayed("#q-expectations_other").await, "follow-up shown once “Khác” is chosen");
    driver.type_into("textarea[name=expectations_other]", "Thêm chỗ để xe").await;
    driver.type_into("textarea[name=comment]", "Cán bộ hướng dẫn tận tình, chu đáo.").await;
    driver.click("#submit").await;
    let heading = driver.wait_for_text("h1", "Cảm ơn").await;
    driver.screenshot("thank-you.png").await;
    assert!(heading.contains("Cảm ơn Ông/Bà"), "{heading}");

    let results = app.results(&format!("/api/v1/waves/{wave}/results")).await;
    assert_eq!(results["overall"]["responses"], 1);
    let sipas = results["overall"]["indices"].as_array().unwrap().iter().find(|i| i["id"] == "sipas").unwrap();
    assert_eq!(sipas["value"], 100.0);
}

/// A4's width less 35 mm of margins, in CSS pixels (96 per inch): what a printed table has.
const A4_PRINTABLE_PX: u32 = 661;

/// The printable report by district of a wave of `form_id` (6, 5 and 7 answers in three
/// communes, satisfied at 5, 4 and 2), opened by the administrator in a window as wide as an
/// A4 page's text; the app is returned to keep it running.
async fn open_printable_report(driver: &Driver, form_id: &str) -> TestApp {
    let app: TestApp = spawn_app(Backend::Sqlite).await.unwrap();
    app.seed_places().await;
    let form = app.form(form_id).await;
    let wave = app.open_wave(form_id).await;
    for (commune, level, count) in [("00001", "5", 6), ("00002", "4", 5), ("00003", "2", 7)] {
        for invitation in app.invite(&wave, commune, None, count).await {
            let answers = crate::helpers::satisfied_at(&form, level);
            assert_eq!(app.answer(&invitation.code, &answers).await.status(), 201);
        }
    }
    driver
        .call(reqwest::Method::POST, "/window/rect", Some(json!({"width": A4_PRINTABLE_PX + 40, "height": 1100})))
        .await;
    driver.goto(&app.url("/dang-nhap")).await;
    driver.type_into("input[name=email]", crate::helpers::ADMIN_EMAIL).await;
    driver.type_into("input[name=password]", crate::helpers::ADMIN_PASSWORD).await;
    driver.click("form button[type=submit]").await;
    driver.wait_for_text("h1", "Các đợt khảo sát").await;
    driver.goto(&app.url(&format!("/quan-ly/dot/{wave}/bao-cao?level=district"))).await;
    let title = driver.wait_for_text("h1", "BÁO CÁO KẾT QUẢ KHẢO SÁT").await;
    assert!(title.contains("Đợt thử"), "{title}");
    app
}

/// The page as the printer lays it out, on a viewport as wide as an A4 page's text: the
/// site's header and links gone, and no table wider than the page.
async fn assert_prints_within_a4(driver: &Driver) {
    let print = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": "print"}});
    driver.call(reqwest::Method::POST, "/goog/cdp/execute", Some(print)).await;
    let a4 = json!({"cmd": "Emulation.setDeviceMetricsOverride",
                    "params": {"width": A4_PRINTABLE_PX, "height": 1100, "deviceScaleFactor": 1, "mobile": false}});
    driver.call(reqwest::Method::POST, "/goog/cdp/execute", Some(a4)).await;
    let script = "return [matchMedia('print').matches, getComputedStyle(document.querySelector('header.top')).display, \
                  getComputedStyle(document.querySelector('.no-print')).display, document.documentElement.clientWidth, \
                  Math.max(...[...document.querySelectorAll('table.report-table')].map(t => t.getBoundingClientRect().right))]";
    let printed =
        driver.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await;
    assert_eq!(printed[0], true, "print media: {printed}");
    assert_eq!((&printed[1], &printed[2]), (&json!("none"), &json!("none")), "no site header, no links: {printed}");
    let (page, rightmost) = (printed[3].as_f64().unwrap(), printed[4].as_f64().unwrap());
    assert!(page <= f64::from(A4_PRINTABLE_PX), "the page's text is A4's: {printed}");
    // Within a pixel: layout rounds to fractions of one.
    assert!(rightmost <= page + 1.0, "printed, every table ends within the page: {printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printable_report_has_tables_and_svg_charts_and_prints_on_a4() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let _app = open_printable_report(&driver, "sipas-2017").await;
    let head = driver.text_of(".doc-nation").await;
    assert!(head.to_uppercase().contains("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), "quốc hiệu: {head}");
    let table = driver.text_of("table.report-table").await;
    // 6 + 5 + 7 answers: access 18 answers, 11 satisfied → 61,1 (half up, decimal comma).
    assert!(table.contains("61,1"), "{table}");
    let script = "return [document.querySelectorAll('svg rect').length, \
                  Math.max(...[...document.querySelectorAll('table.report-table')].map(t => t.scrollWidth)), \
                  document.querySelectorAll('table.report-table').length]";
    let measured =
        driver.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await;
    let (bars, widest, tables) =
        (measured[0].as_u64().unwrap(), measured[1].as_u64().unwrap(), measured[2].as_u64().unwrap());
    assert_eq!(
        tables, 6,
        "overall, by district, items, perception beside satisfaction, expectations, response rates (no comment was written)"
    );
    assert!(bars >= 2 + 2, "a bar per headline index and per district: {bars}");
    assert!(widest <= u64::from(A4_PRINTABLE_PX), "no table wider than an A4 page's text: {widest}px");
    driver.screenshot("report.png").await;
    assert_prints_within_a4(&driver).await;
    let pdf = driver
        .call(
            reqwest::Method::POST,
            "/print",
            Some(json!({"page": {"width": 21.0, "height": 29.7}, "background": true})),
        )
        .await;
    use base64::Engine;
    let pdf = base64::engine::general_purpose::STANDARD.decode(pdf.as_str().unwrap()).unwrap();
    assert!(pdf.starts_with(b"%PDF"), "printed to PDF");
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.pdf"), &pdf).unwrap();
}

/// SIPAS 2023 puts a dozen headline indices beside each unit: on screen its table scrolls,
/// printed it still fits an upright A4 page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printable_report_of_sipas_2023_fits_its_many_columns_on_a4() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let _app = open_printable_report(&driver, "sipas-2023").await;
    let script = "return document.querySelectorAll('table.report-table')[1].querySelectorAll('thead th').length";
    let columns =
        driver.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await;
    assert!(columns.as_u64().unwrap() >= 3 + 12, "unit, answers, rank and a dozen indices: {columns}");
    assert_prints_within_a4(&driver).await;
}
