//! The command line, run as a user runs it: the real binary, its exit codes and what it prints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use pactum_core::keyfile::{KeySource, load};
use pactum_core::personal::Collection;
use pactum_core::{Clock, ManualClock, Pactum, SystemClock};
use pactum_policy::{BUNDLED_POLICY, parse_policy};
use pactum_store_sqlite::SqliteBackend;
use time::macros::datetime;

fn pactum(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("PACTUM_MASTER_KEY")
        .env("PACTUM_LOG", "warn")
        .output()
        .expect("the pactum binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bundled_policy_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policy/metier.toml")
}

#[test]
fn policy_check_accepts_the_bundled_policy() {
    let dir = tempfile::tempdir().unwrap();
    let out = pactum(&["policy", "check", bundled_policy_path().to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid policy, version 2026.1"));
}

const FIVE_MISTAKES: &str = r#"version = "1"
effective = 2026-01-01
financial_year_end = "12-31"

[controller]
name = "X"
cvr = "1234"
address = "Street 1"
email = "a@b.dk"
dpo = "none"

[categories.email]
label = { da = "E-mail", en = "E-mail" }
class = "ordinary"
kind = "email"

[purposes.newsletter]
label = { da = "Nyhedsbrev", en = "Newsletter" }
description = { da = "d", en = "d" }
basis = "consnet"
fields = { email = "required", phone = "optional" }
retention = { after = "withdrawal", days = 30 }
consent = { da = "Ja", en = "Yes" }

[recipients.partner]
name = "Far Away Inc."
role = "marketing_partner"
country = "US"
basis = "consent"
purposes = ["newsletter"]
categories = ["email"]

[cookies.tracker]
provider = "X"
category = "marketing"
purpose = { da = "d", en = "d" }
lifetime = 500

[cookies.pactum_consent]
provider = "X"
category = "necessary"
purpose = { da = "d", en = "d" }
lifetime = 365
"#;

#[test]
fn policy_check_locates_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.toml"), FIVE_MISTAKES).unwrap();
    let out = pactum(&["policy", "check", "broken.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let located: Vec<&str> =
        stderr.lines().filter(|l| l.starts_with("broken.toml:") && l.contains(": error: ")).collect();
    for expected in [
        "broken.toml:7:7: error: `cvr` must be the 8-digit Danish CVR number",
        "broken.toml:20:9: error: `basis` in purposes.newsletter cannot be \"consnet\"",
        "broken.toml:21:32: error: purpose `newsletter` uses unknown category `phone`",
        "broken.toml:28:11: error: recipient `partner` is outside the EEA (US) but has no transfer safeguard",
        "broken.toml:37:12: error: a cookie's lifetime must be 1 to 400 days",
    ] {
        assert!(located.iter().any(|l| l.starts_with(expected)), "missing {expected:?} in:\n{stderr}");
    }
    assert_eq!(located.len(), 5, "{stderr}");
    assert!(stderr.contains("help: did you mean `consent`?"), "{stderr}");
    assert!(stderr.contains("5 problems found"));
}

#[test]
fn policy_check_of_a_missing_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = pactum(&["policy", "check", "nowhere.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the policy file nowhere.toml"));
}

#[test]
fn policy_render_prints_the_notice_in_each_language() {
    let dir = tempfile::tempdir().unwrap();
    let file = bundled_policy_path();
    let da = pactum(&["policy", "render", file.to_str().unwrap(), "--lang", "da"], dir.path());
    assert_eq!(da.status.code(), Some(0));
    assert!(text(&da.stdout).contains("<html lang=\"da\">"));
    assert!(text(&da.stdout).contains("5 år efter endt kursus"));
    let en = pactum(&["policy", "render", file.to_str().unwrap(), "--lang", "en"], dir.path());
    assert!(text(&en.stdout).contains("5 years after the course ends"));
}

#[test]
fn an_unknown_database_scheme_is_refused_without_echoing_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env("DATABASE_URL", "mysql://admin:hunter2secret@db.example/pactum")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown database URL scheme `mysql`"), "{stderr}");
    assert!(!stderr.contains("hunter2secret"));
    assert!(!dir.path().join("pactum-data").exists(), "nothing is created for a refused URL");
}

/// A data directory holding a few people, written through the core as the server would.
async fn populated_data_dir(dir: &Path) {
    let data = dir.join("pactum-data");
    std::fs::create_dir_all(&data).unwrap();
    let backend = SqliteBackend::connect(&format!("sqlite://{}", data.join("pactum.db").display())).await.unwrap();
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: data.join("master.key"), may_create: true }).unwrap();
    let p = Pactum::start(
        backend,
        ring,
        policy,
        ManualClock::at(datetime!(2026-11-25 10:00 UTC)),
        pactum_core::Settings::default(),
    )
    .await
    .unwrap();
    for (name, email) in
        [("Anna Andersen", "anna@eksempel.dk"), ("Bent Bach", "bent@eksempel.dk"), ("Carla Crone", "carla@eksempel.dk")]
    {
        p.collect(Collection {
            purpose: "course_enrolment".into(),
            values: vec![("name".into(), name.into()), ("email".into(), email.into())],
            source: "form:course_enrolment".into(),
            anchor_date: None,
            actor: "subject".into(),
        })
        .await
        .unwrap();
    }
}

