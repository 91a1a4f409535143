//! A server killed while a list comes in, or while it is read, leaves no byte of the
//! columns never kept (ID numbers) in any file of its own or in its temporary directory,
//! and its next start deletes the (encrypted) leftovers.

use crate::helpers::{ServeProcess, TestApp, free_port, serve_dir, skip, wait_until_up};
use crate::lists::wave_with_period;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MARKER: &[u8] = b"CCCDMARK";

/// A list whose ID-number column holds a unique marker on every row.
fn list_with_id_numbers(rows: usize) -> Vec<u8> {
    let mut list = String::from("Họ tên,SĐT,Số CCCD,Xã\n");
    for i in 0..rows {
        list.push_str(&format!("Người Thứ {i},09{:08},CCCDMARK{i:08},00001\n", i % 100_000_000));
    }
    list.into_bytes()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(files_under(&path)) } else { found.push(path) }
    }
    found
}

/// Every file under `dir` that holds a marker.
fn files_with_markers(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|path| std::fs::read(path).is_ok_and(|bytes| bytes.windows(MARKER.len()).any(|w| w == MARKER)))
        .collect()
}

/// Temporary files of list data: under the data directory's `scratch/` (or, before, in TMPDIR).
fn list_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = files_under(&dir.join("data/scratch"));
    found.extend(files_under(&dir.join("tmp")));
    found
        .into_iter()
        .filter(|path| !path.to_string_lossy().ends_with(".lock"))
        .map(|path| {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            (path, size)
        })
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn post_list(app: &TestApp, wave: &str, body: reqwest::Body) -> tokio::task::JoinHandle<()> {
    let form = reqwest::multipart::Form::new()
        .text("agency_code", "AG1")
        .part("file", reqwest::multipart::Part::stream(body).file_name("danh-sach.csv"));
    let request = app.api.post(app.url(&format!("/api/v1/waves/{wave}/lists"))).bearer_auth(&app.admin_token);
    // The server dies before it answers.
    tokio::spawn(async move {
        let _ = request.multipart(form).send().await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_an_upload_leaves_no_id_number_on_disk_sqlite() {
    killed_during_an_upload(None).await;
}

/// The data directory is the server's own (`data` in its working directory) and the
/// database elsewhere: the files searched are the server's and its TMPDIR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_an_upload_leaves_no_id_number_on_disk_postgres() {
    use diesel::{Connection, RunQueryDsl, pg::PgConnection};
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        skip("PostgreSQL tests", "PHIEU_REQUIRE_POSTGRES", "TEST_DATABASE_URL is not set");
        return;
    };
    let name = format!("phieu_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::establish(&admin_url).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap();
    let base = admin_url.split('?').next().unwrap();
    killed_during_an_upload(Some(format!("{}/{name}", &base[..base.rfind('/').unwrap()]))).await;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).unwrap();
}

async fn killed_during_an_upload(database_url: Option<String>) {
    let (dir, port) = (serve_dir(), free_port());
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let mut env = vec![("TMPDIR", dir.join("tmp").display().to_string())];
    env.extend(database_url.map(|url| ("DATABASE_URL", url)));
    let mut server = ServeProcess::start(&dir, port, &env);
    let app = TestApp::attach(port, dir.clone()).await;
    app.seed_places().await;
    let wave = wave_with_period(&app).await;
    let list = list_with_id_numbers(100_000);

    // Killed mid-upload: half the file sent, the rest held back until after the kill.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    let request = post_list(&app, &wave, reqwest::Body::wrap_stream(tokio_stream(receiver)));
    let half = list.len() / 2;
    for chunk in list[..half].chunks(64 * 1024) {
        sender.send(Ok(chunk.to_vec())).await.unwrap();
    }
    wait_for("half the upload on disk", || list_files(&dir).iter().any(|(_, size)| *size >= half as u64 - 65_536))
        .await;
    server.kill();
    drop(sender);
    let _ = request.await;
    assert_eq!(files_with_markers(&dir), Vec::<PathBuf>::new(), "ID numbers on disk after a kill mid-upload");
    let leftovers = list_files(&dir);
    assert_eq!(leftovers.len(), 1, "the upload, as noise: {leftovers:?}");

    let mut server = ServeProcess::start(&dir, port, &env);
    assert!(wait_until_up(&app.url("/health")).await);
    assert!(!leftovers[0].0.exists(), "the start-up sweep deleted the leftover");
    assert_eq!(list_files(&dir), vec![], "nothing of the upload is left");

    // Killed mid-import: the whole file received, being read into the database and staged
    // as the kept copy.
    let request = post_list(&app, &wave, reqwest::Body::from(list.clone()));
    wait_for("the import to start", || list_files(&dir).len() == 2).await;
    server.kill();
    let _ = request.await;
    assert_eq!(files_with_markers(&dir), Vec::<PathBuf>::new(), "ID numbers on disk after a kill mid-import");
    let leftovers = list_files(&dir);
    assert_eq!(leftovers.len(), 2, "the upload and the staged copy, as noise: {leftovers:?}");

    let _server = ServeProcess::start(&dir, port, &env);
    assert!(wait_until_up(&app.url("/health")).await);
    assert!(leftovers.iter().all(|(path, _)| !path.exists()), "the start-up sweep deleted the leftovers");
    assert_eq!(files_with_markers(&dir), Vec::<PathBuf>::new());
    // On SQLite the database and its WAL were searched too: the rows read before the kill
    // are there, without their ID numbers.
    let sqlite = files_under(&dir.join("data")).iter().any(|p| p.ends_with("phieu.db"));
    assert_eq!(sqlite, env.iter().all(|(name, _)| *name != "DATABASE_URL"));
}

fn tokio_stream<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
