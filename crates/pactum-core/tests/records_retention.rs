//! The records of Pactum's own duties end under the policy's `[records]` rules, on SQLite and
//! PostgreSQL: an Art. 19 notice (L4) three years after it was delivered, given up or left for
//! manual delivery, never while it is still being delivered; a breach in the register (L9) five
//! years after it was recorded. Each deleted record leaves a deletion proof, and the dry run lists
//! exactly what the real run then deletes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_core::incidents::IncidentDraft;
use pactum_core::keyfile::{KeySource, load};
use pactum_core::retention_sweep::SweptRecord;
use pactum_core::staff::{Role, Staff};
use pactum_core::{Clock, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, RecordClass, parse_policy};
use pactum_store::{Backend, Change, NotificationId, Op, RecipientNotification, StaffId};
use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;
use time::macros::{date, datetime};

async fn start<B: Backend>(backend: B, dir: &std::path::Path) -> (Pactum<B, ManualClock>, ManualClock) {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true }).unwrap();
    let clock = ManualClock::at(datetime!(2027-03-10 10:00 UTC));
    (Pactum::start(backend, ring, policy, clock.clone(), Settings::default()).await.unwrap(), clock)
}

fn notification(status: &str, at: i64) -> RecipientNotification {
    RecipientNotification {
        id: NotificationId::new(),
        recipient: "course_partner".into(),
        channel: if status == "manual" { "manual" } else { "email" }.into(),
        kind: "erasure".into(),
        reference: "ref-7f3a".into(),
        disclosed_at: at,
        subject_ref: "0190a1b2-0000-7000-8000-000000000001".into(),
        status: if status == "manual" { "manual" } else { "pending" }.into(),
        attempts: 0,
        created_at: at,
        next_attempt_at: at,
        delivered_at: None,
        last_error: None,
    }
}

