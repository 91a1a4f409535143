//! The `phieu` command: serve, demo, forms check, localities import.

use phieu::config::Settings;
use phieu::domain::form;
use phieu::startup::{Application, ensure_administrator, open_survey};
use std::path::PathBuf;
use std::process::ExitCode;

// glibc's malloc keeps what each thread freed in that thread's own arena: a national results
// document built on one blocking thread, then on another, left ~80 MB behind per thread
// (330 MiB after eight calls that each needed 80). mimalloc returns freed pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "phieu — khảo sát SIPAS / PAR INDEX

usage:
  phieu serve [--demo]          run the service (--demo: fill an empty database with a demo province)
  phieu demo                    fill an empty database with the demo province, then exit
  phieu forms check [DIR]       validate form files (default: survey_forms/)
  phieu localities import FILE  import localities from a code,name,level,parent_code CSV
  phieu purge                   delete the contact data of waves closed longer than PHIEU_RETENTION_DAYS
  phieu backup FILE             write a consistent copy of the SQLite database to a new FILE (while
                                the service runs, too), and say whether it holds the instance key
  phieu admin reset-password EMAIL [--stdin]
                                set a new password for an account (generated and printed once, or
                                read from the first line of standard input), enable it, forget its
                                failed sign-ins and end its sessions

configuration: environment variables, see README.md";

fn main() -> ExitCode {
    phieu::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match words.as_slice() {
        ["serve"] => serve(false),
        ["serve", "--demo"] | ["--demo", "serve"] => serve(true),
        ["demo"] => run_async(demo_only()),
        ["forms", "check"] => forms_check(PathBuf::from("survey_forms")),
        ["forms", "check", dir] => forms_check(PathBuf::from(dir)),
        ["localities", "import", file] => import_localities(PathBuf::from(file)),
        ["purge"] => run_async(purge()),
        ["backup", file] => backup(PathBuf::from(file)),
        ["admin", "reset-password", email] => reset_password(email, false),
        ["admin", "reset-password", email, "--stdin"] => reset_password(email, true),
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("phieu: {error:#}");
        ExitCode::FAILURE
    })
}

fn run_async<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(future: F) -> anyhow::Result<ExitCode> {
    actix_web::rt::System::new().block_on(future)
}

fn serve(demo: bool) -> anyhow::Result<ExitCode> {
    run_async(async move {
        let settings = Settings::from_env()?;
        let app = Application::build(settings.clone()).await?;
        if demo {
            report_demo(phieu::service::demo::seed(&app.survey, 400, 300).await?);
        }
        println!("phieu: http://{}:{}/ (cán bộ: /dang-nhap)", settings.bind.ip(), app.port());
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn demo_only() -> anyhow::Result<ExitCode> {
    let mut settings = Settings::from_env()?;
    if settings.base_url.is_empty() {
        settings.base_url = format!("http://{}", settings.bind);
    }
    let survey = open_survey(&settings)?;
    ensure_administrator(&survey, &settings)?;
    report_demo(phieu::service::demo::seed(&survey, 400, 300).await?);
    Ok(ExitCode::SUCCESS)
}

fn report_demo(summary: Option<phieu::service::demo::DemoSummary>) {
    match summary {
        None => println!("demo: the database already has waves; nothing added"),
        Some(s) => {
            println!("demo: Bắc Ninh, {} answers stored; results: /quan-ly/dot/{}", s.answered, s.wave_id);
            for (code, url) in s.sample_links {
                println!("demo: try invitation {code} at {url}");
            }
        }
    }
}

async fn purge() -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    let survey = open_survey(&settings)?;
    let purged = survey.purge_due(chrono::Duration::days(settings.retention_days)).await?;
    for (wave, contacts) in &purged {
        println!("purged wave {wave}: {contacts} contacts deleted");
    }
    if purged.is_empty() {
        println!("nothing to purge");
    }
    Ok(ExitCode::SUCCESS)
}

/// A copy of the SQLite database that can be kept apart: no WAL beside it, nothing deleted
/// in it, and without the instance key when that key is kept outside the database.
fn backup(file: PathBuf) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    if settings.database_url.starts_with("postgres") {
        eprintln!(
            "phieu: backup copies SQLite databases; for PostgreSQL use pg_dump or base backups (README, Backups)"
        );
        return Ok(ExitCode::from(2));
    }
    let source = settings.database_url.strip_prefix("sqlite://").unwrap_or(&settings.database_url);
    anyhow::ensure!(std::path::Path::new(source).exists(), "no database at {source}");
    let db = phieu::storage::Database::connect(&settings.database_url, 1)?;
    let report = db.backup_sqlite(&file, settings.secret_key.is_some())?;
    println!("backup: {} ({} bytes, {} answers)", file.display(), report.bytes, report.answers);
    if report.holds_instance_key {
        println!(
            "instance key: IN the backup (kept in the database since PHIEU_SECRET_KEY is unset): whoever has \
             this file can test guessed invitation codes; set PHIEU_SECRET_KEY to keep the key apart"
        );
    } else if settings.secret_key.is_some() {
        println!("instance key: not in the backup (PHIEU_SECRET_KEY is set): keep that key apart from this file");
    } else {
        println!("instance key: not in the backup (none generated yet)");
    }
    Ok(ExitCode::SUCCESS)
}

/// For a lost administrator password: whoever can run the command on the server's database
/// may set any account's password.
fn reset_password(email: &str, from_stdin: bool) -> anyhow::Result<ExitCode> {
    use phieu::domain::account::{EmailAddress, NewPassword};
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        NewPassword::parse(line.trim_end_matches(['\r', '\n']), &email).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        NewPassword::generate(&email)
    };
    let settings = Settings::from_env()?;
    let survey = open_survey(&settings)?;
    let Some(id) = survey.db.user_id_by_email(email.as_str())? else {
        eprintln!("phieu: no account has this email");
        return Ok(ExitCode::FAILURE);
    };
    let hash = phieu::web::auth::hash_password(password.expose());
    survey.db.set_password(&id, &hash, None)?;
    survey.db.set_disabled(&id, false)?;
    survey.db.audit("cli", "user.password_reset", &id)?;
    if from_stdin {
        println!("password set for {}", email.as_str());
    } else {
        // Printed, not logged: shown once to whoever ran the command.
        println!("mật khẩu mới / new password for {}: {}", email.as_str(), password.expose());
    }
    Ok(ExitCode::SUCCESS)
}

fn forms_check(dir: PathBuf) -> anyhow::Result<ExitCode> {
    match form::load_dir(&dir) {
        Ok(forms) => {
            for f in &forms {
                println!("ok  {} v{}: {} items, {} indices", f.id, f.version, f.items.len(), f.indices.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}", e);
            }
            eprintln!("{} error(s)", errors.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn import_localities(file: PathBuf) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&file)?;
    let localities = match phieu::domain::locality::parse_csv(&text) {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{}: {}", file.display(), e.line, e.reason);
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let (lines, localities): (Vec<usize>, Vec<_>) = localities.into_iter().unzip();
    let settings = Settings::from_env()?;
    let survey = open_survey(&settings)?;
    match survey.db.save_localities(&localities)? {
        Ok(outcomes) => {
            println!("imported {} localities", outcomes.len());
            Ok(ExitCode::SUCCESS)
        }
        Err((i, _)) => {
            eprintln!("{}:{}: the parent of {} is unknown", file.display(), lines[i], localities[i].code);
            Ok(ExitCode::FAILURE)
        }
    }
}
