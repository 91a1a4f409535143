//! From a drawn sample to letters, messages and visits; progress; and the end of contact data.

use crate::helpers::{Backend, TestApp, complete_answers};
use crate::lists::{confirmed_list, stored, upload, wave_with_period};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    sampled_people_get_letters_messages_or_visits_and_progress_counts_answers,
    purge_deletes_contact_data_and_keeps_the_counts,
    a_refusal_erases_contact_data_at_once_and_the_reserve_takes_its_place,
    reminders_reach_only_those_who_have_not_answered_and_at_most_n_times,
    progress_rolls_each_person_up_from_their_commune_through_every_level,
);

pub const PEOPLE: &str = "Họ và tên,Địa chỉ,Điện thoại,Xã\n\
Nguyễn Thị Thư,Số 5 đường Lý Thái Tổ,0912000001,00001\n\
Trần Văn Thơ,Thôn Đông,0912000002,00001\n\
Lê Thị Tin,,0912000003,00002\n\
Phạm Văn Nhắn,,0912000004,00002\n\
Hoàng Thị Gặp,,024 3825 1234,00003\n";

/// A wave with the list above confirmed and fully sampled, opened; returns its id.
pub async fn sampled_wave(app: &TestApp) -> String {
    sampled_wave_of(app, PEOPLE).await
}

/// A wave over the seeded places, opened, with `list` (a CSV whose rows are all valid)
/// confirmed and everyone in it sampled; returns its id.
pub async fn sampled_wave_of(app: &TestApp, list: &str) -> String {
    app.seed_places().await;
    let wave = wave_with_period(app).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    let body = confirmed_list(app, &wave, list).await;
    assert_eq!(body["accepted"], list.lines().count() - 1, "{body}");
    let drawn = app
        .post(
            &format!("/api/v1/waves/{wave}/sample"),
            &json!({"level": "commune", "method": "quota", "quota": 100_000, "seed": 1, "reserve": 0}),
        )
        .await;
    assert_eq!(drawn.status(), 201);
    wave
}

/// PEOPLE sampled in district strata (001: four people in communes 00001 and 00002; 002:
/// one in 00003), all invited (letters, SMS, a visit), and one letter answered (00001).
pub async fn district_wave_with_one_answer(app: &TestApp) -> String {
    app.seed_places().await;
    let wave = wave_with_period(app).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    confirmed_list(app, &wave, PEOPLE).await;
    let design = json!({"level": "district", "method": "quota", "quota": 10, "seed": 3, "reserve": 0});
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/sample"), &design).await.status(), 201);
    let enumerator = app.enumerator(&format!("{}@test.phieu", uuid::Uuid::new_v4().simple())).await;
    let sent = app
        .post(
            &format!("/api/v1/waves/{wave}/invitations/send"),
            &json!({"channel": "auto", "enumerators": [enumerator]}),
        )
        .await;
    assert_eq!(sent.json::<Value>().await.unwrap()["queued"], 5);
    let merge = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/letters.csv")).await.text().await.unwrap();
    let first = merge.lines().nth(1).unwrap();
    assert!(first.contains("Lý Thái Tổ"), "letters in locality order: {merge}");
    let code = first.split(',').nth(2).unwrap();
    assert_eq!(app.answer(code, &complete_answers(&app.form("sipas-2017").await, |_| None)).await.status(), 201);
    wave
}

