//! Orders and invoices: P04, L6, C10 (the two five-year clocks), gapless numbering, credit notes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_core::keyfile::{KeySource, load};
use pactum_core::orders::{BuyerKind, OrderRequest};
use pactum_core::{CoreError, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, Lang, parse_policy};
use pactum_store::{Backend, SessionId};
use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;
use time::macros::{date, datetime};

/// The L6 worked example: a course ending 15 March 2025.
const CATALOGUE: &str = r#"
[[course]]
slug = "prince2-foundation"
title = { da = "PRINCE2® Foundation", en = "PRINCE2® Foundation" }
summary = { da = "Tre dage.", en = "Three days." }
certification = true
cancellation = { free_until_days_before = 7, late_fee_percent = 50 }

[[course.session]]
code = "P2F-2025-03"
starts_on = 2025-03-13
ends_on = 2025-03-15
location = "København"
language = "da"
price_dkk = 14950
seats = 3
"#;

async fn pactum(dir: &std::path::Path) -> (Pactum<SqliteBackend, ManualClock>, ManualClock, SessionId) {
    let backend = SqliteBackend::connect(&format!("sqlite://{}", dir.join("pactum.db").display())).await.unwrap();
    start(backend, dir).await
}

/// The same on PostgreSQL, in a schema of its own; `None` where no server is configured.
async fn postgres(dir: &std::path::Path) -> Option<(Pactum<PgBackend, ManualClock>, ManualClock, SessionId)> {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return None;
    };
    let (backend, _) = PgBackend::connect_to_new_schema(&url, "pactum_test").await.expect("PostgreSQL reachable");
    Some(start(backend, dir).await)
}

async fn start<B: Backend>(backend: B, dir: &std::path::Path) -> (Pactum<B, ManualClock>, ManualClock, SessionId) {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true }).unwrap();
    let clock = ManualClock::at(datetime!(2025-03-01 10:00 UTC));
    let p = Pactum::start(backend, ring, policy, clock.clone(), Settings::default()).await.unwrap();
    p.import_catalogue(CATALOGUE, "test").await.unwrap();
    let session = p.course_listing("prince2-foundation").await.unwrap().unwrap().sessions[0].session.id;
    (p, clock, session)
}

fn person(name: &str, email: &str) -> Vec<(String, String)> {
    vec![("name".into(), name.into()), ("email".into(), email.into())]
}

fn company_order(session: SessionId, participants: Vec<Vec<(String, String)>>) -> OrderRequest {
    OrderRequest {
        session,
        buyer_kind: BuyerKind::Company,
        buyer: vec![
            ("name".into(), "Karin Kontakt".into()),
            ("email".into(), "indkob@eksempel.dk".into()),
            ("company".into(), "Eksempel A/S".into()),
            ("address".into(), "Vestergade 1\n8000 Aarhus C".into()),
        ],
        cvr: Some("1234 5678".into()),
        purchase_order: Some("PO-4711".into()),
        participants,
        lang: Lang::Da,
        method: "form:order".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    }
}

