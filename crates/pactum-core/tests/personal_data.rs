//! Collecting, reporting and erasing personal data through the core, on SQLite and (where
//! configured) PostgreSQL: P01, P03, P18, P24, P33 and DESIGN invariants 2 and 3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use pactum_core::keyfile::{KeySource, load};
use pactum_core::personal::Collection;
use pactum_core::retention_sweep::{SWEEP_LEASE, SweepProgress};
use pactum_core::{Clock, CoreError, ManualClock, Pactum};
use pactum_policy::{BUNDLED_POLICY, Lang, parse_policy};
use pactum_store::{Backend, Change, Op};
use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;
use time::macros::{date, datetime};

const NAME: &str = "Ærlige Åse Østergård";
const EMAIL: &str = "aase.ostergaard@eksempel.dk";
const PHONE: &str = "+45 31 41 59 26";

fn clock() -> ManualClock {
    ManualClock::at(datetime!(2026-11-25 10:00 UTC))
}

fn key_source(dir: &Path) -> KeySource {
    KeySource::File { path: dir.join("master.key"), may_create: true }
}

struct Env<B: Backend> {
    pactum: Pactum<B, ManualClock>,
    dir: tempfile::TempDir,
    sqlite_file: Option<PathBuf>,
}

async fn sqlite() -> Option<Env<SqliteBackend>> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("pactum.db");
    let backend = SqliteBackend::connect(&format!("sqlite://{}", file.display())).await.expect("sqlite");
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).expect("policy");
    let pactum = Pactum::start(
        backend,
        load(key_source(dir.path())).expect("keys"),
        policy,
        clock(),
        pactum_core::Settings::default(),
    )
    .await
    .expect("start");
    Some(Env { pactum, dir, sqlite_file: Some(file) })
}

async fn postgres() -> Option<Env<PgBackend>> {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return None;
    };
    let (backend, _) = PgBackend::connect_to_new_schema(&url, "pactum_test").await.expect("PostgreSQL reachable");
    let dir = tempfile::tempdir().expect("temporary directory");
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).expect("policy");
    let pactum = Pactum::start(
        backend,
        load(key_source(dir.path())).expect("keys"),
        policy,
        clock(),
        pactum_core::Settings::default(),
    )
    .await
    .expect("start");
    Some(Env { pactum, dir, sqlite_file: None })
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend { $( #[tokio::test] async fn $name() { if let Some(env) = super::sqlite().await { super::$name(env).await } } )* }
        mod postgres_backend { $( #[tokio::test] async fn $name() { if let Some(env) = super::postgres().await { super::$name(env).await } } )* }
    };
}

on_both_backends!(
    p01_undeclared_field_is_refused_and_nothing_is_stored,
    p24_required_fields_enforced_optional_never,
    collected_values_are_reported_with_source_purpose_and_retention,
    same_email_is_the_same_subject,
    p33_erasure_shreds_the_key_and_the_rows,
    withdrawal_starts_the_retention_clock,
    p16_the_retention_sweep_deletes_what_no_live_purpose_holds,
    a_sweep_is_refused_while_another_runs_and_releases_its_lease_when_done,
);

fn enrolment(values: &[(&str, &str)]) -> Collection {
    Collection {
        purpose: "course_enrolment".into(),
        values: values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        source: "form:course_enrolment".into(),
        anchor_date: Some(date!(2027 - 03 - 15)),
        actor: "subject".into(),
    }
}

async fn p01_undeclared_field_is_refused_and_nothing_is_stored<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let result =
        p.collect(enrolment(&[("name", NAME), ("email", EMAIL), ("cpr", "010190-1234"), ("allergies", "nuts")])).await;
    let Err(CoreError::Invalid(errors)) = result else { panic!("must refuse, got {result:?}") };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["cpr", "allergies"]);
    assert!(errors[0].message(Lang::Da).contains("«cpr»"));
    assert!(!errors[0].message(Lang::En).contains("010190"), "errors never repeat the value");
    assert_eq!(p.find_subject_by_email(EMAIL).await.unwrap(), None, "nothing is stored");
}