async fn progress_rolls_each_person_up_from_their_commune_through_every_level(app: TestApp) {
    let wave = district_wave_with_one_answer(&app).await;
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;

    // The per-stratum contract is unchanged.
    assert_eq!(
        progress["strata"],
        json!([
            {"locality_code": "001", "agency_code": null, "sampled": 4, "invited": 4, "delivered": 4, "answered": 1, "rate": 25.0},
            {"locality_code": "002", "agency_code": null, "sampled": 1, "invited": 1, "delivered": 1, "answered": 0, "rate": 0.0},
        ])
    );
    let localities = progress["localities"].as_array().unwrap();
    let row =
        |code: &str| localities.iter().find(|l| l["code"] == code).unwrap_or_else(|| panic!("{code}: {progress}"));
    assert_eq!(
        row("00001"),
        &json!({"code": "00001", "name": "Xã Một Một", "level": "commune", "parent_code": "001",
                "sampled": 2, "invited": 2, "delivered": 2, "answered": 1, "rate": 50.0}),
        "strata are districts, yet each person counts in their own commune"
    );
    assert_eq!(row("01")["parent_code"], Value::Null);
    assert_eq!((row("01")["sampled"].as_i64(), row("01")["answered"].as_i64()), (Some(5), Some(1)));
    assert_eq!(row("01")["rate"], 20.0);
    let order: Vec<&str> = localities.iter().map(|l| l["code"].as_str().unwrap()).collect();
    assert_eq!(order, ["01", "001", "00001", "00002", "002", "00003"], "parents before children");
    for parent in localities.iter().filter(|l| l["level"] != "commune") {
        for field in ["sampled", "invited", "delivered", "answered"] {
            let children: i64 = localities
                .iter()
                .filter(|l| l["parent_code"] == parent["code"])
                .map(|l| l[field].as_i64().unwrap())
                .sum();
            assert_eq!(parent[field].as_i64(), Some(children), "{field} of {}", parent["code"]);
        }
    }
}

