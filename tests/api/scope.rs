//! Who may put people into a wave and choose its respondents: lists only from the agencies
//! and localities a wave covers, no officer undoing a drawn sample, codes from agencies only
//! where the wave allows it (and counted apart), and caps on how many codes are issued.

use crate::helpers::{Backend, TestApp, csrf_of, satisfied_at, spawn_app_with};
use crate::lists::{confirmed_list, sample, stored, upload, wave_with_period};
use crate::on_both_backends;
use crate::wave_pages::{admin, get};
use serde_json::{Value, json};

on_both_backends!(
    officer_uploads_only_into_waves_covering_its_agency_and_locality,
    officer_cannot_confirm_after_a_draw_and_an_administrator_resets_only_explicitly,
    upload_page_after_a_draw_confirms_only_for_an_administrator_who_ticks_the_reset,
    officer_issues_codes_only_in_desk_waves_and_desk_answers_are_counted_apart,
    a_request_over_100_000_codes_is_refused,
    officer_sees_only_merged_results_and_pages_hide_small_desk_splits,
    a_provincial_agency_in_a_district_wave_neither_uploads_nor_issues_codes,
);

const LIST: &str = "Họ tên,SĐT,Xã\nLê Văn Em,0944444444,00003\nPhạm Thị Dung,0987654321,00003\n";

