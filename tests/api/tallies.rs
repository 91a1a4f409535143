//! Result tallies: roll-ups follow the locality tree of open waves only, the recount catches
//! a tampered cell, and concurrent answers are counted exactly.

use crate::helpers::{Backend, TestApp, satisfied_at};
use crate::on_both_backends;
use serde_json::{Value, json};

on_both_backends!(
    a_moved_commune_takes_its_answers_along_in_open_waves_only,
    verify_catches_a_tampered_leaf_cell_and_a_tampered_rollup,
    concurrent_answers_are_counted_exactly_at_every_level,
    the_recount_reads_answers_cell_by_cell_across_pages_and_agrees,
    tallies_rebuilt_from_raw_answers_give_the_same_results
);

fn responses_of(results: &Value, locality: &str) -> Option<u64> {
    results["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["locality"]["code"] == locality)
        .map(|g| g["responses"].as_u64().unwrap())
}

async fn answer_in(app: &TestApp, wave: &str, form: &Value, commune: &str, count: usize) {
    for invitation in app.invite(wave, commune, None, count).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(form, "5")).await.status(), 201);
    }
}

async fn a_moved_commune_takes_its_answers_along_in_open_waves_only(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let closed = app.open_wave("sipas-2017").await;
    answer_in(&app, &closed, &form, "00002", 1).await;
    assert_eq!(app.post(&format!("/api/v1/waves/{closed}/close"), &json!({})).await.status(), 200);
    let open = app.open_wave("sipas-2017").await;
    answer_in(&app, &open, &form, "00002", 2).await;
    answer_in(&app, &open, &form, "00003", 1).await;

    // Xã Một Hai moves from Huyện Một to Huyện Hai.
    let moved = json!({"code": "00002", "name": "Xã Một Hai", "level": "commune", "parent_code": "002"});
    assert_eq!(app.post("/api/v1/localities", &moved).await.status(), 200);

    let results = app.results(&format!("/api/v1/waves/{open}/results?level=district")).await;
    assert_eq!(responses_of(&results, "001"), None, "{results}");
    assert_eq!(responses_of(&results, "002"), Some(3));
    assert_eq!(results["overall"]["responses"], 3);
    let verify = app.get_json(&format!("/api/v1/waves/{open}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");

    // The closed wave's figures stay as they were when it closed.
    let results = app.results(&format!("/api/v1/waves/{closed}/results?level=district")).await;
    assert_eq!(responses_of(&results, "001"), Some(1), "{results}");
    assert_eq!(responses_of(&results, "002"), None);
    let verify = app.get_json(&format!("/api/v1/waves/{closed}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");
}

async fn verify_catches_a_tampered_leaf_cell_and_a_tampered_rollup(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    answer_in(&app, &wave, &form, "00001", 3).await;
    answer_in(&app, &wave, &form, "00003", 2).await;
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");
    assert_eq!(verify["responses_stored"], 5);

    // One more answer in a district's roll-up than its communes hold.
    let tampered = app.execute(&format!(
        "UPDATE result_cells SET responses = responses + 1 WHERE wave_id = '{wave}' AND locality_code = '001'"
    ));
    assert_eq!(tampered, 2, "the district with and without agency");
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], false, "{verify}");
    assert!(verify["differences"][0].as_str().unwrap().starts_with("district/001/"), "{verify}");
    app.execute(&format!(
        "UPDATE result_cells SET responses = responses - 1 WHERE wave_id = '{wave}' AND locality_code = '001'"
    ));
    assert_eq!(app.get_json(&format!("/api/v1/waves/{wave}/verify")).await["consistent"], true);

    // A leaf cell whose counts were emptied: the recount from raw answers disagrees.
    let empty = match app.backend {
        Backend::Sqlite => "X''",
        Backend::Postgres => "''::bytea",
    };
    app.execute(&format!(
        "UPDATE result_cells SET counts = {empty} WHERE wave_id = '{wave}' AND level = '' AND locality_code = '00003'"
    ));
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], false, "{verify}");
    let differences = verify["differences"].as_array().unwrap();
    assert!(differences.iter().any(|d| d.as_str().unwrap().starts_with("/00003/")), "{verify}");
}