async fn raw(dir: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("pactum-data/pactum.db").display())).await.unwrap()
}

#[tokio::test]
async fn audit_verify_passes_an_untouched_chain() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let out = pactum(&["audit", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("audit chain `main`: 4 entries verified"), "{}", text(&out.stdout));
}

#[tokio::test]
async fn audit_verify_names_an_entry_changed_by_one_byte() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let pool = raw(dir.path()).await;
    // One byte of entry 3's details, changed directly in the database file's table.
    sqlx::query("UPDATE audit_log SET details = replace(details, '\"new_items\":2', '\"new_items\":3') WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = pactum(&["audit", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("broken at entry 3: its content was changed"), "{stderr}");
}

#[tokio::test]
async fn audit_verify_names_a_deleted_entry() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let pool = raw(dir.path()).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 2").execute(&pool).await.unwrap();
    pool.close().await;
    let out = pactum(&["audit", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("broken at entry 2"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn audit_verify_names_reordered_entries() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let pool = raw(dir.path()).await;
    for sql in [
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 100",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let out = pactum(&["audit", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("broken at entry 2"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn audit_verify_notices_entries_cut_off_the_end() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let pool = raw(dir.path()).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 4").execute(&pool).await.unwrap();
    pool.close().await;
    let out = pactum(&["audit", "verify"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("broken at entry 4: the chain ends before its recorded head"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn key_rotate_keeps_the_data_readable() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let out = pactum(&["key", "rotate"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("3 subject keys re-wrapped"), "{}", text(&out.stdout));
    let verify = pactum(&["audit", "verify"], dir.path());
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
}

#[test]
fn settings_precedence_is_flag_then_environment_then_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pactum.toml"), "database_url = \"oracle://from-file\"\n").unwrap();
    let run = |args: &[&str], env_url: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pactum"));
        cmd.args(args).current_dir(dir.path()).env_remove("PACTUM_MASTER_KEY").env("PACTUM_LOG", "warn");
        match env_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        cmd.output().unwrap()
    };
    // The file alone decides.
    let out = run(&["migrate", "--config", "pactum.toml"], None);
    assert!(text(&out.stderr).contains("scheme `oracle`"), "{}", text(&out.stderr));
    // The environment beats the file.
    let out = run(&["migrate", "--config", "pactum.toml"], Some("db2://from-env"));
    assert!(text(&out.stderr).contains("scheme `db2`"), "{}", text(&out.stderr));
    // A flag beats both.
    let out =
        run(&["migrate", "--config", "pactum.toml", "--database-url", "mysql://from-flag"], Some("db2://from-env"));
    assert!(text(&out.stderr).contains("scheme `mysql`"), "{}", text(&out.stderr));
    // An unknown key in the settings file is named.
    std::fs::write(dir.path().join("typo.toml"), "databse_url = \"sqlite://x.db\"\n").unwrap();
    let out = run(&["migrate", "--config", "typo.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown field `databse_url`"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn newsletter_send_queues_only_for_confirmed_subscribers() {
    use pactum_core::mail::{EmlDirectory, deliver_due_mail};
    use pactum_core::newsletter::Subscription;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pactum-data");
    std::fs::create_dir_all(&data).unwrap();
    let mail_dir = dir.path().join("delivered");
    {
        let backend = SqliteBackend::connect(&format!("sqlite://{}", data.join("pactum.db").display())).await.unwrap();
        let ring = load(KeySource::File { path: data.join("master.key"), may_create: true }).unwrap();
        let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
        let clock = ManualClock::at(datetime!(2026-11-25 10:00 UTC));
        let p = Pactum::start(backend, ring, policy, clock, pactum_core::Settings::default()).await.unwrap();
        for email in ["confirmed@eksempel.dk", "pending@eksempel.dk"] {
            let sub = Subscription {
                email: email.into(),
                name: None,
                interests: None,
                lang: pactum_policy::Lang::Da,
                method: "form:newsletter".into(),
                notice_version: "2026.1".into(),
            };
            p.subscribe_newsletter(sub).await.unwrap();
        }
        let mailer = EmlDirectory { dir: mail_dir.clone() };
        deliver_due_mail(&p, &mailer).await.unwrap();
        for entry in std::fs::read_dir(&mail_dir).unwrap() {
            let eml = std::fs::read_to_string(entry.unwrap().path()).unwrap().replace("=\r\n", "");
            if eml.contains("To: confirmed@eksempel.dk") {
                let token =
                    eml.split("/nyhedsbrev/bekraeft/").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
                p.confirm_consent(&token).await.unwrap();
            }
        }
    }
    std::fs::write(dir.path().join("body.txt"), "Nye kurser i foråret.\n").unwrap();
    let out = pactum(&["newsletter", "send", "--subject", "Forår 2027", "--body", "body.txt"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("queued 1 newsletter mails"), "{}", text(&out.stdout));
    let missing = pactum(&["newsletter", "send", "--subject", "x", "--body", "nowhere.txt"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read the newsletter body"));
}

#[test]
fn admin_create_prints_a_one_time_setup_link_and_refuses_bad_usernames() {
    let dir = tempfile::tempdir().unwrap();
    let bad = pactum(&["admin", "create", "--username", "Ida Holm"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("lower-case letters"), "{}", text(&bad.stderr));
    let out = pactum(&["admin", "create", "--username", "ida", "--role", "instructor"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("created the instructor account `ida`"), "{stdout}");
    let link = stdout.split_whitespace().find(|w| w.contains("/admin/setup/")).expect("a setup link");
    // Asking again for an account never set up prints a fresh link (for one that was lost).
    let again = pactum(&["admin", "create", "--username", "ida", "--role", "instructor"], dir.path());
    assert_eq!(again.status.code(), Some(0));
    let second = text(&again.stdout);
    assert!(!second.contains(link), "a new link, not the same one");
}

#[test]
fn token_create_prints_the_secret_once_and_refuses_unknown_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = pactum(&["token", "create", "--name", "website", "--scope", "everything"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("unknown scope `everything`; choose from: catalogue:write"));
    let out = pactum(&["token", "create", "--name", "website", "--scope", "catalogue:write"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let secret = text(&out.stdout).trim().to_string();
    assert!(secret.starts_with("pct_") && secret.len() == 68, "{secret}");
    for file in std::fs::read_dir(dir.path().join("pactum-data")).unwrap() {
        let path = file.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the secret",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn retention_run_reports_and_refuses_a_malformed_date() {
    let dir = tempfile::tempdir().unwrap();
    populated_data_dir(dir.path()).await;
    let bad = pactum(&["retention", "run", "--now", "15/04/2027"], dir.path());
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("--now must be a date such as 2027-04-15"));
    // The enrolments' courses have not ended, so nothing is due, however late the day.
    let forecast = pactum(&["retention", "run", "--now", "2099-01-01", "--dry-run"], dir.path());
    assert_eq!(forecast.status.code(), Some(0), "{}", text(&forecast.stderr));
    assert!(text(&forecast.stdout).contains("retention as of 2099-01-01: would delete 0 personal values"));
    let run = pactum(&["retention", "run"], dir.path());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("deleted 0 personal values"));
    assert_eq!(pactum(&["audit", "verify"], dir.path()).status.code(), Some(0));
}

/// Enrolments whose course ended 12 March 2027 (kept until 11 April), one of them also subscribed to
/// the newsletter, and one on a later course.
async fn data_dir_with_ended_courses(dir: &Path) {
    let data = dir.join("pactum-data");
    std::fs::create_dir_all(&data).unwrap();
    let backend = SqliteBackend::connect(&format!("sqlite://{}", data.join("pactum.db").display())).await.unwrap();
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: data.join("master.key"), may_create: true }).unwrap();
    let clock = ManualClock::at(datetime!(2026-11-25 10:00 UTC));
    let p = Pactum::start(backend, ring, policy, clock, pactum_core::Settings::default()).await.unwrap();
    let enrol = |name: &str, email: &str, phone: Option<&str>, ends: time::Date| {
        let mut values = vec![("name".to_string(), name.to_string()), ("email".to_string(), email.to_string())];
        values.extend(phone.map(|ph| ("phone".to_string(), ph.to_string())));
        Collection {
            purpose: "course_enrolment".into(),
            values,
            source: "form:course_enrolment".into(),
            anchor_date: Some(ends),
            actor: "subject".into(),
        }
    };
    let ended = time::macros::date!(2027 - 03 - 12);
    p.collect(enrol("Anna Andersen", "anna@eksempel.dk", None, ended)).await.unwrap();
    p.collect(enrol("Bent Bach", "bent@eksempel.dk", Some("+45 20 30 40 50"), ended)).await.unwrap();
    p.collect(Collection {
        purpose: "newsletter".into(),
        values: vec![("email".into(), "bent@eksempel.dk".into()), ("name".into(), "Bent Bach".into())],
        source: "form:newsletter".into(),
        anchor_date: None,
        actor: "subject".into(),
    })
    .await
    .unwrap();
    p.collect(enrol("Carla Crone", "carla@eksempel.dk", None, time::macros::date!(2027 - 06 - 01))).await.unwrap();
}

/// Holds the retention sweep's lease in the data directory for ten minutes, as a sweep running in
/// another process does.
async fn sweep_running_elsewhere(dir: &Path) {
    let data = dir.join("pactum-data");
    let backend = SqliteBackend::connect(&format!("sqlite://{}", data.join("pactum.db").display())).await.unwrap();
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: data.join("master.key"), may_create: false }).unwrap();
    let p = Pactum::start(backend, ring, policy, SystemClock, pactum_core::Settings::default()).await.unwrap();
    let now = SystemClock.now_micros();
    let lease = pactum_store::Op::TakeLease {
        job: pactum_core::retention_sweep::SWEEP_LEASE.into(),
        holder: "serve:sweep".into(),
        now,
        until: now + 600_000_000,
    };
    p.store.commit(pactum_store::Change { at: now, ops: vec![lease], audit: Vec::new() }).await.unwrap();
}

#[tokio::test]
async fn retention_run_is_refused_while_another_sweep_runs() {
    let dir = tempfile::tempdir().unwrap();
    data_dir_with_ended_courses(dir.path()).await;
    sweep_running_elsewhere(dir.path()).await;
    let refused = pactum(&["retention", "run", "--now", "2027-04-12"], dir.path());
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("another retention sweep is running"), "{stderr}");
    assert!(stderr.contains("run this again once it has finished"), "{stderr}");
    assert!(text(&refused.stdout).is_empty(), "nothing is reported deleted");
    let forecast = pactum(&["retention", "run", "--now", "2027-04-12", "--dry-run"], dir.path());
    assert_eq!(forecast.status.code(), Some(0), "{}", text(&forecast.stderr));
    assert!(text(&forecast.stdout).contains("would delete 3 personal values"), "{}", text(&forecast.stdout));
}

#[tokio::test]
async fn p20_a_dry_run_lists_exactly_what_the_real_run_then_deletes() {
    let dir = tempfile::tempdir().unwrap();
    data_dir_with_ended_courses(dir.path()).await;
    let listed = |args: &[&str]| {
        let out = pactum(args, dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let lines: Vec<String> = text(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("subject "))
            .map(str::to_string)
            .collect();
        lines
    };
    assert!(listed(&["retention", "run", "--now", "2027-04-11", "--dry-run"]).is_empty(), "kept through 11 April");
    let forecast = listed(&["retention", "run", "--now", "2027-04-12", "--dry-run"]);
    assert_eq!(forecast.len(), 2, "{forecast:?}");
    assert!(forecast.iter().any(|l| l.ends_with("erased completely (2 values); purposes ended course_enrolment")));
    assert!(forecast.iter().any(|l| l.ends_with(": values phone; purposes ended course_enrolment")), "{forecast:?}");
    let run = listed(&["retention", "run", "--now", "2027-04-12"]);
    assert_eq!(run, forecast, "the run deletes exactly what the dry run listed");
    assert!(listed(&["retention", "run", "--now", "2027-04-12", "--dry-run"]).is_empty(), "nothing is left to do");
    assert_eq!(pactum(&["audit", "verify"], dir.path()).status.code(), Some(0));
}

#[test]
fn l7_policy_ropa_prints_the_record_of_processing_from_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metier.toml");
    std::fs::write(&file, BUNDLED_POLICY).unwrap();
    let out = pactum(&["policy", "ropa", file.to_str().unwrap(), "--lang", "en"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.starts_with("# Record of processing activities (Art. 30)\n"), "{md}");
    assert!(md.contains("- Controller: Metier (eksempelværdi – udskift før drift) (CVR 12345678)"));
    assert!(md.contains("## Record of course participation and certification"));
    assert!(md.contains("- Erasure: 5 years after the course ends"), "{md}");
    assert!(md.contains("transfer to a third country: EU Commission standard contractual clauses (Art. 46)"), "{md}");
    assert!(md.contains("## Technical and organisational security measures (Art. 32)"));
    // The records Pactum keeps of its own duties, with how long each is kept.
    assert!(md.contains("## Records of our own duties"), "{md}");
    assert!(
        md.contains(
            "- Register of personal data breaches (Art. 33(5)): 5 years after the breach was recorded (erasure)"
        ),
        "{md}"
    );
    // Every purpose of the policy is an activity in the record, beside the records and the measures.
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    assert_eq!(md.matches("\n## ").count(), policy.purposes.len() + 2);
    std::fs::write(&file, "version = 1\n").unwrap();
    let broken = pactum(&["policy", "ropa", file.to_str().unwrap()], dir.path());
    assert_eq!(broken.status.code(), Some(1), "a broken policy gives no record");
}