async fn p24_required_fields_enforced_optional_never<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let Err(CoreError::Invalid(errors)) = p.collect(enrolment(&[("phone", PHONE)])).await else {
        panic!("must refuse")
    };
    let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, vec!["email", "name"]);
    // Optional fields may be left out or empty.
    p.collect(enrolment(&[("name", NAME), ("email", EMAIL), ("phone", "")])).await.unwrap();
    let Err(CoreError::Invalid(errors)) = p.collect(enrolment(&[("name", NAME), ("email", "not-an-email")])).await
    else {
        panic!("must refuse")
    };
    assert_eq!(errors[0].field, "email");
    // A name in any script, but none that hides a reversal of the text around it (U+202E).
    p.collect(enrolment(&[("name", "ليلى حداد"), ("email", "layla@eksempel.dk")])).await.unwrap();
    let Err(CoreError::Invalid(errors)) =
        p.collect(enrolment(&[("name", "Anna \u{202E}nesrednA"), ("email", "anna@eksempel.dk")])).await
    else {
        panic!("must refuse")
    };
    assert_eq!(
        (errors[0].field.as_str(), errors[0].problem),
        ("name", pactum_core::values::Problem::ControlCharacters)
    );
}

async fn collected_values_are_reported_with_source_purpose_and_retention<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let done = p.collect(enrolment(&[("name", NAME), ("email", EMAIL), ("phone", PHONE)])).await.unwrap();
    assert_eq!(done.retain_until, Some(date!(2027 - 04 - 14)), "30 days after the course ends");
    let record = Collection {
        purpose: "certification_record".into(),
        values: vec![
            ("participation".into(), "PRINCE2 Foundation, ended 2028-02-29, passed: yes".into()),
            ("name".into(), NAME.into()),
            ("email".into(), EMAIL.into()),
        ],
        source: "partner:certification_partner".into(),
        anchor_date: Some(date!(2028 - 02 - 29)),
        actor: "staff:1".into(),
    };
    let cert = p.collect(record).await.unwrap();
    assert_eq!(cert.subject, done.subject);
    assert_eq!(cert.retain_until, Some(date!(2033 - 02 - 28)), "P18: five years after a course ending 29 February");

    let report = p.subject_report(done.subject, Lang::Da).await.unwrap();
    let phone = report.items.iter().find(|i| i.category == "phone").expect("phone item");
    assert_eq!(phone.value, "+4531415926", "stored as E.164");
    assert_eq!(phone.source, "form:course_enrolment");
    assert_eq!(phone.held_by.len(), 1);
    assert_eq!(phone.held_by[0].basis, "contract");
    let name = report.items.iter().find(|i| i.category == "name").expect("name item");
    assert_eq!(name.value, NAME);
    let purposes: Vec<&str> = name.held_by.iter().map(|h| h.purpose.as_str()).collect();
    assert_eq!(purposes, vec!["course_enrolment", "certification_record"]);
    let record = name.held_by.iter().find(|h| h.purpose == "certification_record").unwrap();
    assert_eq!(record.rule, "5 år efter endt kursus");
    assert_eq!(record.retain_until, Some(date!(2033 - 02 - 28)));
    let participation = report.items.iter().find(|i| i.category == "participation").unwrap();
    assert_eq!(participation.source, "partner:certification_partner");

    if let Some(file) = &env.sqlite_file {
        assert_no_clear_text(file, &[NAME, EMAIL, "4531415926", "31 41 59 26", "PRINCE2", "ostergaard"]);
    }
}

/// Reads the database file and its WAL and asserts that none of the values appear in clear text.
/// The database file and its write-ahead log and shared-memory index, where they exist.
fn database_files(db: &Path) -> Vec<PathBuf> {
    let mut files = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        files.push(PathBuf::from(p));
    }
    files.into_iter().filter(|f| f.exists()).collect()
}