#[tokio::test]
async fn p04_a_company_orders_two_seats_and_gets_one_invoice_with_vat() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, session) = pactum(dir.path()).await;
    let request =
        company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk"), person("Bo Bæk", "bo@eksempel.dk")]);
    let placed = p.place_order(request).await.unwrap();
    let backend = p.store.backend();
    let order = backend.order(placed.order).await.unwrap().unwrap();
    assert_eq!((order.buyer_kind.as_str(), order.participants.len()), ("company", 2));
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 2);

    // Each participant is a subject of their own under course_enrolment; the buyer's details are
    // held by the order's purposes, not by theirs.
    for enrolment in &order.participants {
        let e = backend.enrolments_of(session.0).await.unwrap().into_iter().find(|x| x.id == *enrolment).unwrap();
        assert_ne!(e.subject, placed.buyer);
        let purposes: Vec<String> =
            backend.purposes_of(e.subject).await.unwrap().into_iter().map(|p| p.purpose).collect();
        assert_eq!(purposes, vec!["course_enrolment"]);
    }
    let buyer_purposes = backend.purposes_of(placed.buyer).await.unwrap();
    let order_purpose = buyer_purposes.iter().find(|p| p.purpose == "order").unwrap();
    assert_eq!(order_purpose.basis, "contract", "P04: order data under contract");
    let bookkeeping = buyer_purposes.iter().find(|p| p.purpose == "bookkeeping").unwrap();
    assert_eq!(bookkeeping.basis, "legal_obligation");
    assert_eq!(bookkeeping.retain_until, Some(date!(2030 - 12 - 31)), "end of the financial year + 5 years");

    // P04: the order and its bases appear in the buyer's access report.
    let report = p.subject_report(placed.buyer, Lang::Da).await.unwrap();
    let record = report.items.iter().find(|i| i.category == "order").unwrap();
    assert!(record.value.contains("\"seats\":2") && record.value.contains("12345678"), "{}", record.value);
    let holds: Vec<(&str, &str)> = record.held_by.iter().map(|h| (h.purpose.as_str(), h.basis.as_str())).collect();
    assert!(
        holds.contains(&("order", "contract")) && holds.contains(&("bookkeeping", "legal_obligation")),
        "{holds:?}"
    );

    let document = p.invoice_document(placed.invoice).await.unwrap().unwrap();
    assert_eq!(document.invoice.number, 1);
    assert_eq!(document.invoice.issued_on, date!(2025 - 03 - 01));
    assert_eq!(document.invoice.due_on, date!(2025 - 03 - 15));
    assert_eq!(
        (document.invoice.net_ore, document.invoice.vat_ore, document.invoice.total_ore),
        (2_990_000, 747_500, 3_737_500),
        "2 × 14,950.00 DKK + 25 % VAT"
    );
    assert_eq!(document.lines[0].quantity, 2);
    assert_eq!(document.buyer.cvr.as_deref(), Some("12345678"));
    assert_eq!(document.buyer.purchase_order.as_deref(), Some("PO-4711"));
    assert_eq!(document.buyer.company.as_deref(), Some("Eksempel A/S"));
    assert_eq!(document.retain_until, Some(date!(2030 - 12 - 31)));
}

#[tokio::test]
async fn orders_are_checked_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, session) = pactum(dir.path()).await;
    let mut no_cvr = company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk")]);
    no_cvr.cvr = None;
    let mut bad_cvr = company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk")]);
    bad_cvr.cvr = Some("1234".into());
    let nobody = company_order(session, vec![]);
    let bad_participant = company_order(session, vec![person("Anna Andersen", "not-an-address")]);
    // One address twice, however it is written: one person, who would take two seats.
    let twice = company_order(
        session,
        vec![person("Anna Andersen", "anna@eksempel.dk"), person("A. Andersen", "ANNA@Eksempel.dk")],
    );
    let undeclared = company_order(
        session,
        vec![vec![
            ("name".into(), "Anna".into()),
            ("email".into(), "a@eksempel.dk".into()),
            ("cpr".into(), "x".into()),
        ]],
    );
    match p.place_order(bad_cvr.clone()).await {
        Err(CoreError::Invalid(errors)) => assert_eq!(
            errors[0].message(pactum_policy::Lang::En),
            "The field «cvr» must be a Danish CVR number of 8 digits, e.g. 12345678."
        ),
        other => panic!("cvr 1234: {other:?}"),
    }
    for (request, field) in [
        (no_cvr, "cvr"),
        (bad_cvr, "cvr"),
        (nobody, "participants"),
        (bad_participant, "participants[0].email"),
        (twice, "participants[1].email"),
        (undeclared, "participants[0].cpr"),
    ] {
        match p.place_order(request).await {
            Err(CoreError::Invalid(errors)) => assert!(errors.iter().any(|e| e.field == field), "{field}: {errors:?}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    // More participants than one order takes: the message counts entries, not characters.
    let crowd = company_order(session, (0..51).map(|n| person("Deltager", &format!("c{n}@eksempel.dk"))).collect());
    match p.place_order(crowd).await {
        Err(CoreError::Invalid(errors)) => {
            let message = errors[0].message(pactum_policy::Lang::Da);
            assert_eq!(message, "Feltet «participants» må højst have 50 elementer. Del det op.");
        }
        other => panic!("51 participants: {other:?}"),
    }
    // Four seats on a session with three: refused whole, no seat taken, no invoice number used.
    let too_many = company_order(session, (0..4).map(|n| person("Deltager", &format!("d{n}@eksempel.dk"))).collect());
    assert!(matches!(p.place_order(too_many).await, Err(CoreError::Full)));
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 0);
    let placed = p.place_order(company_order(session, vec![person("Anna", "anna@eksempel.dk")])).await.unwrap();
    let first = p.invoice_document(placed.invoice).await.unwrap().unwrap();
    assert_eq!(first.invoice.number, 1, "a refused order leaves no gap in the series");
    // Someone already enrolled on the session: named, and no seat or invoice for them.
    let again = company_order(session, vec![person("Bo", "bo@eksempel.dk"), person("Anna", "anna@eksempel.dk")]);
    match p.place_order(again).await {
        Err(CoreError::Invalid(errors)) => {
            assert_eq!(errors[0].field, "participants[1].email");
            assert!(errors[0].message(pactum_policy::Lang::En).contains("already enrolled on this session"));
        }
        other => panic!("already enrolled: {other:?}"),
    }
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 1);
    assert_eq!(p.find_subject_by_email("bo@eksempel.dk").await.unwrap(), None, "nothing stored");
}