async fn concurrent_answers_are_counted_exactly_at_every_level(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    let mut codes = Vec::new();
    for (commune, agency, count) in [("00001", Some("AG1"), 40), ("00002", None, 30), ("00003", Some("AG2"), 50)] {
        codes.extend(app.invite(&wave, commune, agency, count).await.into_iter().map(|i| i.code));
    }
    let answers = codes.iter().enumerate().map(|(i, code)| {
        let level = ["1", "2", "3", "4", "5"][i % 5];
        let app = &app;
        let answers = satisfied_at(&form, level);
        async move { app.answer(code, &answers).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(answers).await;
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");

    let by_commune = app.results(&format!("/api/v1/waves/{wave}/results?level=commune")).await;
    assert_eq!(by_commune["overall"]["responses"], 120);
    assert_eq!(
        [responses_of(&by_commune, "00001"), responses_of(&by_commune, "00002"), responses_of(&by_commune, "00003")],
        [Some(40), Some(30), Some(50)]
    );
    let by_district = app.results(&format!("/api/v1/waves/{wave}/results?level=district")).await;
    assert_eq!([responses_of(&by_district, "001"), responses_of(&by_district, "002")], [Some(70), Some(50)]);
    // Every fifth answer is at level 4 and every fifth at 5: 48 of 120 satisfied.
    let sipas = by_district["overall"]["indices"].as_array().unwrap().iter().find(|i| i["id"] == "sipas").unwrap();
    assert!((sipas["value"].as_f64().unwrap() - 40.0).abs() < 1e-9, "{sipas}");
    let by_agency = app.results(&format!("/api/v1/waves/{wave}/results?by=agency")).await;
    let agencies: Vec<(Value, u64)> = by_agency["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["agency"]["code"].clone(), g["responses"].as_u64().unwrap()))
        .collect();
    assert_eq!(agencies, [(Value::Null, 30), (json!("AG1"), 40), (json!("AG2"), 50)]);
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");
}

async fn tallies_rebuilt_from_raw_answers_give_the_same_results(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2023").await;
    let wave = app.open_wave("sipas-2023").await;
    for (i, (commune, agency)) in [("00001", Some("AG1")), ("00002", None), ("00003", Some("AG2"))].iter().enumerate() {
        for (j, invitation) in app.invite(&wave, commune, *agency, 3).await.into_iter().enumerate() {
            let level = ["1", "3", "4", "5", "2"][(i + j) % 5];
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }
    let queries = ["", "?level=commune", "?level=district&by=agency", "?by=agency"];
    let mut before = Vec::new();
    for query in queries {
        before.push(app.results(&format!("/api/v1/waves/{wave}/results{query}")).await);
    }
    // What the upgrade leaves: answers, and no tallies (the old counters are dropped).
    app.execute(&format!("DELETE FROM result_cells WHERE wave_id = '{wave}'"));
    app.execute(&format!("DELETE FROM tally_layouts WHERE wave_id = '{wave}'"));
    assert_eq!(app.results(&format!("/api/v1/waves/{wave}/results")).await["overall"]["responses"], 0);

    let db = phieu::storage::Database::connect(&app.database_url, 1).unwrap();
    let forms =
        phieu::domain::form::load_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/survey_forms")))
            .unwrap();
    phieu::service::recount::rebuild_missing_tallies(&db, &phieu::domain::form::FormRegistry::new(forms)).unwrap();
    for (query, before) in queries.iter().zip(before) {
        assert_eq!(app.results(&format!("/api/v1/waves/{wave}/results{query}")).await, before, "{query}");
    }
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");
    assert_eq!(verify["responses_stored"], 9);
}

async fn the_recount_reads_answers_cell_by_cell_across_pages_and_agrees(app: TestApp) {
    app.seed_places().await;
    let form = app.form("sipas-2017").await;
    let wave = app.open_wave("sipas-2017").await;
    // A commune with answers for two agencies and none: three leaf cells of one locality, so
    // its district's roll-ups must stay open until the last of them is read.
    for (i, (commune, agency)) in [
        ("00002", Some("AG2")),
        ("00001", Some("AG1")),
        ("00002", None),
        ("00003", Some("AG2")),
        ("00002", Some("AG1")),
    ]
    .into_iter()
    .enumerate()
    {
        for (j, invitation) in app.invite(&wave, commune, agency, 4).await.into_iter().enumerate() {
            let level = ["1", "3", "4", "5", "2"][(i + j) % 5];
            assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, level)).await.status(), 201);
        }
    }

    let db = phieu::storage::Database::connect(&app.database_url, 1).unwrap();
    let mut read = Vec::new();
    let mut after = None;
    loop {
        let page = db.raw_answers_by_cell_after(&wave, after.as_ref(), 3).unwrap();
        let Some(last) = page.last().cloned() else { break };
        assert!(page.len() <= 3);
        read.extend(page.into_iter().map(|(id, locality, agency, channel, ..)| (locality, agency, channel, id)));
        after = Some(last);
    }
    assert_eq!(read.len(), 20, "every answer once");
    let mut in_cell_order = read.clone();
    in_cell_order.sort();
    in_cell_order.dedup();
    assert_eq!(read, in_cell_order, "pages follow one another in cell order, none repeated");
    assert_eq!(db.answered_localities(&wave).unwrap(), ["00001", "00002", "00003"]);

    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], true, "{verify}");
    assert_eq!(verify["responses_stored"], 20);
    // The district fed by both communes was checked against both.
    app.execute(&format!(
        "UPDATE result_cells SET responses = responses + 1 WHERE wave_id = '{wave}' AND locality_code = '001' AND agency_code = 'AG1'"
    ));
    let verify = app.get_json(&format!("/api/v1/waves/{wave}/verify")).await;
    assert_eq!(verify["consistent"], false, "{verify}");
    assert_eq!(verify["differences"].as_array().unwrap().len(), 1, "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_result_cells_in_their_rows_uncompressed() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else { return };
    app.seed_places().await;
    let form = app.form("sipas-2023").await;
    let wave = app.open_wave("sipas-2023").await;
    for invitation in app.invite(&wave, "00001", None, 2).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "4")).await.status(), 201);
    }
    let mut db = diesel::pg::PgConnection::establish(&app.database_url).unwrap();
    let number = |db: &mut diesel::pg::PgConnection, sql: &str| sql_query_value::<Number>(db, sql).value;
    let largest = number(&mut db, "SELECT max(octet_length(counts))::bigint AS value FROM result_cells");
    assert!(largest > 2_100, "a SIPAS 2023 cell is over the default 2 kB threshold: {largest}");
    // Compressed in its row (smaller on disk than its bytes), or moved to the TOAST table.
    let compressed = "SELECT count(*) AS value FROM result_cells WHERE pg_column_size(counts) < octet_length(counts)";
    assert_eq!(number(&mut db, compressed), 0, "cells compressed");
    let toast: Name = sql_query_value(
        &mut db,
        "SELECT reltoastrelid::regclass::text AS value FROM pg_class WHERE relname = 'result_cells'",
    );
    assert_eq!(number(&mut db, &format!("SELECT count(*) AS value FROM {}", toast.value)), 0, "cells moved out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_plans_results_with_statistics_of_the_cells_as_they_now_are() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        value: i64,
    }
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else { return };
    app.seed_places().await;
    let form = app.form("sipas-2023").await;
    let wave = app.open_wave("sipas-2023").await;
    for invitation in app.invite(&wave, "00001", None, 2).await {
        assert_eq!(app.answer(&invitation.code, &satisfied_at(&form, "4")).await.status(), 201);
    }
    let results = app.results(&format!("/api/v1/waves/{wave}/results?by=agency")).await;
    assert_eq!(results["overall"]["responses"], 2, "{results}");
    let mut db = diesel::pg::PgConnection::establish(&app.database_url).unwrap();
    let mut number = |sql: &str| sql_query_value::<Number>(&mut db, sql).value;
    let cells = number("SELECT count(*) AS value FROM result_cells");
    // Never analysed (-1), the planner guesses a handful of rows whatever the table holds:
    // at national scale it sorted an agency table on disk rather than read it in key order.
    let analysed = number("SELECT reltuples::bigint AS value FROM pg_class WHERE oid = 'result_cells'::regclass");
    assert_eq!(analysed, cells, "the statistics the results call planned with");
}

fn sql_query_value<T: diesel::QueryableByName<diesel::pg::Pg> + 'static>(
    db: &mut diesel::pg::PgConnection,
    sql: &str,
) -> T {
    use diesel::RunQueryDsl;
    diesel::sql_query(sql).get_result(db).unwrap()
}
