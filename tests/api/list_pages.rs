//! The pages for agencies' lists: upload, how each line was read, correcting the columns,
//! the report, confirming — for those who manage the list only, with CSRF-protected forms.

use crate::helpers::{TestApp, csrf_of};
use crate::lists::{stored, wave_with_period};
use crate::on_both_backends;
use crate::wave_pages::{admin, get, official};

on_both_backends!(
    agency_officer_uploads_corrects_the_columns_and_confirms_on_the_pages,
    list_pages_refuse_forged_posts_and_explain_unreadable_files,
);

/// "Số liên lạc" is no header the service knows: the phones are read once the officer says so.
const LIST: &str = "Họ tên,Địa chỉ,Số liên lạc,Nơi cư trú\n\
                    Nguyễn Văn An,Thôn Đông,0912345678,00001\n\
                    Trần Thị Bình,Thôn Tây,0912345678,00002\n";

async fn post_file(
    client: &reqwest::Client,
    app: &TestApp,
    wave: &str,
    csrf: Option<&str>,
    bytes: &[u8],
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("danh-sach.csv"));
    if let Some(csrf) = csrf {
        form = form.text("_csrf", csrf.to_string());
    }
    client.post(app.url(&format!("/quan-ly/dot/{wave}/danh-sach"))).multipart(form).send().await.unwrap()
}

async fn agency_officer_uploads_corrects_the_columns_and_confirms_on_the_pages(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let (officer, _) = official(&app, "agency_officer", Some("AG1")).await;
    let (status, html) = get(&officer, &app, "/quan-ly").await;
    assert!(status == 200 && html.contains(&format!("/quan-ly/dot/{wave}/danh-sach")), "linked from the dashboard");
    let (status, html) = get(&officer, &app, &format!("/quan-ly/dot/{wave}/danh-sach")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Tải danh sách lên") && html.contains("Bộ phận Một cửa huyện Một"), "{html}");
    assert!(!html.contains("name=\"agency_code\""), "an officer uploads for their own agency only");

    let uploaded = post_file(&officer, &app, &wave, Some(&csrf_of(&html)), LIST.as_bytes()).await;
    assert_eq!(uploaded.status(), 303);
    let page = uploaded.headers()["location"].to_str().unwrap().to_string();
    let upload_id = page.strip_prefix("/quan-ly/danh-sach/").unwrap().to_string();
    let (status, html) = get(&officer, &app, &page).await;
    assert_eq!(status, 200);
    assert!(html.contains("Chờ xác nhận") && html.contains("Cột 3: “Số liên lạc”"), "{html}");
    assert!(html.contains("<option value=\"name\" selected>Họ và tên</option>"), "the recognised mapping is shown");
    assert!(html.contains("Mọi dòng đều được nhận."));
    let csrf = csrf_of(&html);

    let remap = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("_csrf", csrf.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        officer.post(app.url(&format!("{page}/cot"))).form(&form).send()
    };
    let twice = remap(vec![("col-0", "name"), ("col-2", "name")]).await.unwrap();
    assert_eq!(twice.status(), 422);
    assert!(twice.text().await.unwrap().contains("“Họ và tên” được chọn cho hai cột"));
    let remapped =
        remap(vec![("col-0", "name"), ("col-1", "address"), ("col-2", "phone"), ("col-3", "locality")]).await.unwrap();
    assert_eq!(remapped.status(), 303);
    let (_, html) = get(&officer, &app, remapped.headers()["location"].to_str().unwrap()).await;
    assert!(html.contains("Đã đọc lại danh sách theo cách chọn cột mới."));
    assert!(html.contains("trùng với dòng 2, đã gộp"), "the phone, now read, merges line 3 into line 2");
    assert!(html.contains("<option value=\"phone\" selected>Số điện thoại</option>"));

    let workbook = officer.get(app.url(&format!("{page}/bao-cao.xlsx"))).send().await.unwrap();
    assert_eq!(workbook.status(), 200);
    assert_eq!(workbook.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let (other, _) = official(&app, "agency_officer", Some("AG2")).await;
    assert_eq!(get(&other, &app, &page).await.0, 403, "another agency's officer");
    let (analyst, _) = official(&app, "analyst", None).await;
    assert_eq!(get(&analyst, &app, &format!("/quan-ly/dot/{wave}/danh-sach")).await.0, 403);

    let confirmed = officer.post(app.url(&format!("{page}/xac-nhan"))).form(&[("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(confirmed.status(), 303);
    let (_, html) = get(&officer, &app, &page).await;
    assert!(html.contains("Đã xác nhận") && !html.contains("Xác nhận danh sách</button>"));
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads"), ["confirmed"]);
    let (_, html) = get(&admin(&app).await, &app, &format!("/quan-ly/dot/{wave}/danh-sach")).await;
    assert!(html.contains(&upload_id) && html.contains("Đã xác nhận"), "the administrator sees every agency's lists");
}

async fn list_pages_refuse_forged_posts_and_explain_unreadable_files(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let client = admin(&app).await;
    let (_, html) = get(&client, &app, &format!("/quan-ly/dot/{wave}/danh-sach")).await;
    assert!(html.contains("name=\"agency_code\""), "an administrator chooses the agency");
    assert_eq!(post_file(&client, &app, &wave, None, LIST.as_bytes()).await.status(), 403);
    assert_eq!(stored(&app, "SELECT id AS value FROM list_uploads").len(), 0, "nothing read without a CSRF token");

    let headless = post_file(&client, &app, &wave, Some(&csrf_of(&html)), b"a,b\n1,2\n").await;
    assert_eq!(headless.status(), 422);
    let html = headless.text().await.unwrap();
    assert!(html.contains("Chưa đọc được danh sách") && html.contains("không tìm thấy dòng tiêu đề"), "{html}");
    assert_eq!(stored(&app, "SELECT status AS value FROM list_uploads"), ["failed"]);
    // The failed upload is listed with why it was not read.
    let (_, html) = get(&client, &app, &format!("/quan-ly/dot/{wave}/danh-sach")).await;
    assert!(html.contains("<td>Không đọc được: không tìm thấy dòng tiêu đề"), "{html}");
}