#[tokio::test]
async fn a_person_who_orders_for_themselves_is_one_subject() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, session) = pactum(dir.path()).await;
    let request = OrderRequest {
        session,
        buyer_kind: BuyerKind::Person,
        buyer: vec![
            ("name".into(), "Sofie Sørensen".into()),
            ("email".into(), "sofie@eksempel.dk".into()),
            ("address".into(), "Nørregade 2, 1165 København K".into()),
        ],
        cvr: None,
        purchase_order: None,
        participants: vec![person("Sofie Sørensen", "sofie@eksempel.dk")],
        lang: Lang::Da,
        method: "form:order".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    };
    let placed = p.place_order(request).await.unwrap();
    let enrolment = &p.store.backend().enrolments_of(session.0).await.unwrap()[0];
    assert_eq!(enrolment.subject, placed.buyer, "the buyer and the participant are the same person");
    assert_eq!(p.find_subject_by_email("sofie@eksempel.dk").await.unwrap(), Some(placed.buyer));
}

#[tokio::test]
async fn cancelling_gives_the_seats_back_and_credits_the_invoice_which_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, session) = pactum(dir.path()).await;
    let placed = p
        .place_order(company_order(
            session,
            vec![person("Anna Andersen", "anna@eksempel.dk"), person("Bo Bæk", "bo@eksempel.dk")],
        ))
        .await
        .unwrap();
    let before = p.invoice_document(placed.invoice).await.unwrap().unwrap();
    let credit = p.cancel_order(placed.order, "staff:1").await.unwrap().expect("a credit note");
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 0);
    let credit = p.invoice_document(credit).await.unwrap().unwrap();
    assert_eq!(credit.invoice.kind, "credit_note");
    assert_eq!(credit.invoice.number, 2);
    assert_eq!(credit.invoice.credits, Some(placed.invoice));
    assert_eq!(credit.invoice.total_ore, -before.invoice.total_ore);
    let after = p.invoice_document(placed.invoice).await.unwrap().unwrap();
    assert_eq!(after.invoice, before.invoice, "an issued invoice is never changed");
    assert_eq!(p.cancel_order(placed.order, "staff:1").await.unwrap(), None, "cancelling twice credits once");
    let order = p.store.backend().order(placed.order).await.unwrap().unwrap();
    assert_eq!(order.status, "cancelled");
}

