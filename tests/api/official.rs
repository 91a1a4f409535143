//! The officials' pages: sign-in, the wave list, opening and closing with CSRF-protected
//! forms, and the results table.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, browser, csrf_of, satisfied_at};
use crate::on_both_backends;

on_both_backends!(
    official_signs_in_opens_a_wave_and_reads_its_results_table,
    page_forms_without_csrf_token_change_nothing,
    results_page_is_wide_orders_levels_top_down_and_lists_empty_units_when_asked
);

async fn sign_in(app: &TestApp, client: &reqwest::Client) -> String {
    let page = client.get(app.url("/dang-nhap")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let wrong = client
        .post(app.url("/dang-nhap"))
        .form(&[("email", ADMIN_EMAIL), ("password", "sai-mat-khau-roi"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Email hoặc mật khẩu không đúng"));
    let response = client
        .post(app.url("/dang-nhap"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/quan-ly");
    csrf
}

async fn official_signs_in_opens_a_wave_and_reads_its_results_table(app: TestApp) {
    app.seed_places().await;
    let client = browser();
    assert_eq!(
        client.get(app.url("/quan-ly")).send().await.unwrap().headers()["location"],
        "/dang-nhap",
        "signed out goes to sign-in"
    );
    let csrf = sign_in(&app, &client).await;

    let created = client
        .post(app.url("/quan-ly/dot"))
        .form(&[("name", "Khảo sát quý IV"), ("form_id", "sipas-2017"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let waves = app.get_json("/api/v1/waves").await;
    let wave = waves["waves"][0]["id"].as_str().unwrap().to_string();
    let dashboard = client.get(app.url("/quan-ly")).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("Khảo sát quý IV") && dashboard.contains("Nháp"));

    let opened =
        client.post(app.url(&format!("/quan-ly/dot/{wave}/mo"))).form(&[("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    assert_eq!(app.get_json(&format!("/api/v1/waves/{wave}")).await["status"], "open");

    let form = app.form("sipas-2017").await;
    for (commune, level) in
        [("00001", "5"), ("00001", "5"), ("00001", "4"), ("00001", "4"), ("00001", "2"), ("00003", "5")]
    {
        let invitation = app.invite(&wave, commune, None, 1).await.remove(0);
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
    }
    let table = client.get(app.url(&format!("/quan-ly/dot/{wave}?level=district"))).send().await.unwrap();
    assert_eq!(table.status(), 200);
    let html = table.text().await.unwrap();
    assert!(html.contains("6 phiếu hợp lệ trên 6 thư mời"), "response rate line");
    assert!(html.contains("Huyện Một") && html.contains("Huyện Hai"));
    // District two has one answer: hidden, and so is district one (4 of 5), or the whole wave
    // (5 of 6 → 83,3%, half up with a decimal comma) would give district two away.
    assert!(html.contains("83,3%"), "one decimal, Vietnamese decimal comma");
    assert!(!html.contains("80,0%"), "district one is hidden beside district two");
    assert!(
        html.contains("<option value=\"district\" selected>Quận, huyện, thị xã</option>"),
        "levels named in Vietnamese"
    );
    let hidden = "<abbr title=\"Ẩn để bảo vệ người trả lời\">*</abbr><br><small>n=";
    assert!(html.contains(&format!("{hidden}1</small>")), "figures on too few answers are suppressed");
    assert!(html.contains(&format!("{hidden}5</small>")), "and their complement");

    let closed =
        client.post(app.url(&format!("/quan-ly/dot/{wave}/dong"))).form(&[("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(closed.status(), 303);
    assert_eq!(app.get_json(&format!("/api/v1/waves/{wave}")).await["status"], "closed");
}

async fn page_forms_without_csrf_token_change_nothing(app: TestApp) {
    let client = browser();
    sign_in(&app, &client).await;
    let forged = client
        .post(app.url("/quan-ly/dot"))
        .form(&[("name", "Giả mạo"), ("form_id", "sipas-2017"), ("_csrf", &"0".repeat(64))])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get_json("/api/v1/waves").await["waves"].as_array().unwrap().len(), 0);
}

async fn results_page_is_wide_orders_levels_top_down_and_lists_empty_units_when_asked(app: TestApp) {
    app.seed_places().await;
    let wave = app
        .open_wave_with(
            &serde_json::json!({"name": "Đợt", "form_id": "sipas-2017", "localities": ["01"], "min_cell": 1}),
        )
        .await;
    let form = app.form("sipas-2017").await;
    let invitation = app.invite(&wave, "00001", None, 1).await.remove(0);
    assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "5")).await.status(), 201);
    app.invite(&wave, "00002", None, 3).await;
    let client = browser();
    sign_in(&app, &client).await;
    let page = |query: &str| {
        let url = app.url(&format!("/quan-ly/dot/{wave}?{query}"));
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("level=commune").await;
    assert!(html.contains("1 phiếu hợp lệ trên 4 thư mời (tỷ lệ trả lời 25,0%)"), "{html}");
    assert!(html.contains("<main id=\"main\" class=\"wide\">"), "the table uses the screen's width");
    let at = |option: &str| html.find(&format!("<option value=\"{option}\"")).unwrap_or_else(|| panic!("{option}"));
    assert!(at("province") < at("district") && at("district") < at("commune"), "levels from the top down");
    assert!(html.contains("Xã Một Một"));
    assert!(!html.contains("Xã Một Hai") && !html.contains("Xã Hai Một"), "units without answers hidden");
    let all = page("level=commune&all=1").await;
    assert!(all.contains("Xã Một Hai") && all.contains("Xã Hai Một"), "listed when asked");
    assert!(all.contains("name=\"all\" value=\"1\" checked"));
}
