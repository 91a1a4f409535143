//! The pages of a wave beyond its results: sampling and invitations for Nội vụ, progress,
//! and an enumerator's visits — each for its roles only, with CSRF-protected forms.

use crate::delivery::{PEOPLE, district_wave_with_one_answer};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, browser, complete_answers, csrf_of};
use crate::lists::{confirmed_list, wave_with_period};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    sampling_page_draws_a_sample_the_api_reports_and_sends_invitations,
    sampling_form_errors_keep_what_was_typed,
    sampling_forms_without_csrf_token_change_nothing,
    wave_pages_are_refused_to_the_wrong_roles,
    progress_page_shows_every_level_with_vietnamese_rates,
    enumerator_sees_exactly_the_people_assigned_to_them,
);

const PASSWORD: &str = "mat-khau-trang-1";

/// A browser signed in on the pages as `email`, with the sign-in's redirect target.
pub async fn signed_in(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, String) {
    let client = browser();
    let page = client.get(app.url("/dang-nhap")).send().await.unwrap().text().await.unwrap();
    let response = client
        .post(app.url("/dang-nhap"))
        .form(&[("email", email), ("password", password), ("_csrf", &csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "sign-in of {email}");
    (client, response.headers()["location"].to_str().unwrap().to_string())
}

/// An official with `role` signed in on the pages.
pub async fn official(app: &TestApp, role: &str, agency: Option<&str>) -> (reqwest::Client, String) {
    let email = format!("{role}-{}@test.phieu", uuid::Uuid::new_v4().simple());
    let created = app
        .post("/api/v1/users", &json!({"email": email, "password": PASSWORD, "role": role, "agency_code": agency}))
        .await;
    assert_eq!(created.status(), 201);
    let (client, _) = signed_in(app, &email, PASSWORD).await;
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    (client, id)
}

pub async fn admin(app: &TestApp) -> reqwest::Client {
    signed_in(app, ADMIN_EMAIL, ADMIN_PASSWORD).await.0
}

pub async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let response = client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A wave with PEOPLE confirmed as AG1's list, nothing drawn yet.
async fn listed_wave(app: &TestApp) -> String {
    app.seed_places().await;
    let wave = wave_with_period(app).await;
    confirmed_list(app, &wave, PEOPLE).await;
    wave
}

async fn sampling_page_draws_a_sample_the_api_reports_and_sends_invitations(app: TestApp) {
    let wave = listed_wave(&app).await;
    let client = admin(&app).await;
    let (status, html) = get(&client, &app, &format!("/quan-ly/dot/{wave}/mau")).await;
    assert_eq!(status, 200);
    assert!(html.contains("chưa rút lần nào") && html.contains("<caption>Các lần rút mẫu, mới nhất trước</caption>"));
    let csrf = csrf_of(&html);

    let drawn = client
        .post(app.url(&format!("/quan-ly/dot/{wave}/mau")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("level", "commune"),
            ("method", "quota"),
            ("quota", "2"),
            ("margin", "0,05"),
            ("reserve", "0"),
            ("seed", "2026"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(drawn.status(), 303);
    assert_eq!(drawn.headers()["location"], format!("/quan-ly/dot/{wave}/mau?da_rut=1").as_str());

    // The API reports the draw the page made, with the seed as typed.
    let draws = app.get_json(&format!("/api/v1/waves/{wave}/sample")).await;
    assert_eq!(draws["draws"].as_array().unwrap().len(), 1);
    let draw = &draws["draws"][0];
    assert_eq!((draw["seed"].as_i64(), draw["design"]["method"].as_str()), (Some(2026), Some("quota")));
    let sizes: Vec<(String, i64, i64)> = draw["strata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["locality_code"].as_str().unwrap().into(),
                s["population"].as_i64().unwrap(),
                s["sample"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sizes, [("00001".into(), 2, 2), ("00002".into(), 2, 2), ("00003".into(), 1, 1)]);

    let (_, html) = get(&client, &app, &format!("/quan-ly/dot/{wave}/mau?da_rut=1")).await;
    assert!(html.contains("Đã rút mẫu"), "notice after the redirect");
    assert!(
        html.contains("<tr><th scope=\"row\">Xã Một Hai</th><td>Mọi cơ quan</td><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">0</td></tr>"),
        "the current draw per stratum: {html}"
    );
    assert!(html.contains(ADMIN_EMAIL) && html.contains("2 người mỗi nhóm"), "who drew, and the design in words");

    // Invitations by channel: two people have an address.
    let sent = client
        .post(app.url(&format!("/quan-ly/dot/{wave}/gui-thu-moi")))
        .form(&[("_csrf", csrf.as_str()), ("channel", "letter")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    let location = sent.headers()["location"].to_str().unwrap().to_string();
    let (_, html) = get(&client, &app, &location).await;
    assert!(html.contains("Đã tạo 2 thư mời. 3 người không liên lạc được qua kênh đã chọn."), "{html}");
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    assert_eq!(progress["localities"][0]["invited"], 2, "{progress}");

    let no_enumerator = client
        .post(app.url(&format!("/quan-ly/dot/{wave}/gui-thu-moi")))
        .form(&[("_csrf", csrf.as_str()), ("channel", "enumerator")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_enumerator.status(), 422);
    assert!(no_enumerator.text().await.unwrap().contains("Cần danh sách điều tra viên"));

    // The letters and merges the page links to open with the page's session.
    for (link, expected) in [
        ("thu-moi", "Kính gửi Ông/Bà Nguyễn Thị Thư"),
        ("thu-moi.csv", "Họ tên,Địa chỉ,Mã khảo sát,Đường dẫn"),
        ("tin-nhan.csv", "Số điện thoại,Nội dung"),
    ] {
        let path = format!("/quan-ly/dot/{wave}/{link}");
        assert!(html.contains(&format!("href=\"{path}\"")), "linked: {link}");
        let (status, body) = get(&client, &app, &path).await;
        assert_eq!(status, 200, "{link}");
        assert!(body.contains(expected), "{link}: {body}");
    }

    // No redraw once invitations went out: said on the page, and refused if posted anyway.
    assert!(html.contains("không rút lại mẫu được nữa"));
    assert!(!html.contains(&format!("action=\"/quan-ly/dot/{wave}/mau\"")), "no draw form");
    let redraw = client
        .post(app.url(&format!("/quan-ly/dot/{wave}/mau")))
        .form(&[("_csrf", csrf.as_str()), ("level", "commune"), ("method", "quota"), ("quota", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(redraw.status(), 409);
    assert!(redraw.text().await.unwrap().contains("Thư mời đã được gửi từ mẫu này: không rút lại mẫu được nữa"));
    assert_eq!(app.get_json(&format!("/api/v1/waves/{wave}/sample")).await["draws"].as_array().unwrap().len(), 1);
}

async fn sampling_form_errors_keep_what_was_typed(app: TestApp) {
    let wave = listed_wave(&app).await;
    let client = admin(&app).await;
    let (_, html) = get(&client, &app, &format!("/quan-ly/dot/{wave}/mau")).await;
    let csrf = csrf_of(&html);
    let url = app.url(&format!("/quan-ly/dot/{wave}/mau"));
    let post = async |fields: &[(&str, &str)]| {
        let mut form = fields.to_vec();
        form.push(("_csrf", csrf.as_str()));
        let response = client.post(&url).form(&form).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };

    // A typing error, caught before the service.
    let (status, html) = post(&[
        ("level", "district"),
        ("by_agency", "1"),
        ("method", "quota"),
        ("quota", "mười"),
        ("seed", "77"),
        ("reserve", "0,5"),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("<a href=\"#quota\">Số người mỗi nhóm phải là số nguyên không âm.</a>"), "{html}");
    assert!(html.contains("value=\"mười\" aria-invalid=\"true\""), "the bad value is kept and marked");
    assert!(html.contains("value=\"77\"") && html.contains("value=\"0,5\""), "the rest is kept");
    assert!(html.contains("<option value=\"district\" selected>"));
    assert!(html.contains("name=\"by_agency\" type=\"checkbox\" value=\"1\" checked"));
    assert!(html.contains("value=\"quota\" checked"));

    // A rule of the service, told in Vietnamese.
    let (status, html) = post(&[("level", "commune"), ("method", "proportional"), ("seed", "5")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("Tổng cỡ mẫu: Phương pháp “proportional” cần tham số total"), "{html}");
    assert!(html.contains("value=\"proportional\" checked") && html.contains("value=\"5\""));
    let (status, html) = post(&[("level", "commune"), ("method", "slovin"), ("margin", "1,5")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("<a href=\"#margin\">Sai số phải lớn hơn 0 và nhỏ hơn 1</a>"), "{html}");
    assert!(html.contains("value=\"1,5\""));

    assert_eq!(app.get_json(&format!("/api/v1/waves/{wave}/sample")).await["draws"], json!([]), "nothing drawn");
}

async fn sampling_forms_without_csrf_token_change_nothing(app: TestApp) {
    let wave = listed_wave(&app).await;
    let client = admin(&app).await;
    get(&client, &app, &format!("/quan-ly/dot/{wave}/mau")).await;
    let design = [("level", "commune"), ("method", "quota"), ("quota", "2")];
    let forged = client.post(app.url(&format!("/quan-ly/dot/{wave}/mau"))).form(&design).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let mut with_wrong = design.to_vec();
    let wrong = "0".repeat(64);
    with_wrong.push(("_csrf", &wrong));
    let forged = client.post(app.url(&format!("/quan-ly/dot/{wave}/mau"))).form(&with_wrong).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get_json(&format!("/api/v1/waves/{wave}/sample")).await["draws"], json!([]));

    assert_eq!(
        app.post(&format!("/api/v1/waves/{wave}/sample"), &json!({"level": "commune", "method": "quota", "quota": 2}))
            .await
            .status(),
        201
    );
    let forged = client
        .post(app.url(&format!("/quan-ly/dot/{wave}/gui-thu-moi")))
        .form(&[("channel", "letter")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    assert_eq!(progress["localities"][0]["invited"], 0, "nobody invited: {progress}");
}

async fn wave_pages_are_refused_to_the_wrong_roles(app: TestApp) {
    let wave = district_wave_with_one_answer(&app).await;
    let pages =
        ["mau", "tien-do", "thu-moi", "thu-moi.csv", "tin-nhan.csv"].map(|p| format!("/quan-ly/dot/{wave}/{p}"));

    let anonymous = browser();
    for path in pages.iter().map(String::as_str).chain(["/dieu-tra-vien"]) {
        let response = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/dang-nhap", "{path}");
    }

    // An officer of the other agency, and even of the agency whose list it is: contact
    // data and sampling belong to Nội vụ.
    for agency in ["AG2", "AG1"] {
        let (officer, _) = official(&app, "agency_officer", Some(agency)).await;
        for path in pages.iter().map(String::as_str).chain(["/dieu-tra-vien"]) {
            let (status, body) = get(&officer, &app, path).await;
            assert_eq!(status, 403, "{agency} {path}");
            assert!(!body.contains("Nguyễn Thị Thư") && !body.contains("0912000003"), "{path}");
            assert!(body.contains("không có quyền") || body.contains("Không có quyền"), "{path}: {body}");
        }
        let (_, dashboard) = get(&officer, &app, "/quan-ly").await;
        assert!(!dashboard.contains("/mau\"") && !dashboard.contains("/tien-do\""), "no links to refused pages");
        let csrf = csrf_of(&dashboard);
        let posted = officer
            .post(app.url(&format!("/quan-ly/dot/{wave}/gui-thu-moi")))
            .form(&[("_csrf", csrf.as_str()), ("channel", "auto")])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 403);
    }

    // An analyst follows progress and reads the record of draws, but neither draws nor
    // sees anyone's contact data.
    let (analyst, _) = official(&app, "analyst", None).await;
    let (_, dashboard) = get(&analyst, &app, "/quan-ly").await;
    assert!(dashboard.contains(&format!("href=\"/quan-ly/dot/{wave}/tien-do\"")));
    let (status, html) = get(&analyst, &app, &format!("/quan-ly/dot/{wave}/mau")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Lịch sử rút mẫu") && !html.contains("name=\"method\"") && !html.contains("gui-thu-moi"));
    assert_eq!(get(&analyst, &app, &format!("/quan-ly/dot/{wave}/tien-do")).await.0, 200);
    for path in &pages[2..] {
        assert_eq!(get(&analyst, &app, path).await.0, 403, "{path}");
    }
    assert_eq!(get(&analyst, &app, "/dieu-tra-vien").await.0, 403);

    let (enumerator, _) = official(&app, "enumerator", None).await;
    for path in &pages {
        assert_eq!(get(&enumerator, &app, path).await.0, 403, "{path}");
    }
    let (_, dashboard) = get(&admin(&app).await, &app, "/quan-ly").await;
    assert!(dashboard.contains(&format!("href=\"/quan-ly/dot/{wave}/mau\"")));
    let (_, results) = get(&admin(&app).await, &app, &format!("/quan-ly/dot/{wave}")).await;
    assert!(results.contains(&format!("href=\"/quan-ly/dot/{wave}/tien-do\"")), "linked from the wave's page");
}

async fn progress_page_shows_every_level_with_vietnamese_rates(app: TestApp) {
    let wave = district_wave_with_one_answer(&app).await;
    let (status, html) = get(&admin(&app).await, &app, &format!("/quan-ly/dot/{wave}/tien-do")).await;
    assert_eq!(status, 200);
    let row = |depth: usize, indent: &str, name: &str, level: &str, figures: [&str; 5]| {
        format!(
            "<tr class=\"depth-{depth}\"><th scope=\"row\" style=\"padding-left: {indent}\">{name}</th><td>{level}</td>{}</tr>",
            figures.map(|f| format!("<td class=\"num\">{f}</td>")).concat()
        )
    };
    let expected = [
        row(0, "0.4rem", "Tỉnh Thử Nghiệm", "Tỉnh, thành phố", ["5", "5", "5", "1", "20,0%"]),
        row(1, "1.9rem", "Huyện Một", "Quận, huyện, thị xã", ["4", "4", "4", "1", "25,0%"]),
        row(2, "3.4rem", "Xã Một Một", "Xã, phường, thị trấn", ["2", "2", "2", "1", "50,0%"]),
        row(2, "3.4rem", "Xã Một Hai", "Xã, phường, thị trấn", ["2", "2", "2", "0", "0,0%"]),
        row(1, "1.9rem", "Huyện Hai", "Quận, huyện, thị xã", ["1", "1", "1", "0", "0,0%"]),
        row(2, "3.4rem", "Xã Hai Một", "Xã, phường, thị trấn", ["1", "1", "1", "0", "0,0%"]),
    ];
    let mut from = 0;
    for row in &expected {
        let at = html[from..].find(row.as_str()).unwrap_or_else(|| panic!("{row} in order in {html}"));
        from += at + row.len();
    }
    assert!(html.contains("<caption>Theo nhóm (tầng) của lần rút mẫu hiện tại</caption>"));
    assert!(html.contains("<tr><th scope=\"row\">Huyện Một</th><td class=\"num\">4</td>"), "per stratum");
    assert!(html.contains("Chưa có email nào."));
    assert!(html.contains("đã trả lời 1 (tỷ lệ trả lời 20,0%)"));
}

async fn enumerator_sees_exactly_the_people_assigned_to_them(app: TestApp) {
    let wave = crate::delivery::sampled_wave(&app).await;
    let first = app.enumerator("dtv-mot@test.phieu").await;
    let second = app.enumerator("dtv-hai@test.phieu").await;
    let sent = app
        .post(
            &format!("/api/v1/waves/{wave}/invitations/send"),
            &json!({"channel": "enumerator", "enumerators": [first, second]}),
        )
        .await;
    assert_eq!(sent.json::<Value>().await.unwrap()["queued"], 5);

    let assigned = async |email: &str| {
        let token = app.token_for(email, "mat-khau-dieu-tra").await;
        let body: Value = app.get_as(&token, "/api/v1/assignments").await.json().await.unwrap();
        body["assignments"].as_array().unwrap().clone()
    };
    let mine = assigned("dtv-mot@test.phieu").await;
    let theirs = assigned("dtv-hai@test.phieu").await;
    assert_eq!((mine.len(), theirs.len()), (3, 2), "round the two enumerators");

    let (client, landing) = signed_in(&app, "dtv-mot@test.phieu", "mat-khau-dieu-tra").await;
    assert_eq!(landing, "/dieu-tra-vien", "an enumerator lands on their visits");
    let (status, html) = get(&client, &app, "/dieu-tra-vien").await;
    assert_eq!(status, 200);
    for visit in &mine {
        let name = visit["name"].as_str().unwrap();
        assert!(html.contains(&format!("<th scope=\"row\">{name}</th>")), "{name}");
        assert!(html.contains(visit["code"].as_str().unwrap()), "the code of {name}");
        let path = format!("/s/{}", visit["url"].as_str().unwrap().rsplit('/').next().unwrap());
        assert!(html.contains(&format!("<a href=\"{path}\">Nhập phiếu")), "{path} in {html}");
    }
    for visit in &theirs {
        assert!(!html.contains(visit["name"].as_str().unwrap()), "not another enumerator's people");
        assert!(!html.contains(visit["code"].as_str().unwrap()));
    }
    assert_eq!(html.matches("Chưa trả lời").count(), 3);
    assert!(html.contains("<caption>Người cần gặp trong đợt SIPAS 2026</caption>"));

    // The link opens the questionnaire to type the paper form in; once answered it is marked.
    let url = mine[0]["url"].as_str().unwrap();
    let form = client.get(url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("Gửi phiếu"));
    let code = url.rsplit('/').next().unwrap();
    assert_eq!(app.answer(code, &complete_answers(&app.form("sipas-2017").await, |_| None)).await.status(), 201);
    let (_, html) = get(&client, &app, "/dieu-tra-vien").await;
    assert_eq!((html.matches("Chưa trả lời").count(), html.matches("Đã trả lời").count()), (2, 1));
    assert!(html.contains("còn 2 người chưa trả lời"));
    assert!(!html.contains(&format!("href=\"/s/{code}\"")), "no entry link for an answered code");

    assert_eq!(get(&admin(&app).await, &app, "/dieu-tra-vien").await.0, 403, "visits are the enumerator's own");
}