async fn wave(app: &TestApp, body: Value) -> String {
    let created = app.post("/api/v1/waves", &body).await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn officer_uploads_only_into_waves_covering_its_agency_and_locality(app: TestApp) {
    app.seed_places().await;
    let officer = app.official("agency_officer", Some("AG2")).await;
    let other_agency = wave(&app, json!({"name": "Chỉ AG1", "form_id": "sipas-2017", "agencies": ["AG1"]})).await;
    let other_district = wave(&app, json!({"name": "Huyện Một", "form_id": "sipas-2017", "localities": ["001"]})).await;
    let covering =
        wave(&app, json!({"name": "Cả tỉnh", "form_id": "sipas-2017", "localities": ["01"], "agencies": ["AG2"]}))
            .await;
    let everything = wave(&app, json!({"name": "Không giới hạn", "form_id": "sipas-2017"})).await;

    for (wave, reason) in [(&other_agency, "không thuộc phạm vi"), (&other_district, "không thuộc địa bàn")]
    {
        let refused = upload(&app, &officer, wave, "l.csv", LIST.as_bytes().to_vec(), None).await;
        assert_eq!(refused.status(), 403);
        let message = refused.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
        assert!(message.contains(reason), "{message}");
    }
    // An administrator naming an agency the wave does not cover is refused alike.
    let named = upload(&app, &app.admin_token, &other_agency, "l.csv", LIST.as_bytes().to_vec(), Some("AG2")).await;
    assert_eq!(named.status(), 403);
    assert!(stored(&app, "SELECT id AS value FROM list_uploads").is_empty(), "nothing was read");

    for wave in [&covering, &everything] {
        assert_eq!(upload(&app, &officer, wave, "l.csv", LIST.as_bytes().to_vec(), None).await.status(), 201);
    }
}

async fn sampled(app: &TestApp, wave: &str) -> i64 {
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    progress["strata"].as_array().unwrap().iter().map(|s| s["sampled"].as_i64().unwrap()).sum()
}

async fn officer_cannot_confirm_after_a_draw_and_an_administrator_resets_only_explicitly(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    confirmed_list(&app, &wave, "Họ tên,SĐT,Xã\nNguyễn Văn An,0912345678,00001\nTrần Thị Bình,0912000111,00002\n")
        .await;
    sample(&app, &wave, json!({"level": "commune", "method": "quota", "quota": 100, "seed": 7})).await;
    assert_eq!(sampled(&app, &wave).await, 2);
    let draws_before = stored(&app, "SELECT id AS value FROM sample_draws");

    let officer = app.official("agency_officer", Some("AG2")).await;
    let uploaded: Value =
        upload(&app, &officer, &wave, "l.csv", LIST.as_bytes().to_vec(), None).await.json().await.unwrap();
    let confirm = format!("/api/v1/uploads/{}/confirm", uploaded["upload_id"].as_str().unwrap());
    for body in [json!({}), json!({"reset_sample": true})] {
        let refused = app.post_as(&officer, &confirm, &body).await;
        assert_eq!(refused.status(), 409);
        let message = refused.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
        assert!(message.contains("Nội vụ phải xác nhận"), "{message}");
    }
    assert_eq!(sampled(&app, &wave).await, 2, "the administrator's sample stands");
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads WHERE agency_code = 'AG2'"), ["pending"]);

    // The administrator must say that the draw goes.
    let unasked = app.post(&confirm, &json!({})).await;
    assert_eq!(unasked.status(), 409);
    assert!(unasked.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("reset_sample"));
    assert_eq!(sampled(&app, &wave).await, 2);
    let confirmed = app.post(&confirm, &json!({"reset_sample": true})).await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(confirmed.json::<Value>().await.unwrap()["sample_reset"], true);
    assert_eq!(sampled(&app, &wave).await, 0, "the frame changed: the sample must be drawn again");
    assert_eq!(stored(&app, "SELECT id AS value FROM sample_draws"), draws_before, "the record of draws stays");
    let log = app.get_json("/api/v1/audit?limit=100").await.to_string();
    assert!(log.contains("sample_reset=true"), "{log}");
}

async fn upload_page_after_a_draw_confirms_only_for_an_administrator_who_ticks_the_reset(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    confirmed_list(&app, &wave, "Họ tên,SĐT,Xã\nNguyễn Văn An,0912345678,00001\n").await;
    sample(&app, &wave, json!({"level": "commune", "method": "quota", "quota": 100, "seed": 7})).await;
    let officer = app.official("agency_officer", Some("AG2")).await;
    let uploaded: Value =
        upload(&app, &officer, &wave, "l.csv", LIST.as_bytes().to_vec(), None).await.json().await.unwrap();
    let page = format!("/quan-ly/danh-sach/{}", uploaded["upload_id"].as_str().unwrap());

    let (officer_page, _) = crate::wave_pages::official(&app, "agency_officer", Some("AG2")).await;
    let (status, html) = get(&officer_page, &app, &page).await;
    assert_eq!(status, 200);
    assert!(html.contains("Nội vụ phải xác nhận") && !html.contains("Xác nhận danh sách</button>"), "{html}");
    let forced = officer_page
        .post(app.url(&format!("{page}/xac-nhan")))
        .form(&[("_csrf", csrf_of(&html)), ("reset_sample", "1".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 409, "the form's absence is not the only guard");

    let administrator = admin(&app).await;
    let (_, html) = get(&administrator, &app, &page).await;
    assert!(html.contains("name=\"reset_sample\"") && html.contains("hủy mẫu"), "{html}");
    let csrf = csrf_of(&html);
    let unticked =
        administrator.post(app.url(&format!("{page}/xac-nhan"))).form(&[("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(unticked.status(), 409);
    assert_eq!(sampled(&app, &wave).await, 1);
    let ticked = administrator
        .post(app.url(&format!("{page}/xac-nhan")))
        .form(&[("_csrf", csrf.as_str()), ("reset_sample", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(ticked.status(), 303);
    assert_eq!(sampled(&app, &wave).await, 0);
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads WHERE agency_code = 'AG2'"), ["confirmed"]);
}

fn index(group: &Value, id: &str) -> f64 {
    group["indices"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["value"].as_f64().unwrap()
}

async fn officer_issues_codes_only_in_desk_waves_and_desk_answers_are_counted_apart(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let officer = app.official("agency_officer", Some("AG1")).await;
    let ask = json!({"count": 5, "locality_code": "00001", "agency_code": "AG1"});

    let plain = app.open_wave("sipas-2017").await;
    let refused = app.post_as(&officer, &format!("/api/v1/waves/{plain}/invitations"), &ask).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("chỉ Nội vụ phát mã"));
    assert_eq!(app.get_json(&format!("/api/v1/waves/{plain}")).await["desk_codes"], false);

    let desk =
        app.open_wave_with(&json!({"name": "Có mã tại quầy", "form_id": "sipas-2017", "desk_codes": true})).await;
    assert_eq!(app.get_json(&format!("/api/v1/waves/{desk}")).await["desk_codes"], true);
    let issued = app.post_as(&officer, &format!("/api/v1/waves/{desk}/invitations"), &ask).await;
    assert_eq!(issued.status(), 201);
    let desk_codes: Vec<String> = issued.json::<Value>().await.unwrap()["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect();
    // The agency's own respondents are all very satisfied; Nội vụ's are not.
    for code in &desk_codes {
        assert_eq!(app.answer(code, &satisfied_at(&form, "5")).await.status(), 201);
    }
    for invitation in app.invite(&desk, "00002", Some("AG1"), 5).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "2")).await.status(), 201);
    }
    let stored_channels = stored(&app, &format!("SELECT channel AS value FROM responses WHERE wave_id = '{desk}'"));
    assert_eq!(stored_channels.iter().filter(|c| *c == "desk").count(), 5);

    let results = |filter: &'static str| {
        let (app, desk) = (&app, desk.clone());
        async move { app.results(&format!("/api/v1/waves/{desk}/results?level=commune{filter}")).await }
    };
    let all = results("").await;
    assert_eq!((all["overall"]["responses"].as_u64(), all["overall"]["desk_responses"].as_u64()), (Some(10), Some(5)));
    assert_eq!(index(&all["overall"], "sipas"), 50.0);
    let commune = |r: &Value, code: &str| {
        r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["locality"]["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {r}"))
            .clone()
    };
    assert_eq!(commune(&all, "00001")["desk_responses"], 5);
    assert_eq!(commune(&all, "00002")["desk_responses"], 0);

    let without = results("&desk=exclude").await;
    assert_eq!(
        (without["overall"]["responses"].as_u64(), without["overall"]["desk_responses"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(index(&without["overall"], "sipas"), 0.0, "only Nội vụ's respondents remain");
    let communes: Vec<&Value> = without["groups"].as_array().unwrap().iter().map(|g| &g["locality"]["code"]).collect();
    assert_eq!(communes, [&json!("00002")], "the desk commune has nothing left");
    let only = results("&desk=only").await;
    assert_eq!((only["overall"]["responses"].as_u64(), only["overall"]["desk_responses"].as_u64()), (Some(5), Some(5)));
    assert_eq!(index(&only["overall"], "sipas"), 100.0);
    let bad = app.get_as(&app.admin_token, &format!("/api/v1/waves/{desk}/results?desk=maybe")).await;
    assert_eq!(bad.status(), 400);

    // The results page offers the same filter and shows the desk answers of each row.
    let administrator = admin(&app).await;
    let (status, html) = get(&administrator, &app, &format!("/quan-ly/dot/{desk}?level=commune")).await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"desk\"") && html.contains("5 từ mã phát tại quầy"), "{html}");
    let (_, html) = get(&administrator, &app, &format!("/quan-ly/dot/{desk}?level=commune&desk=exclude")).await;
    assert!(html.contains("<option value=\"exclude\" selected>") && !html.contains("từ mã phát tại quầy</small>"));

    let verify = app.get_json(&format!("/api/v1/waves/{desk}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");
    let log = app.get_json("/api/v1/audit?limit=100").await.to_string();
    assert!(log.contains("channel=desk"), "{log}");
}

/// The cells of the results page's row named `name`: whether each shows a figure.
fn row_cells(html: &str, name: &str) -> Vec<bool> {
    let start = html.find(&format!("<th scope=\"row\">{name}</th>")).unwrap_or_else(|| panic!("{name} in {html}"));
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    row.split("<td>").skip(2).map(|cell| cell.contains("%<br>")).collect()
}

async fn officer_sees_only_merged_results_and_pages_hide_small_desk_splits(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let desk =
        app.open_wave_with(&json!({"name": "Có mã tại quầy", "form_id": "sipas-2017", "desk_codes": true})).await;
    let officer = app.official("agency_officer", Some("AG1")).await;
    // Three people the officer chose at its desk, six Nội vụ drew in the same commune, five elsewhere.
    let ask = json!({"count": 3, "locality_code": "00001", "agency_code": "AG1"});
    let issued: Value =
        app.post_as(&officer, &format!("/api/v1/waves/{desk}/invitations"), &ask).await.json().await.unwrap();
    for invitation in issued["invitations"].as_array().unwrap() {
        let code = invitation["code"].as_str().unwrap();
        assert_eq!(app.answer(code, &satisfied_at(&form, "5")).await.status(), 201);
    }
    for (commune, count) in [("00001", 6), ("00002", 5)] {
        for invitation in app.invite(&desk, commune, Some("AG1"), count).await {
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "2")).await.status(), 201);
        }
    }

    // The officer knows whom it handed codes to: no split by the channel for it.
    for filter in ["only", "exclude"] {
        let refused = app.get_as(&officer, &format!("/api/v1/waves/{desk}/results?desk={filter}")).await;
        assert_eq!(refused.status(), 403, "desk={filter}");
        let message = refused.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
        assert!(message.contains("không tách riêng phiếu từ mã phát tại quầy"), "{message}");
    }
    assert_eq!(app.get_as(&officer, &format!("/api/v1/waves/{desk}/results?desk=include")).await.status(), 200);
    let (officer_page, _) = crate::wave_pages::official(&app, "agency_officer", Some("AG1")).await;
    let (status, html) = get(&officer_page, &app, &format!("/quan-ly/dot/{desk}?level=commune")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("name=\"desk\""), "no filter offered to an agency: {html}");
    let (status, html) = get(&officer_page, &app, &format!("/quan-ly/dot/{desk}?desk=only")).await;
    assert_eq!(status, 403);
    assert!(html.contains("không tách riêng"), "{html}");

    // Nội vụ may split, but a cell whose desk or standard part is under 5 answers is hidden,
    // or the split and the whole would give the 3 desk answers away by difference.
    let administrator = admin(&app).await;
    let (_, whole) = get(&administrator, &app, &format!("/quan-ly/dot/{desk}?level=commune")).await;
    assert!(row_cells(&whole, "Xã Một Một").iter().all(|shown| *shown), "9 answers are shown: {whole}");
    let (_, split) = get(&administrator, &app, &format!("/quan-ly/dot/{desk}?level=commune&desk=exclude")).await;
    let cells = row_cells(&split, "Xã Một Một");
    assert!(!cells.is_empty() && cells.iter().all(|shown| !*shown), "6 standard beside 3 desk answers: {split}");
    assert!(row_cells(&split, "Toàn đợt").iter().all(|shown| !*shown), "{split}");
    assert!(row_cells(&split, "Xã Một Hai").iter().all(|shown| *shown), "no desk answers there: {split}");
    let (_, only) = get(&administrator, &app, &format!("/quan-ly/dot/{desk}?level=commune&desk=only")).await;
    assert!(row_cells(&only, "Toàn đợt").iter().all(|shown| !*shown), "{only}");
    // The API hides the same figures (one suppression for every output); counts stay.
    let api = app.results(&format!("/api/v1/waves/{desk}/results?desk=exclude")).await;
    assert_eq!(api["overall"]["responses"], 11);
    let access = api["overall"]["indices"].as_array().unwrap().iter().find(|i| i["id"] == "access").unwrap();
    assert_eq!(
        (access["value"].clone(), access["suppressed"].clone(), access["n"].clone()),
        (Value::Null, json!(true), json!(11))
    );
}

async fn a_provincial_agency_in_a_district_wave_neither_uploads_nor_issues_codes(app: TestApp) {
    app.seed_places().await;
    let created =
        app.post("/api/v1/agencies", &json!({"code": "AGP", "name": "Sở Nội vụ tỉnh", "locality_code": "01"})).await;
    assert_eq!(created.status(), 201);
    let wave = app
        .open_wave_with(
            &json!({"name": "Huyện Một", "form_id": "sipas-2017", "localities": ["001"], "desk_codes": true}),
        )
        .await;
    let officer = app.official("agency_officer", Some("AGP")).await;
    let uploaded = upload(&app, &officer, &wave, "l.csv", LIST.as_bytes().to_vec(), None).await;
    assert_eq!(uploaded.status(), 403);
    let upload_message = uploaded.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
    let ask = json!({"count": 1, "locality_code": "00001", "agency_code": "AGP"});
    let issued = app.post_as(&officer, &format!("/api/v1/waves/{wave}/invitations"), &ask).await;
    assert_eq!(issued.status(), 403);
    let issue_message = issued.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
    assert!(issue_message.contains("không thuộc địa bàn"), "{issue_message}");
    assert_eq!(issue_message, upload_message, "one rule, one answer");
    assert!(stored(&app, &format!("SELECT code_hash AS value FROM invitations WHERE wave_id = '{wave}'")).is_empty());
}

async fn a_request_over_100_000_codes_is_refused(app: TestApp) {
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let over = app
        .post(&format!("/api/v1/waves/{wave}/invitations"), &json!({"count": 100_001, "locality_code": "00001"}))
        .await;
    assert_eq!(over.status(), 422);
    let body: Value = over.json().await.unwrap();
    assert!(body["errors"]["count"].as_str().unwrap().contains("100.000"), "{body}");
}

/// With the per-wave cap set to 10, requests of 3 codes sent at once: exactly three fit.
async fn wave_cap_holds_under_concurrent_requests(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.max_invitations_per_wave = 10).await else { return };
    app.seed_places().await;
    let wave = app.open_wave("sipas-2017").await;
    let path = format!("/api/v1/waves/{wave}/invitations");
    let ask = json!({"count": 3, "locality_code": "00001"});
    let statuses = futures_util::future::join_all((0..8).map(|_| app.post(&path, &ask))).await;
    let statuses: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 5, "{statuses:?}");
    let count = stored(&app, &format!("SELECT code_hash AS value FROM invitations WHERE wave_id = '{wave}'"));
    assert_eq!(count.len(), 9);

    let refused = app.post(&path, &ask).await;
    assert_eq!(refused.status(), 422);
    let message = refused.json::<Value>().await.unwrap()["errors"]["count"].as_str().unwrap().to_string();
    assert!(message.contains("tối đa 10 thư mời") && message.contains("đã có 9"), "{message}");
    assert_eq!(app.post(&path, &json!({"count": 1, "locality_code": "00001"})).await.status(), 201, "up to the cap");
}

/// Sampled people's invitations count against the cap like issued codes, both ways.
async fn sampled_and_issued_invitations_share_the_wave_cap(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.max_invitations_per_wave = 6).await else { return };
    let wave = crate::delivery::sampled_wave(&app).await;
    let path = format!("/api/v1/waves/{wave}/invitations");
    assert_eq!(app.post(&path, &json!({"count": 3, "locality_code": "00001"})).await.status(), 201);
    let send = format!("/api/v1/waves/{wave}/invitations/send");
    let refused = app.post(&send, &json!({"channel": "sms"})).await;
    assert_eq!(refused.status(), 422, "3 issued + 4 sampled people reachable by SMS > 6");
    let message = refused.json::<Value>().await.unwrap()["errors"]["channel"].as_str().unwrap().to_string();
    assert!(message.contains("tối đa 6 thư mời") && message.contains("đã có 3"), "{message}");
    let invited =
        stored(&app, &format!("SELECT id AS value FROM contacts WHERE wave_id = '{wave}' AND code_hash IS NOT NULL"));
    assert!(invited.is_empty(), "nobody was half invited");

    let fresh = spawn_app_with(backend, |s| s.max_invitations_per_wave = 6).await.unwrap();
    let wave = crate::delivery::sampled_wave(&fresh).await;
    let sent = fresh.post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"})).await;
    assert_eq!(sent.status(), 200);
    let path = format!("/api/v1/waves/{wave}/invitations");
    let over = fresh.post(&path, &json!({"count": 3, "locality_code": "00001"})).await;
    assert_eq!(over.status(), 422, "4 sent + 3 > 6");
    assert_eq!(fresh.post(&path, &json!({"count": 2, "locality_code": "00001"})).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_and_issued_invitations_share_the_wave_cap_sqlite() {
    sampled_and_issued_invitations_share_the_wave_cap(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_and_issued_invitations_share_the_wave_cap_postgres() {
    sampled_and_issued_invitations_share_the_wave_cap(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wave_cap_holds_under_concurrent_requests_sqlite() {
    wave_cap_holds_under_concurrent_requests(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wave_cap_holds_under_concurrent_requests_postgres() {
    wave_cap_holds_under_concurrent_requests(Backend::Postgres).await
}