/// How many of `needles` (raw bytes) occur anywhere in the database files.
fn bytes_found(db: &Path, needles: &[Vec<u8>]) -> usize {
    let files: Vec<Vec<u8>> = database_files(db).iter().map(|f| std::fs::read(f).unwrap()).collect();
    needles.iter().filter(|n| files.iter().any(|bytes| bytes.windows(n.len()).any(|w| w == n.as_slice()))).count()
}

fn assert_no_clear_text(db: &Path, values: &[&str]) {
    for f in &database_files(db) {
        let bytes = std::fs::read(f).unwrap();
        for v in values {
            for needle in [v.to_string(), v.to_lowercase()] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} contains a clear-text personal value",
                    f.display()
                );
            }
        }
    }
}

async fn same_email_is_the_same_subject<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let a = p.collect(enrolment(&[("name", NAME), ("email", EMAIL)])).await.unwrap();
    let b = p.collect(enrolment(&[("name", NAME), ("email", " AASE.OSTERGAARD@EKSEMPEL.DK ")])).await.unwrap();
    assert_eq!(a.subject, b.subject, "addresses are matched without regard to case or surrounding space");
    let c = p.collect(enrolment(&[("name", NAME), ("email", "bo@eksempel.dk")])).await.unwrap();
    assert_ne!(a.subject, c.subject);
    let report = p.subject_report(a.subject, Lang::En).await.unwrap();
    assert_eq!(
        report.items.iter().filter(|i| i.category == "name").count(),
        1,
        "an unchanged value is not stored twice"
    );
}

async fn p33_erasure_shreds_the_key_and_the_rows<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let done = p.collect(enrolment(&[("name", NAME), ("email", EMAIL), ("phone", PHONE)])).await.unwrap();
    let other = p.collect(enrolment(&[("name", "Bo Berg"), ("email", "bo@eksempel.dk")])).await.unwrap();
    let backend = p.store.backend();
    let ciphertexts: Vec<Vec<u8>> =
        backend.items_of(done.subject).await.unwrap().into_iter().map(|i| i.value).collect();
    assert_eq!(ciphertexts.len(), 3);
    let wrapped = backend.subject_key(done.subject).await.unwrap().unwrap().wrapped;
    let mut stored = ciphertexts.clone();
    stored.push(wrapped.clone());
    if let Some(file) = &env.sqlite_file {
        assert_eq!(bytes_found(file, &stored), 4, "the scan finds the key and the values while they are stored");
    }

    let erasure = p.erase_subject(done.subject, "erasure request (P33)", "subject").await.unwrap();
    assert_eq!(erasure.items_deleted, 3);
    assert_eq!(backend.subject_key(done.subject).await.unwrap(), None, "the wrapped key is gone");
    assert!(backend.items_of(done.subject).await.unwrap().is_empty());
    assert_eq!(p.find_subject_by_email(EMAIL).await.unwrap(), None);
    assert!(matches!(p.subject_report(done.subject, Lang::En).await, Err(CoreError::SubjectGone)));
    let proofs = backend.deletion_proofs_of(&done.subject.to_string()).await.unwrap();
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0].rule, "erasure request (P33)");

    // No key left in the store opens the erased person's ciphertexts.
    let (other_key_wrapped, _) = (backend.subject_key(other.subject).await.unwrap().unwrap(), ());
    let other_key = p.keys.subject_key(other.subject, &other_key_wrapped).unwrap();
    for ct in &ciphertexts {
        for item in backend.items_of(other.subject).await.unwrap() {
            let binding = pactum_vault::Binding { table: "items", column: "value", row_id: item.id.as_bytes() };
            assert!(other_key.open(binding, ct).is_err());
        }
    }
    // The erasure itself is in the audit chain, and the chain verifies.
    let summary = pactum_store::audit::verify(backend, &p.keys.audit).await.unwrap();
    assert!(summary[0].entries >= 4);
    let entries = backend.audit_entries("main", 0, 1000).await.unwrap();
    assert!(entries.iter().any(|e| e.action == "subject.erase" && e.subject_ref.as_deref() == Some(done.subject.to_string().as_str())));
    if let Some(file) = &env.sqlite_file {
        assert_no_clear_text(file, &[NAME, EMAIL, "4531415926"]);
        // Nor the wrapped key or the ciphertexts: not in the database file, and not in the
        // write-ahead log's older page images either (P33, DESIGN: crypto-shredding). The writer
        // scrubs the log by itself once it has been quiet for a moment after the erasure.
        let waited = std::time::Instant::now();
        while bytes_found(file, &stored) != 0 {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(20),
                "the erased key or values are still in the files after {:?}",
                waited.elapsed()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let _ = &env.dir;
}

async fn withdrawal_starts_the_retention_clock<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let sub = p
        .collect(Collection {
            purpose: "newsletter".into(),
            values: vec![("email".into(), EMAIL.into())],
            source: "form:newsletter".into(),
            anchor_date: None,
            actor: "subject".into(),
        })
        .await
        .unwrap();
    assert_eq!(sub.retain_until, None, "held while the consent stands");
    p.clock.set(datetime!(2027-01-10 12:00 UTC));
    let until = p.end_purpose(sub.subject, sub.instance, "withdrawal", "subject").await.unwrap();
    assert_eq!(until, date!(2027 - 02 - 09), "P20: 30 days after withdrawal");
    let report = p.subject_report(sub.subject, Lang::En).await.unwrap();
    let hold = &report.items[0].held_by[0];
    assert_eq!(hold.retain_until, Some(date!(2027 - 02 - 09)));
    assert!(hold.live);
    p.clock.set(datetime!(2027-02-10 00:00 UTC));
    let report = p.subject_report(sub.subject, Lang::En).await.unwrap();
    assert!(!report.items[0].held_by[0].live, "expired the day after retain_until");
}