async fn records_end_under_the_policy<B: Backend>(p: Pactum<B, ManualClock>, clock: ManualClock) {
    let now = clock.now_micros();
    // Three notices queued today: one is delivered a day later, one is left for manual delivery
    // (the recipient has no channel), one is still being retried.
    let (delivered, manual, retrying) =
        (notification("pending", now), notification("manual", now), notification("pending", now));
    let queued = vec![delivered.clone(), manual.clone(), retrying.clone()];
    p.store.commit(Change { at: now, ops: vec![Op::QueueNotifications(queued)], audit: Vec::new() }).await.unwrap();
    let next_day = now + 86_400_000_000;
    let ops = vec![
        Op::NotificationDelivered { id: delivered.id, at: next_day },
        Op::NotificationFailed {
            id: retrying.id,
            attempts: 1,
            next_attempt_at: next_day,
            give_up: false,
            error: "the server answered 451".into(),
        },
    ];
    p.store.commit(Change { at: next_day, ops, audit: Vec::new() }).await.unwrap();
    let dpo = Staff { id: StaffId::new(), username: "dpo".into(), role: Role::Dpo, session_hash: vec![0; 32] };
    let incident = p
        .record_incident(
            &dpo,
            IncidentDraft {
                title: "Lost laptop".into(),
                description: "A laptop with an export of a roster was left on a train.".into(),
                aware_at: now,
                occurred_from: now - 3_600_000_000,
                occurred_to: now,
                recipient: None,
                actor: None,
                categories: vec!["name".into()],
                consequences: "None known.".into(),
                measures: "The disk was encrypted.".into(),
                risk: "unlikely".into(),
            },
        )
        .await
        .unwrap();

    // The manual notice counts from 2027-03-10, the delivered one from 2027-03-11: three years each.
    let on = |day| p.run_retention(day, true);
    assert!(on(date!(2030 - 03 - 10)).await.unwrap().records.is_empty(), "kept through its last day");
    let first = on(date!(2030 - 03 - 11)).await.unwrap();
    assert_eq!(
        first.records,
        vec![SweptRecord {
            class: RecordClass::RecipientNotifications,
            id: manual.id.to_string(),
            retain_until: date!(2030 - 03 - 10)
        }]
    );
    let forecast = on(date!(2032 - 03 - 11)).await.unwrap();
    let listed: Vec<(RecordClass, String)> = forecast.records.iter().map(|r| (r.class, r.id.clone())).collect();
    assert_eq!(
        listed,
        vec![
            (RecordClass::RecipientNotifications, manual.id.to_string()),
            (RecordClass::RecipientNotifications, delivered.id.to_string()),
            (RecordClass::Incidents, incident.to_string()),
        ],
        "the retrying notice is never listed; the breach goes after five years"
    );
    assert_eq!(forecast.records_deleted.get("recipient_notifications"), Some(&2));
    assert_eq!(forecast.records_deleted.get("incidents"), Some(&1));
    // The dry run deleted nothing.
    assert_eq!(p.store.backend().notifications(10).await.unwrap().len(), 3);

    // The real run at that day deletes exactly what the dry run listed, each with a proof.
    let swept = p.run_retention(date!(2032 - 03 - 11), false).await.unwrap();
    assert_eq!(swept.records, forecast.records);
    let left: Vec<NotificationId> = p.store.backend().notifications(10).await.unwrap().iter().map(|n| n.id).collect();
    assert_eq!(left, vec![retrying.id], "only the notice still being delivered remains");
    assert!(p.store.backend().incident(incident).await.unwrap().is_none(), "the breach is gone from the register");
    let notice_proofs = p.store.backend().deletion_proofs_of(&delivered.subject_ref).await.unwrap();
    let notice_proofs: Vec<_> = notice_proofs.iter().filter(|d| d.record_class == "recipient_notifications").collect();
    assert_eq!(notice_proofs.len(), 2, "one proof per notice");
    assert!(notice_proofs.iter().all(|d| d.rule.contains("3 years after the notice was delivered or given up")));
    let incident_proofs = p.store.backend().deletion_proofs_of(&incident.to_string()).await.unwrap();
    assert_eq!(incident_proofs.len(), 1);
    assert_eq!(incident_proofs[0].record_class, "incidents");
    assert!(incident_proofs[0].rule.contains("5 years after the breach was recorded"), "{}", incident_proofs[0].rule);

    // Running it again changes nothing.
    let again = p.run_retention(date!(2032 - 03 - 11), false).await.unwrap();
    assert!(again.records.is_empty());
    assert_eq!(p.store.backend().notifications(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn l4_l9_records_of_duties_end_under_the_policy_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("pactum.db").display())).await.unwrap();
    let (p, clock) = start(backend, dir.path()).await;
    records_end_under_the_policy(p, clock).await;
}

#[tokio::test]
async fn l4_l9_records_of_duties_end_under_the_policy_on_postgres() {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (backend, _) = PgBackend::connect_to_new_schema(&url, "pactum_test").await.expect("PostgreSQL reachable");
    let (p, clock) = start(backend, dir.path()).await;
    records_end_under_the_policy(p, clock).await;
}

#[test]
fn a_record_class_the_policy_does_not_know_is_refused_with_its_place() {
    let text = format!(
        "{BUNDLED_POLICY}\n[records.audit_log]\nlabel = {{ da = \"x\", en = \"x\" }}\nretention = {{ years = 1 }}\n"
    );
    let errors = parse_policy("metier.toml", &text).unwrap_err().to_string();
    assert!(errors.contains("`audit_log` is not a record class Pactum keeps"), "{errors}");
    assert!(errors.contains("recipient_notifications, incidents"), "{errors}");
    let typo = BUNDLED_POLICY.replacen("[records.incidents]", "[records.incident]", 1);
    let errors = parse_policy("metier.toml", &typo).unwrap_err().to_string();
    assert!(errors.contains("did you mean `incidents`"), "{errors}");
}