async fn sampled_people_get_letters_messages_or_visits_and_progress_counts_answers(app: TestApp) {
    let wave = sampled_wave(&app).await;
    let enumerator_id = app.enumerator("dtv@test.phieu").await;

    let send_path = format!("/api/v1/waves/{wave}/invitations/send");
    let email = app.post(&send_path, &json!({"channel": "email"})).await;
    assert_eq!(email.status(), 422, "no SMTP server configured, no email");
    let sent: Value =
        app.post(&send_path, &json!({"channel": "auto", "enumerators": [enumerator_id]})).await.json().await.unwrap();
    assert_eq!(sent, json!({"queued": 5, "unreachable": 0}));
    let again: Value =
        app.post(&send_path, &json!({"channel": "auto", "enumerators": [enumerator_id]})).await.json().await.unwrap();
    assert_eq!(again["queued"], 0, "nobody is invited twice");

    // Two people have an address: letters. Two have only a mobile: SMS. One has a landline.
    let letters = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/letters")).await;
    assert_eq!(letters.status(), 200);
    let html = letters.text().await.unwrap();
    assert_eq!(html.matches("<section class=\"letter\">").count(), 2);
    assert!(html.contains("Kính gửi Ông/Bà Nguyễn Thị Thư") && html.contains("Số 5 đường Lý Thái Tổ"));
    assert_eq!(html.matches("<svg").count(), 2, "a QR code on every letter");
    assert!(
        html.contains("Sở Nội vụ tỉnh Thử Nghiệm") && html.contains("30 ngày sau khi đợt khảo sát kết thúc"),
        "privacy notice"
    );

    let merge = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/letters.csv")).await.text().await.unwrap();
    let letter_code = merge.lines().nth(1).unwrap().split(',').nth(2).unwrap().to_string();
    assert_eq!(letter_code.len(), 16, "grouped code in the mail merge: {merge}");

    let sms = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/sms.csv")).await.text().await.unwrap();
    let lines: Vec<&str> = sms.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{sms}");
    assert!(lines[0].starts_with("0912000003,So Noi vu tinh Thu Nghiem moi Ong/Ba"), "{sms}");
    assert!(lines.iter().all(|l| l.ends_with(",1")), "one SMS part each: {sms}");

    let enumerator_token = app.token_for("dtv@test.phieu", "mat-khau-dieu-tra").await;
    let visits: Value = app.get_as(&enumerator_token, "/api/v1/assignments").await.json().await.unwrap();
    assert_eq!(visits["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(visits["assignments"][0]["name"], "Hoàng Thị Gặp");
    assert_eq!(app.get_as(&app.admin_token, "/api/v1/assignments").await.status(), 403);

    let form = app.form("sipas-2017").await;
    assert_eq!(app.answer(&letter_code, &complete_answers(&form, |_| None)).await.status(), 201);
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    let strata = progress["strata"].as_array().unwrap();
    let total = |field: &str| strata.iter().map(|s| s[field].as_i64().unwrap()).sum::<i64>();
    assert_eq!((total("sampled"), total("invited"), total("delivered"), total("answered")), (5, 5, 5, 1));
    let answered = strata.iter().find(|s| s["answered"] == 1).unwrap();
    assert_eq!(answered["locality_code"], "00001");
    assert_eq!(answered["rate"], 50.0);

    let redraw = app
        .post(&format!("/api/v1/waves/{wave}/sample"), &json!({"level": "commune", "method": "quota", "quota": 1}))
        .await;
    assert_eq!(redraw.status(), 409, "no redraw once invitations went out");
}

async fn purge_deletes_contact_data_and_keeps_the_counts(app: TestApp) {
    let wave = sampled_wave(&app).await;
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent, json!({"queued": 4, "unreachable": 1}), "the landline cannot take an SMS");
    let never_confirmed = "Họ tên,Địa chỉ,SĐT,Xã\nLưu Văn Chờ,Ngõ Chờ Xác Nhận,0912000999,00001\n";
    let pending =
        upload(&app, &app.admin_token, &wave, "l.csv", never_confirmed.as_bytes().to_vec(), Some("AG1")).await;
    assert_eq!(pending.status(), 201);
    let failed = upload(&app, &app.admin_token, &wave, "x.csv", b"a,b\n1,2\n".to_vec(), Some("AG1")).await;
    assert_eq!(failed.status(), 422);
    let purge_path = format!("/api/v1/waves/{wave}/purge");
    assert_eq!(app.post(&purge_path, &json!({"force": true})).await.status(), 409, "an open wave keeps its contacts");
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/close"), &json!({})).await.status(), 200);
    assert_eq!(
        app.post(&purge_path, &json!({"force": false})).await.status(),
        409,
        "the retention period has not passed"
    );
    let purged = app.post(&purge_path, &json!({"force": true})).await;
    assert_eq!(purged.status(), 200);
    assert_eq!(purged.json::<Value>().await.unwrap()["deleted"], 6, "the pending list too");

    assert_eq!(stored(&app, "SELECT id AS value FROM contacts").len(), 0);
    let mut counts =
        stored(&app, "SELECT status || '|' || accepted || '|' || coalesce(failure, '-') AS value FROM list_uploads");
    counts.sort();
    assert_eq!(counts, ["confirmed|5|-", "failed|0|-", "pending|1|-"], "counts kept, failure reasons dropped");
    for table in ["list_lines", "list_files"] {
        assert_eq!(stored(&app, &format!("SELECT upload_id AS value FROM {table}")), Vec::<String>::new(), "{table}");
    }
    let audit = app.get_json("/api/v1/audit").await.to_string();
    assert!(audit.contains("wave.purge") && !audit.contains("Nguyễn Thị Thư"));

    if app.backend == Backend::Sqlite {
        // Unrecoverable, not just hidden: nothing of it in the database file or its journal.
        let path = app.database_url.strip_prefix("sqlite://").unwrap().to_string();
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-journal"] {
            bytes.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
        }
        for secret in ["Nguyễn Thị Thư", "Số 5 đường Lý Thái Tổ", "0912000001", "Hoàng Thị Gặp", "Ngõ Chờ Xác Nhận"]
        {
            let needle = secret.as_bytes();
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{secret} still in the database files");
        }
    }
}