/// Every column classified as a policy category names a category the bundled policy declares.
#[test]
fn classified_columns_name_policy_categories() {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    for (table, column, class) in pactum_store::schema::COLUMNS {
        use pactum_store::schema::Classification::{Category, Ciphertext};
        if let Category(c) | Ciphertext(c) = class {
            assert!(
                policy.category(c).is_some(),
                "{table}.{column} is classified as `{c}`, which the policy does not declare"
            );
        }
    }
}

async fn p16_the_retention_sweep_deletes_what_no_live_purpose_holds<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let backend = p.store.backend();
    // Enrolled only: the course ends 2027-03-15 and the enrolment is kept 30 days after it.
    let only = p.collect(enrolment(&[("name", NAME), ("email", EMAIL), ("phone", PHONE)])).await.unwrap();
    assert_eq!(only.retain_until, Some(date!(2027 - 04 - 14)));
    // Enrolled and subscribed: the newsletter goes on holding the e-mail address and the name.
    p.collect(enrolment(&[("name", "Bo Berg"), ("email", "bo@eksempel.dk"), ("phone", "+45 20 30 40 50")]))
        .await
        .unwrap();
    p.collect(Collection {
        purpose: "newsletter".into(),
        values: vec![("email".into(), "bo@eksempel.dk".into()), ("name".into(), "Bo Berg".into())],
        source: "form:newsletter".into(),
        anchor_date: None,
        actor: "subject".into(),
    })
    .await
    .unwrap();
    let bo = p.find_subject_by_email("bo@eksempel.dk").await.unwrap().unwrap();

    let last_day = p.run_retention(date!(2027 - 04 - 14), false).await.unwrap();
    assert_eq!((last_day.subjects_erased, last_day.items_deleted), (0, 0), "kept through the last day");
    assert!(last_day.purposes_ended.is_empty());

    let forecast = p.run_retention(date!(2027 - 04 - 15), true).await.unwrap();
    assert!(forecast.dry_run);
    assert_eq!((forecast.subjects_erased, forecast.items_deleted), (1, 4));
    assert_eq!(forecast.purposes_ended.get("course_enrolment"), Some(&2));
    assert!(p.find_subject_by_email(EMAIL).await.unwrap().is_some(), "a dry run deletes nothing");

    let seen = std::sync::Mutex::new(Vec::new());
    let swept = p
        .run_retention_with_progress(date!(2027 - 04 - 15), false, |so_far| seen.lock().unwrap().push(so_far))
        .await
        .unwrap();
    assert_eq!((swept.subjects_erased, swept.items_deleted), (1, 4));
    assert_eq!(
        seen.into_inner().unwrap(),
        vec![SweepProgress { people: 0, total: 2 }, SweepProgress { people: 2, total: 2 }],
        "the progress counts both people whose enrolment ran out, before the first page and after it"
    );
    assert_eq!(p.find_subject_by_email(EMAIL).await.unwrap(), None, "nothing holds it any more: erased");
    assert!(backend.subject_key(only.subject).await.unwrap().is_none(), "its key is shredded");
    let proofs = backend.deletion_proofs_of(&only.subject.to_string()).await.unwrap();
    assert_eq!(proofs.len(), 1);
    assert!(proofs[0].rule.contains("course_enrolment"), "{}", proofs[0].rule);

    let report = p.subject_report(bo, Lang::En).await.unwrap();
    let mut kept: Vec<&str> = report.items.iter().map(|i| i.category.as_str()).collect();
    kept.sort_unstable();
    assert_eq!(kept, vec!["email", "name"], "the phone number only the enrolment held is gone");
    let purposes: Vec<String> = backend.purposes_of(bo).await.unwrap().into_iter().map(|p| p.purpose).collect();
    assert_eq!(purposes, vec!["newsletter".to_string()]);
    let bo_proofs = backend.deletion_proofs_of(&bo.to_string()).await.unwrap();
    assert_eq!(bo_proofs.iter().map(|p| p.record_class.as_str()).collect::<Vec<_>>(), vec!["purposes"]);

    let again = p.run_retention(date!(2027 - 04 - 15), false).await.unwrap();
    assert_eq!((again.subjects_erased, again.items_deleted), (0, 0), "a second run changes nothing");
    assert!(again.purposes_ended.is_empty());
}

