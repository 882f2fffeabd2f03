//! Mail through the outbox, delivered over a real SMTP exchange on a loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pactum_core::keyfile::{KeySource, load};
use pactum_core::mail::{EmlDirectory, OutgoingMail, SmtpMailer, SmtpSettings, backoff_micros, deliver_due_mail};
use pactum_core::personal::Collection;
use pactum_core::{Clock, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, parse_policy};
use pactum_store::{Backend, Change, MailStatus, Op, SubjectId};
use pactum_store_sqlite::SqliteBackend;
use pactum_testkit::SmtpServer;
use time::macros::datetime;

const ADDRESS: &str = "mette.moeller@eksempel.dk";

async fn pactum(dir: &std::path::Path) -> Pactum<SqliteBackend, ManualClock> {
    let backend = SqliteBackend::connect(&format!("sqlite://{}", dir.join("pactum.db").display())).await.unwrap();
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true }).unwrap();
    let settings = Settings { mail_from: Some("kurser@metier.example".into()), ..Settings::default() };
    Pactum::start(backend, ring, policy, ManualClock::at(datetime!(2026-11-25 10:00 UTC)), settings).await.unwrap()
}

async fn enqueue(p: &Pactum<SqliteBackend, ManualClock>) -> (SubjectId, pactum_store::MailId) {
    let subject = p
        .collect(Collection {
            purpose: "newsletter".into(),
            values: vec![("email".into(), ADDRESS.into())],
            source: "form:newsletter".into(),
            anchor_date: None,
            actor: "subject".into(),
        })
        .await
        .unwrap()
        .subject;
    let wrapped = p.store.backend().subject_key(subject).await.unwrap().unwrap();
    let key = p.keys.subject_key(subject, &wrapped).unwrap();
    let mail = OutgoingMail {
        to: ADDRESS.into(),
        subject: "Bekræft din tilmelding – æøå".into(),
        text: "Hej Mette\n\nKlik her: http://127.0.0.1:8080/bekraeft/abc\n".into(),
        headers: vec![("List-Unsubscribe", "<http://127.0.0.1:8080/afmeld/xyz>".into())],
    };
    let op = p.mail_op(subject, &key, "newsletter_confirmation", mail).unwrap();
    let Op::EnqueueMail(ref queued) = op else { panic!("an enqueue operation") };
    let id = queued.id;
    p.store.commit(Change { at: p.clock.now_micros(), ops: vec![op], audit: vec![] }).await.unwrap();
    (subject, id)
}

fn smtp(port: u16) -> SmtpMailer {
    SmtpMailer::new(&SmtpSettings::plain("127.0.0.1", port)).unwrap()
}

#[tokio::test]
async fn queued_mail_crosses_the_wire_and_only_a_delivery_record_stays() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let (subject, id) = enqueue(&p).await;
    // While queued, the address and content are sealed in the database file.
    let db = std::fs::read(dir.path().join("pactum.db-wal")).unwrap_or_default();
    assert!(!db.windows(ADDRESS.len()).any(|w| w == ADDRESS.as_bytes()));

    let server = SmtpServer::start().await.unwrap();
    let round = deliver_due_mail(&p, &smtp(server.port)).await.unwrap();
    assert_eq!(round.delivered, 1);
    let messages = server.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.from, "kurser@metier.example");
    assert_eq!(m.to, vec![ADDRESS.to_string()]);
    assert_eq!(m.header("List-Unsubscribe").as_deref(), Some("<http://127.0.0.1:8080/afmeld/xyz>"));
    assert!(m.header("From").unwrap().contains("kurser@metier.example"));
    assert!(m.body().contains("http://127.0.0.1:8080/bekraeft/abc"), "{}", m.body());

    let record = p.store.backend().mail(id).await.unwrap().unwrap();
    assert_eq!(record.status, MailStatus::Sent);
    assert!(record.sealed.is_empty());
    assert_eq!(deliver_due_mail(&p, &smtp(server.port)).await.unwrap().delivered, 0, "delivered once only");
    let audit = p.store.backend().audit_entries("main", 0, 100).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "mail.delivered" && e.subject_ref == Some(subject.to_string())));
    assert!(audit.iter().all(|e| !e.details.contains(ADDRESS)), "no address in the audit trail");
}