async fn a_refusal_erases_contact_data_at_once_and_the_reserve_takes_its_place(app: TestApp) {
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/open"), &json!({})).await.status(), 200);
    confirmed_list(&app, &wave, PEOPLE).await;
    // One per commune, with one in reserve: communes 00001 and 00002 hold two people each.
    let design = json!({"level": "commune", "method": "quota", "quota": 1, "reserve": 1.0, "seed": 5});
    assert_eq!(app.post(&format!("/api/v1/waves/{wave}/sample"), &design).await.status(), 201);
    let sent: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent, json!({"queued": 2, "unreachable": 1}));

    let sms = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/sms.csv")).await.text().await.unwrap();
    let first = sms.lines().nth(1).unwrap();
    let phone = first.split(',').next().unwrap().to_string();
    let link = first.split(',').nth(1).unwrap().rsplit(' ').next().unwrap().to_string();
    let client = crate::helpers::browser();
    let page = client.get(format!("{link}/tu-choi")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Tôi không tham gia"), "{page}");
    let csrf = crate::helpers::csrf_of(&page);
    let refused = client.post(format!("{link}/tu-choi")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(refused.status(), 200);
    assert!(refused.text().await.unwrap().contains("đã được xóa"));
    let remaining = stored(&app, "SELECT coalesce(phone, '-') AS value FROM contacts");
    assert!(!remaining.contains(&phone), "the refusing person's phone is gone at once");
    assert_eq!(
        stored(&app, "SELECT name AS value FROM contacts WHERE delivery = 'opted_out'"),
        [""],
        "the row stays for the counts"
    );

    let replaced: Value =
        app.post(&format!("/api/v1/waves/{wave}/replacements"), &json!({})).await.json().await.unwrap();
    assert_eq!(replaced["replaced"], 1, "{replaced}");
    let exhausted: i64 =
        replaced["strata"].as_array().unwrap().iter().map(|s| s["reserve_exhausted"].as_i64().unwrap()).sum();
    assert_eq!(exhausted, 1, "the landline-only commune has no reserve left: {replaced}");
    let again: Value = app
        .post(&format!("/api/v1/waves/{wave}/invitations/send"), &json!({"channel": "sms"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["queued"], 1, "the reserve is invited");
    let progress = app.get_json(&format!("/api/v1/waves/{wave}/progress")).await;
    let invited: i64 = progress["strata"].as_array().unwrap().iter().map(|s| s["invited"].as_i64().unwrap()).sum();
    assert_eq!(invited, 2, "{progress}");
}

async fn reminders_reach_only_those_who_have_not_answered_and_at_most_n_times(app: TestApp) {
    let wave = sampled_wave(&app).await;
    let enumerator_id = app.enumerator("dtv2@test.phieu").await;
    let sent: Value = app
        .post(
            &format!("/api/v1/waves/{wave}/invitations/send"),
            &json!({"channel": "auto", "enumerators": [enumerator_id]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent["queued"], 5);
    let merge = app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/letters.csv")).await.text().await.unwrap();
    let code = merge.lines().nth(1).unwrap().split(',').nth(2).unwrap().to_string();
    assert_eq!(app.answer(&code, &complete_answers(&app.form("sipas-2017").await, |_| None)).await.status(), 201);

    let remind_path = format!("/api/v1/waves/{wave}/reminders");
    let too_soon: Value = app.post(&remind_path, &json!({"after_days": 7})).await.json().await.unwrap();
    assert_eq!(too_soon["reminded"], 0, "contacted today, not yet due");
    let first: Value = app.post(&remind_path, &json!({"after_days": 0, "max": 1})).await.json().await.unwrap();
    assert_eq!(
        first,
        json!({"reminded": 4, "channels": {"enumerator": 1, "letter": 1, "sms": 2}}),
        "not the one who answered"
    );
    let letters =
        app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/letters?reminders=1")).await.text().await.unwrap();
    assert_eq!(letters.matches("<section class=\"letter\">").count(), 1);
    assert!(!letters.contains(&code), "the person who answered gets no reminder");
    let sms =
        app.get_as(&app.admin_token, &format!("/api/v1/waves/{wave}/sms.csv?reminders=1")).await.text().await.unwrap();
    assert_eq!(sms.lines().count(), 3, "header and two messages: {sms}");
    let second: Value = app.post(&remind_path, &json!({"after_days": 0, "max": 1})).await.json().await.unwrap();
    assert_eq!(second["reminded"], 0, "at most one reminder each");
}