/// P16, P18: one sweep at a time. While another process's sweep holds the lease, a real sweep is
/// refused and deletes nothing (no second proof, no second notice); a dry run still forecasts. A
/// sweep that was killed keeps the next one out only until its lease runs out, and a sweep that
/// finished releases its lease at once.
async fn a_sweep_is_refused_while_another_runs_and_releases_its_lease_when_done<B: Backend>(env: Env<B>) {
    let p = &env.pactum;
    let backend = p.store.backend();
    let only = p.collect(enrolment(&[("name", NAME), ("email", EMAIL)])).await.unwrap();
    let now = p.clock.now_micros();
    let elsewhere =
        Op::TakeLease { job: SWEEP_LEASE.into(), holder: "node-b:sweep".into(), now, until: now + 600_000_000 };
    p.store.commit(Change { at: now, ops: vec![elsewhere], audit: Vec::new() }).await.unwrap();

    let refused = p.run_retention(date!(2027 - 04 - 15), false).await;
    assert!(matches!(refused, Err(CoreError::SweepRunning)), "{refused:?}");
    assert!(backend.subject_key(only.subject).await.unwrap().is_some(), "the refused sweep deleted nothing");
    assert!(backend.deletion_proofs_of(&only.subject.to_string()).await.unwrap().is_empty());
    let forecast = p.run_retention(date!(2027 - 04 - 15), true).await.unwrap();
    assert_eq!(forecast.subjects_erased, 1, "a dry run needs no lease");

    // The other sweep was killed: its lease runs out after ten minutes.
    p.clock.advance(time::Duration::minutes(11));
    let swept = p.run_retention(date!(2027 - 04 - 15), false).await.unwrap();
    assert_eq!(swept.subjects_erased, 1);
    assert_eq!(backend.deletion_proofs_of(&only.subject.to_string()).await.unwrap().len(), 1);
    // Another process sweeps straight after: the finished sweep left no lease behind.
    let now = p.clock.now_micros();
    let later = Op::TakeLease { job: SWEEP_LEASE.into(), holder: "node-b:sweep".into(), now, until: now + 600_000_000 };
    p.store.commit(Change { at: now, ops: vec![later], audit: Vec::new() }).await.unwrap();
}