#[tokio::test]
async fn an_unreachable_server_means_a_retry_later() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let (_, id) = enqueue(&p).await;
    // A port that nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let round = deliver_due_mail(&p, &smtp(closed)).await.unwrap();
    assert_eq!((round.delivered, round.failed), (0, 1));
    let record = p.store.backend().mail(id).await.unwrap().unwrap();
    assert_eq!((record.status, record.attempts), (MailStatus::Pending, 1));
    assert_eq!(record.next_attempt_at, p.clock.now_micros() + backoff_micros(1));
    assert!(!record.sealed.is_empty(), "kept for the retry");

    let server = SmtpServer::start().await.unwrap();
    assert_eq!(deliver_due_mail(&p, &smtp(server.port)).await.unwrap().delivered, 0, "not before the retry time");
    p.clock.advance(time::Duration::minutes(2));
    assert_eq!(deliver_due_mail(&p, &smtp(server.port)).await.unwrap().delivered, 1);
    assert_eq!(server.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn without_smtp_mail_is_written_as_eml_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let (_, id) = enqueue(&p).await;
    let mailer = EmlDirectory { dir: dir.path().join("mail") };
    assert_eq!(deliver_due_mail(&p, &mailer).await.unwrap().delivered, 1);
    let eml = std::fs::read_to_string(dir.path().join("mail").join(format!("{id}.eml"))).unwrap();
    assert!(eml.contains("List-Unsubscribe: <http://127.0.0.1:8080/afmeld/xyz>"));
    assert!(eml.contains(ADDRESS));
}

#[test]
fn backoff_doubles_up_to_an_hour() {
    assert_eq!(backoff_micros(1), 60_000_000);
    assert_eq!(backoff_micros(2), 120_000_000);
    assert_eq!(backoff_micros(7), 3_600_000_000);
    assert_eq!(backoff_micros(30), 3_600_000_000);
}

/// Issue 3: mail bodies are personal data with a retention rule. A message written to the `.eml`
/// directory (no SMTP server configured) is deleted once it is older than `EML_RETENTION_DAYS`.
#[tokio::test]
async fn eml_copies_are_deleted_after_their_retention() {
    use pactum_core::mail::{EML_RETENTION_DAYS, Mailer};
    use std::time::SystemTime;

    let dir = tempfile::tempdir().unwrap();
    let mailer = EmlDirectory { dir: dir.path().join("mail") };
    assert_eq!(mailer.prune(SystemTime::now()).await.unwrap(), 0, "no directory yet: nothing to do");
    let (old, new) = (pactum_store::MailId::new(), pactum_store::MailId::new());
    for id in [old, new] {
        mailer.deliver(id, "from@example.com", "to@example.com", b"Subject: x\r\n\r\nHej Lis").await.unwrap();
    }
    std::fs::write(dir.path().join("mail").join("notes.txt"), "not a message").unwrap();
    let days = |n: i64| Duration::from_secs(u64::try_from(n).unwrap() * 86_400);
    let old_path = dir.path().join("mail").join(format!("{old}.eml"));
    std::fs::File::options()
        .write(true)
        .open(&old_path)
        .unwrap()
        .set_modified(SystemTime::now() - days(EML_RETENTION_DAYS + 1))
        .unwrap();

    let cutoff = SystemTime::now() - days(EML_RETENTION_DAYS);
    assert_eq!(mailer.prune(cutoff).await.unwrap(), 1);
    assert!(!old_path.exists(), "the old copy is gone");
    assert!(dir.path().join("mail").join(format!("{new}.eml")).exists(), "a recent one stays");
    assert!(dir.path().join("mail").join("notes.txt").exists(), "other files are not touched");
}