/// Both clock tests, on both backends.
macro_rules! on_both_backends {
    ($($name:ident),*) => {
        mod sqlite_backend { $( #[tokio::test] async fn $name() { let dir = tempfile::tempdir().unwrap(); let (p, c, s) = super::pactum(dir.path()).await; super::$name(p, c, s).await } )* }
        mod postgres_backend { $( #[tokio::test] async fn $name() { let dir = tempfile::tempdir().unwrap(); if let Some((p, c, s)) = super::postgres(dir.path()).await { super::$name(p, c, s).await } } )* }
    };
}

on_both_backends!(
    l6_the_invoice_outlives_the_participation_and_goes_the_day_after_year_end_plus_five,
    p33_l6_erasure_keeps_the_invoice_restricted_until_year_end_plus_five_and_says_so,
    an_order_sent_twice_under_one_key_is_placed_once,
    orders_at_the_same_moment_for_one_new_participant_take_one_seat
);

/// Four orders sent at the same moment by one new buyer, each for the same new participant: each
/// finds both addresses unknown, and all but one lose the race to create them. The lost ones are
/// tried again and answered as for anyone known (already enrolled), never with a store conflict.
async fn orders_at_the_same_moment_for_one_new_participant_take_one_seat<B: Backend>(
    p: Pactum<B, ManualClock>,
    _clock: ManualClock,
    session: SessionId,
) {
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            let request = company_order(session, vec![person("Dorte Dahl", "dorte@eksempel.dk")]);
            tokio::spawn(async move { p.place_order(request).await })
        })
        .collect();
    let mut placed = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => placed += 1,
            Err(CoreError::Invalid(errors)) => {
                assert_eq!(errors[0].field, "participants[0].email");
                assert!(errors[0].message(Lang::En).contains("already enrolled"), "{errors:?}");
            }
            Err(other) => panic!("a racing order got {other:?}"),
        }
    }
    assert_eq!(placed, 1, "one order");
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 1, "one seat");
}

/// A double click on "order", or an API call retried after a lost answer: one order, one invoice,
/// one set of seats, and the same answer twice. The same key for another order is refused.
async fn an_order_sent_twice_under_one_key_is_placed_once<B: Backend>(
    p: Pactum<B, ManualClock>,
    _clock: ManualClock,
    session: SessionId,
) {
    let keyed =
        |participants| OrderRequest { repeat_key: Some("form-7f3a".into()), ..company_order(session, participants) };
    let first = p.place_order(keyed(vec![person("Anna Andersen", "anna@eksempel.dk")])).await.unwrap();
    assert!(!first.repeated);
    let again = p.place_order(keyed(vec![person("Anna Andersen", "anna@eksempel.dk")])).await.unwrap();
    assert_eq!((again.order, again.invoice, &again.participants), (first.order, first.invoice, &first.participants));
    assert!(again.repeated, "the answer says nothing was placed now");
    let backend = p.store.backend();
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 1, "one seat, not two");
    assert_eq!(backend.orders_of_buyer(first.buyer).await.unwrap().len(), 1);
    assert_eq!(backend.invoices_of_order(first.order).await.unwrap().len(), 1);

    // Another order under the same key: refused, nothing stored.
    let other = p.place_order(keyed(vec![person("Bo Bæk", "bo@eksempel.dk")])).await;
    assert!(matches!(other, Err(CoreError::KeyReused)), "{other:?}");
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 1);
    // Without a key, the same order again names someone already enrolled: refused, no seat.
    let unkeyed = p.place_order(company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk")])).await;
    assert!(matches!(unkeyed, Err(CoreError::Invalid(_))), "{unkeyed:?}");
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 1);

    // Two copies sent at the same moment: one order, and both answers name it.
    let twins: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            let request = OrderRequest {
                repeat_key: Some("api-twin".into()),
                ..company_order(session, vec![person("Cai Crone", "cai@eksempel.dk")])
            };
            tokio::spawn(async move { p.place_order(request).await })
        })
        .collect();
    let mut orders = Vec::new();
    for twin in twins {
        orders.push(twin.await.unwrap().unwrap().order);
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 2, "one seat each for Anna and Cai");
}

async fn l6_the_invoice_outlives_the_participation_and_goes_the_day_after_year_end_plus_five<B: Backend>(
    p: Pactum<B, ManualClock>,
    clock: ManualClock,
    session: SessionId,
) {
    let placed =
        p.place_order(company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk")])).await.unwrap();
    let backend = p.store.backend();
    let participant = backend.enrolments_of(session.0).await.unwrap()[0].subject;

    // The enrolment's own rule (course end + 30 days) has run out long before the invoice's.
    clock.set(datetime!(2030-03-16 03:00 UTC));
    p.run_retention(date!(2030 - 03 - 16), false).await.unwrap();
    assert!(backend.subject_key(participant).await.unwrap().is_none(), "the participant is gone");
    let kept = p.invoice_document(placed.invoice).await.unwrap().expect("the invoice is kept");
    assert_eq!(kept.buyer.name, "Karin Kontakt");
    let purposes: Vec<String> =
        backend.purposes_of(placed.buyer).await.unwrap().into_iter().map(|p| p.purpose).collect();
    assert_eq!(purposes, vec!["bookkeeping"], "only the legal hold remains");

    // Still there on the last day of the fifth financial year after.
    clock.set(datetime!(2030-12-31 23:00 UTC));
    p.run_retention(date!(2030 - 12 - 31), false).await.unwrap();
    assert!(p.invoice_document(placed.invoice).await.unwrap().is_some());

    // Gone the day after, with a deletion proof, and the buyer with it.
    clock.set(datetime!(2031-01-01 03:00 UTC));
    let report = p.run_retention(date!(2031 - 01 - 01), false).await.unwrap();
    assert_eq!(report.subjects_erased, 1);
    assert!(backend.invoice(placed.invoice).await.unwrap().is_none());
    assert!(backend.subject_key(placed.buyer).await.unwrap().is_none());
    let proofs = backend.deletion_proofs_of(&placed.buyer.to_string()).await.unwrap();
    assert!(
        proofs.iter().any(|proof| proof.rule.contains("bookkeeping") || proof.rule.contains("Bogføring")),
        "{proofs:?}"
    );
}

async fn p33_l6_erasure_keeps_the_invoice_restricted_until_year_end_plus_five_and_says_so<B: Backend>(
    p: Pactum<B, ManualClock>,
    clock: ManualClock,
    session: SessionId,
) {
    let mut request = company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk")]);
    request.buyer.push(("phone".into(), "31415926".into()));
    let placed = p.place_order(request).await.unwrap();
    let backend = p.store.backend();
    let participant = backend.enrolments_of(session.0).await.unwrap()[0].subject;

    // While the order is open (the course is still to come) its data is kept too, restricted.
    let open = p.erase_on_request(participant, "erasure requested (P33)", "subject", None).await.unwrap();
    assert!(open.kept.is_empty(), "a participant holds no order: {:?}", open.kept);
    let mut second = company_order(session, vec![person("Cai Carlsen", "cai@eksempel.dk")]);
    second.buyer = vec![
        ("name".into(), "Dorte Dahl".into()),
        ("email".into(), "dorte@eksempel.dk".into()),
        ("company".into(), "Dahl ApS".into()),
        ("address".into(), "Torvet 3, 5000 Odense".into()),
    ];
    let other = p.place_order(second).await.unwrap();
    let while_open = p.erase_on_request(other.buyer, "erasure requested (P33)", "subject", None).await.unwrap();
    let kept: Vec<&str> = while_open.kept.iter().map(|k| k.purpose.as_str()).collect();
    assert_eq!(kept, vec!["order", "bookkeeping"], "an open order is kept restricted with its invoice");

    // After the course the order is completed; erasing then keeps only the bookkeeping hold.
    clock.set(datetime!(2025-07-01 10:00 UTC));
    let erasure = p.erase_on_request(placed.buyer, "erasure requested (P33)", "subject", None).await.unwrap();
    assert_eq!(erasure.kept.len(), 1, "{:?}", erasure.kept);
    let kept = &erasure.kept[0];
    assert_eq!((kept.purpose.as_str(), kept.retain_until), ("bookkeeping", Some(date!(2030 - 12 - 31))));
    assert!(kept.statute.as_deref().unwrap_or("").contains("Bogføringsloven"));
    // In the same request: the phone number (no legal basis keeps it) is gone, the order purpose
    // has ended, the invoice is still there and restricted.
    let categories: Vec<String> =
        backend.items_of(placed.buyer).await.unwrap().into_iter().map(|i| i.category).collect();
    assert!(!categories.contains(&"phone".to_string()), "{categories:?}");
    assert!(categories.contains(&"address".to_string()), "the invoice address is kept: {categories:?}");
    let purposes = backend.purposes_of(placed.buyer).await.unwrap();
    assert_eq!(purposes.len(), 1);
    assert_eq!(purposes[0].end_reason.as_deref(), Some(pactum_core::personal::RESTRICTED_AFTER_ERASURE));
    assert!(p.invoice_document(placed.invoice).await.unwrap().is_some());
    assert!(backend.deletion_proofs_of(&placed.buyer.to_string()).await.unwrap().iter().any(|d| d.id == erasure.proof));
    // The participant was someone else, erased whole by their own request.
    assert!(backend.subject_key(participant).await.unwrap().is_none());

    // The sweep releases the restricted invoice the day after the hold ends, not before.
    clock.set(datetime!(2030-12-31 23:00 UTC));
    p.run_retention(date!(2030 - 12 - 31), false).await.unwrap();
    assert!(p.invoice_document(placed.invoice).await.unwrap().is_some());
    p.run_retention(date!(2031 - 01 - 01), false).await.unwrap();
    assert!(backend.invoice(placed.invoice).await.unwrap().is_none());
    assert!(backend.subject_key(placed.buyer).await.unwrap().is_none());
}

/// Validates `xml` against the UBL 2.1 schema of `root` with xmllint, when the test suite provided
/// the schemas (scripts/test.sh sets PACTUM_UBL_XSD); on CI their absence is a failure.
fn assert_valid_ubl(xml: &str, root: &str) {
    let Ok(dir) = std::env::var("PACTUM_UBL_XSD") else {
        assert!(std::env::var_os("CI").is_none(), "PACTUM_UBL_XSD must be set on CI (scripts/ubl-schemas.sh)");
        eprintln!("SKIPPED: UBL 2.1 schema validation (PACTUM_UBL_XSD is not set; scripts/test.sh sets it)");
        return;
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), xml).unwrap();
    let schema = format!("{dir}/maindoc/UBL-{root}-2.1.xsd");
    let output = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", &schema])
        .arg(file.path())
        .output()
        .expect("xmllint runs");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the {root} does not validate against UBL 2.1:\n{report}\n{xml}");
    assert!(report.contains("validates"), "{report}");
}

#[tokio::test]
async fn peppol_bis_3_invoice_and_credit_note_validate_against_the_ubl_21_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _, session) = pactum(dir.path()).await;
    let mut request =
        company_order(session, vec![person("Anna Andersen", "anna@eksempel.dk"), person("Bo Bæk", "bo@eksempel.dk")]);
    // Hostile text must come out escaped, never as markup.
    set_field(&mut request.buyer, "company", "Eksempel & Søn <A/S>");
    let placed = p.place_order(request).await.unwrap();
    let invoice = p.invoice_document(placed.invoice).await.unwrap().unwrap();
    let xml = pactum_core::ubl::peppol_document(&p.policy, &invoice);
    assert_valid_ubl(&xml, "Invoice");
    for needle in [
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>",
        "<cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>",
        "<cbc:ID>1</cbc:ID>",
        "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
        "<cbc:DueDate>2025-03-15</cbc:DueDate>",
        "<cbc:BuyerReference>PO-4711</cbc:BuyerReference>",
        "<cbc:EndpointID schemeID=\"0184\">12345678</cbc:EndpointID>",
        "<cbc:CompanyID>DK12345678</cbc:CompanyID>",
        "<cbc:RegistrationName>Eksempel &amp; Søn &lt;A/S&gt;</cbc:RegistrationName>",
        "<cbc:TaxableAmount currencyID=\"DKK\">29900.00</cbc:TaxableAmount>",
        "<cbc:TaxAmount currencyID=\"DKK\">7475.00</cbc:TaxAmount>",
        "<cbc:Percent>25</cbc:Percent>",
        "<cbc:PayableAmount currencyID=\"DKK\">37375.00</cbc:PayableAmount>",
        "<cbc:InvoicedQuantity unitCode=\"C62\">2</cbc:InvoicedQuantity>",
        "<cbc:PriceAmount currencyID=\"DKK\">14950.00</cbc:PriceAmount>",
    ] {
        assert!(xml.contains(needle), "the invoice has {needle}:\n{xml}");
    }
    assert!(!xml.contains("Anna Andersen"), "the participants are not on the invoice");

    let credit = p.cancel_order(placed.order, "staff:1").await.unwrap().unwrap();
    let credit_note = p.invoice_document(credit).await.unwrap().unwrap();
    let xml = pactum_core::ubl::peppol_document(&p.policy, &credit_note);
    assert_valid_ubl(&xml, "CreditNote");
    for needle in [
        "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>",
        "<cac:InvoiceDocumentReference><cbc:ID>1</cbc:ID></cac:InvoiceDocumentReference>",
        "<cbc:PayableAmount currencyID=\"DKK\">37375.00</cbc:PayableAmount>",
        "<cbc:CreditedQuantity unitCode=\"C62\">2</cbc:CreditedQuantity>",
    ] {
        assert!(xml.contains(needle), "the credit note has {needle}:\n{xml}");
    }

    // A private person is addressed by e-mail (Peppol scheme EM) and has no CVR.
    let person_order = OrderRequest {
        buyer_kind: BuyerKind::Person,
        buyer: vec![
            ("name".into(), "Sofie Sørensen".into()),
            ("email".into(), "sofie@eksempel.dk".into()),
            ("address".into(), "Nørregade 2\n1165 København K".into()),
        ],
        cvr: None,
        purchase_order: None,
        ..company_order(session, vec![person("Sofie Sørensen", "sofie@eksempel.dk")])
    };
    let placed = p.place_order(person_order).await.unwrap();
    let xml = pactum_core::ubl::peppol_document(&p.policy, &p.invoice_document(placed.invoice).await.unwrap().unwrap());
    assert_valid_ubl(&xml, "Invoice");
    assert!(xml.contains("<cbc:EndpointID schemeID=\"EM\">sofie@eksempel.dk</cbc:EndpointID>"), "{xml}");
    assert!(xml.contains("<cbc:AdditionalStreetName>1165 København K</cbc:AdditionalStreetName>"), "{xml}");
    assert!(xml.contains(&format!("<cbc:BuyerReference>{}</cbc:BuyerReference>", placed.order)), "{xml}");
}

fn set_field(values: &mut Vec<(String, String)>, category: &str, value: &str) {
    values.retain(|(c, _)| c != category);
    values.push((category.into(), value.into()));
}

#[tokio::test]
async fn the_buyer_cancels_free_until_the_deadline_then_the_late_fee_is_kept_and_never_after_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (p, clock, session) = pactum(dir.path()).await;
    let two = || vec![person("Anna Andersen", "anna@eksempel.dk"), person("Bo Bæk", "bo@eksempel.dk")];
    // 1 March: the session starts 13 March and is free to cancel until 6 March.
    let early = p.place_order(company_order(session, two())).await.unwrap();
    let quote = p.cancellation_quote(early.order).await.unwrap();
    assert_eq!(
        (quote.free_until, quote.fee_percent, quote.fee_ore, quote.credit_ore),
        (date!(2025 - 03 - 06), 0, 0, 3_737_500)
    );
    assert!(quote.open);
    p.cancel_order_as_buyer(early.order).await.unwrap();
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 0);
    let notes: Vec<i64> =
        p.store.backend().invoices_of_order(early.order).await.unwrap().iter().map(|i| i.total_ore).collect();
    assert_eq!(notes, vec![3_737_500, -3_737_500], "the whole amount is credited");
    assert!(matches!(p.cancel_order_as_buyer(early.order).await, Err(CoreError::Forbidden)), "once");

    // 10 March: past the deadline, half is kept as the fee; the credit note says so.
    let late = p.place_order(company_order(session, two())).await.unwrap();
    clock.set(datetime!(2025-03-10 12:00 UTC));
    let quote = p.cancellation_quote(late.order).await.unwrap();
    assert_eq!((quote.fee_percent, quote.fee_ore, quote.credit_ore), (50, 1_868_750, 1_868_750));
    p.cancel_order_as_buyer(late.order).await.unwrap();
    let invoices = p.store.backend().invoices_of_order(late.order).await.unwrap();
    let credit = invoices.iter().find(|i| i.kind == "credit_note").unwrap();
    assert_eq!((credit.net_ore, credit.vat_ore, credit.total_ore), (-1_495_000, -373_750, -1_868_750));
    let document = p.invoice_document(credit.id).await.unwrap().unwrap();
    assert!(document.lines[0].description_da.contains("50 % beholdes som gebyr"), "{:?}", document.lines);
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 0, "the seats are free again");

    // From the first day of the session the buyer can no longer cancel (staff still can).
    let started = p.place_order(company_order(session, two())).await.unwrap();
    clock.set(datetime!(2025-03-13 08:00 UTC));
    assert!(!p.cancellation_quote(started.order).await.unwrap().open);
    assert!(matches!(p.cancel_order_as_buyer(started.order).await, Err(CoreError::Forbidden)));
    assert!(p.cancel_order(started.order, "staff:1").await.unwrap().is_some());
}
