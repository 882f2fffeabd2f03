//! Disclosures and certification, on SQLite and PostgreSQL: P08, P09, P10, P12, P13, P15, P16, P17,
//! P18 (a course ending 29 February), C3, L10.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_core::certification::{MessageKind, PartnerMessage};
use pactum_core::disclosure::{DisclosureRequest, Refusal, Scope};
use pactum_core::enrolment::{EnrolmentRequest, EventSignupRequest};
use pactum_core::keyfile::{KeySource, load};
use pactum_core::staff::{Role, Staff};
use pactum_core::{Clock, CoreError, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, Lang, parse_policy};
use pactum_store::{Backend, EnrolmentId, EventId, SessionId, StaffId};
use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;
use time::macros::{date, datetime};

/// A certification course ending on a leap day, a partner-run course, and an event with a
/// co-organiser and a sponsor.
const CATALOGUE: &str = r#"
[[course]]
slug = "prince2-foundation"
title = { da = "PRINCE2® Foundation", en = "PRINCE2® Foundation" }
summary = { da = "Tre dage.", en = "Three days." }
certification = true

[[course.session]]
code = "P2F-2028-02"
starts_on = 2028-02-27
ends_on = 2028-02-29
location = "København"
language = "da"
price_dkk = 14950
seats = 10
instructor = "ida"

[[course]]
slug = "agil"
title = { da = "Agil", en = "Agile" }
summary = { da = "To dage.", en = "Two days." }
delivered_by = "course_partner"

[[course.session]]
code = "AGIL-2028-02"
starts_on = 2028-02-27
ends_on = 2028-02-28
location = "Aarhus"
language = "da"
price_dkk = 9950
seats = 10

[[event]]
slug = "dagen"
title = { da = "Dagen", en = "The day" }
summary = { da = "En dag.", en = "A day." }
starts_on = 2028-02-20
ends_on = 2028-02-20
location = "Odense"
co_organiser = "co_organiser"
sponsor = "sponsor"
seats = 100
"#;

struct World<B: Backend> {
    p: Pactum<B, ManualClock>,
    clock: ManualClock,
    prince: SessionId,
    agile: SessionId,
    event: EventId,
}

async fn start<B: Backend>(backend: B, dir: &std::path::Path) -> World<B> {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true }).unwrap();
    let clock = ManualClock::at(datetime!(2028-02-01 10:00 UTC));
    let p = Pactum::start(backend, ring, policy, clock.clone(), Settings::default()).await.unwrap();
    p.invite_staff("test", "ida", Role::Instructor).await.unwrap();
    p.invite_staff("test", "ole", Role::Instructor).await.unwrap();
    p.import_catalogue(CATALOGUE, "test").await.unwrap();
    let prince = p.course_listing("prince2-foundation").await.unwrap().unwrap().sessions[0].session.id;
    let agile = p.course_listing("agil").await.unwrap().unwrap().sessions[0].session.id;
    let event = p.event_listings().await.unwrap()[0].0.id;
    World { p, clock, prince, agile, event }
}

async fn sqlite(dir: &std::path::Path) -> World<SqliteBackend> {
    let backend = SqliteBackend::connect(&format!("sqlite://{}", dir.join("pactum.db").display())).await.unwrap();
    start(backend, dir).await
}

async fn postgres(dir: &std::path::Path) -> Option<World<PgBackend>> {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return None;
    };
    let (backend, _) = PgBackend::connect_to_new_schema(&url, "pactum_test").await.expect("PostgreSQL reachable");
    Some(start(backend, dir).await)
}

fn staff(username: &str, role: Role) -> Staff {
    Staff { id: StaffId::new(), username: username.into(), role, session_hash: vec![0; 32] }
}

async fn enrol<B: Backend>(
    w: &World<B>,
    session: SessionId,
    name: &str,
    email: &str,
    certification: bool,
) -> EnrolmentId {
    w.p.enrol(EnrolmentRequest {
        session,
        values: vec![("name".into(), name.into()), ("email".into(), email.into()), ("title".into(), "Leder".into())],
        certification,
        newsletter: false,
        lang: Lang::Da,
        method: "form:course_enrolment".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    })
    .await
    .unwrap()
    .enrolment
}

/// Signs `name` up for the event, with the sponsor box as given.
async fn sign_up<B: Backend>(w: &World<B>, name: &str, email: &str, sponsor: bool) {
    w.p.sign_up_for_event(EventSignupRequest {
        event: w.event.0,
        values: vec![("name".into(), name.into()), ("email".into(), email.into())],
        sponsor_sharing: sponsor,
        newsletter: false,
        lang: Lang::Da,
        method: "form:event_signup".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    })
    .await
    .unwrap();
}

fn disclosure(recipient: &str, purpose: &str, scope: Scope) -> DisclosureRequest {
    DisclosureRequest {
        recipient: recipient.into(),
        purpose: purpose.into(),
        scope,
        statute: None,
        actor: "staff:test".into(),
    }
}

async fn refused_audits<B: Backend>(p: &Pactum<B, ManualClock>) -> Vec<String> {
    let backend = p.store.backend();
    let mut out = Vec::new();
    for head in backend.audit_heads().await.unwrap() {
        for e in backend.audit_entries(&head.chain, 0, 100_000).await.unwrap() {
            if e.action == "disclosure.refused" {
                out.push(e.details);
            }
        }
    }
    out
}

async fn disclosures_deny_by_default<B: Backend>(w: World<B>) {
    let anna = enrol(&w, w.agile, "Anna Andersen", "anna@eksempel.dk", false).await;
    let _bo = enrol(&w, w.prince, "Bo Bæk", "bo@eksempel.dk", false).await;

    // P08: the partner that delivers the course gets its roster, with exactly the categories both
    // the recipient and the purpose declare; the ledger names recipient, basis, categories, time.
    let export = w.p.disclose(disclosure("course_partner", "course_enrolment", Scope::Session(w.agile))).await.unwrap();
    assert_eq!(export.categories, vec!["name", "email", "phone", "title", "company"]);
    assert_eq!(export.rows.len(), 1);
    assert_eq!(export.rows[0].reference, anna.to_string());
    let csv = export.to_csv();
    assert!(csv.starts_with("\"reference\",\"name\",\"email\",\"phone\",\"title\",\"company\"\r\n"), "{csv}");
    assert!(
        csv.contains(&format!("\"{anna}\",\"Anna Andersen\",\"anna@eksempel.dk\",\"\",\"Leder\",\"\"\r\n")),
        "{csv}"
    );
    let subject = w.p.store.backend().enrolments_of(w.agile.0).await.unwrap()[0].subject;
    let ledger = w.p.store.backend().disclosures_of(subject).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].recipient.as_str(), ledger[0].basis.as_str()), ("course_partner", "contract"));
    assert_eq!(ledger[0].categories, export.categories);

    // P10: a partner that does not deliver this course, an unregistered recipient, and a recipient
    // registered for another purpose are refused, audited, and leave no ledger entry.
    let cases = [
        (
            disclosure("course_partner", "course_enrolment", Scope::Session(w.prince)),
            "has no part in this course session",
        ),
        (disclosure("unknown_partner", "course_enrolment", Scope::Session(w.agile)), "registers no recipient"),
        (disclosure("sponsor", "course_enrolment", Scope::Session(w.agile)), "does not register `sponsor`"),
        (disclosure("marketing_partner", "marketing_cookies", Scope::Session(w.agile)), "does not disclose data"),
    ];
    for (request, expected) in cases {
        let Err(CoreError::Refused(refusal)) = w.p.disclose(request).await else { panic!("refused: {expected}") };
        assert!(refusal.to_string().contains(expected), "{refusal}");
        assert!(refusal.describe(Lang::Da).starts_with("Afvist: "));
    }
    assert_eq!(refused_audits(&w.p).await.len(), 4);
    assert_eq!(w.p.store.backend().disclosures_of(subject).await.unwrap().len(), 1, "nothing more was disclosed");

    // P09, C3: the co-organiser gets every attendee; the sponsor only those who ticked its box.
    for (name, email, sponsor) in [("Cai", "cai@eksempel.dk", true), ("Dea", "dea@eksempel.dk", false)] {
        sign_up(&w, name, email, sponsor).await;
    }
    let co = w.p.disclose(disclosure("co_organiser", "event_signup", Scope::Event(w.event))).await.unwrap();
    assert_eq!(co.rows.len(), 2);
    let sponsor = w.p.disclose(disclosure("sponsor", "event_sponsor_sharing", Scope::Event(w.event))).await.unwrap();
    assert_eq!(sponsor.rows.len(), 1);
    assert!(sponsor.to_csv().contains("Cai") && !sponsor.to_csv().contains("Dea"), "C3: only the one who ticked");
    assert_eq!(sponsor.basis, "consent");

    // P13: the certification partner gets nobody who did not opt in (Bo did not).
    let cert =
        w.p.disclose(disclosure("certification_partner", "certification", Scope::Session(w.prince))).await.unwrap();
    assert!(cert.rows.is_empty());
}

#[tokio::test]
async fn p10_disclosures_are_deny_by_default_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    disclosures_deny_by_default(sqlite(dir.path()).await).await;
}

#[tokio::test]
async fn p10_disclosures_are_deny_by_default_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(w) = postgres(dir.path()).await {
        disclosures_deny_by_default(w).await;
    }
}

#[tokio::test]
async fn l10_a_transfer_outside_the_eea_needs_a_safeguard() {
    // The policy check refuses such a recipient outright…
    let text = BUNDLED_POLICY.replace("country = \"GB\"\nsafeguard = \"adequacy\"\n", "country = \"IN\"\n");
    assert_ne!(text, BUNDLED_POLICY);
    let errors = parse_policy("metier.toml", &text).unwrap_err().to_string();
    assert!(errors.contains("outside the EEA (IN) but has no transfer safeguard"), "{errors}");
    // …and the disclosure itself checks again, should a policy ever get past that check.
    let mut policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let partner = policy.recipients.iter_mut().find(|r| r.key == "certification_partner").unwrap();
    partner.country = "IN".into();
    partner.safeguard = None;
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("pactum.db").display())).await.unwrap();
    let ring = load(KeySource::File { path: dir.path().join("master.key"), may_create: true }).unwrap();
    let clock = ManualClock::at(datetime!(2028-02-01 10:00 UTC));
    let p = Pactum::start(backend, ring, policy, clock, Settings::default()).await.unwrap();
    p.invite_staff("test", "ida", Role::Instructor).await.unwrap();
    p.import_catalogue(CATALOGUE, "test").await.unwrap();
    let prince = p.course_listing("prince2-foundation").await.unwrap().unwrap().sessions[0].session.id;
    let Err(CoreError::Refused(Refusal::NoSafeguard { country, .. })) =
        p.disclose(disclosure("certification_partner", "certification", Scope::Session(prince))).await
    else {
        panic!("refused without a safeguard")
    };
    assert_eq!(country, "IN");
    assert_eq!(refused_audits(&p).await.len(), 1, "the refusal is audited");
}

async fn authority_needs_statute<B: Backend>(w: World<B>) {
    let placed =
        w.p.place_order(pactum_core::orders::OrderRequest {
            session: w.prince,
            buyer_kind: pactum_core::orders::BuyerKind::Person,
            buyer: vec![
                ("name".into(), "Eva Eriksen".into()),
                ("email".into(), "eva@eksempel.dk".into()),
                ("address".into(), "Vestergade 1\n8000 Aarhus C".into()),
            ],
            cvr: None,
            purchase_order: None,
            participants: vec![vec![("name".into(), "Eva Eriksen".into()), ("email".into(), "eva@eksempel.dk".into())]],
            lang: Lang::Da,
            method: "form:order".into(),
            notice_version: "2026.1".into(),
            repeat_key: None,
        })
        .await
        .unwrap();
    let invoice = w.p.store.backend().invoices_of_order(placed.order).await.unwrap()[0].id;
    let Err(CoreError::Refused(Refusal::StatuteRequired)) =
        w.p.disclose(disclosure("tax_authority", "bookkeeping", Scope::Invoice(invoice))).await
    else {
        panic!("P12: no statute, no disclosure")
    };
    let mut request = disclosure("tax_authority", "bookkeeping", Scope::Invoice(invoice));
    request.statute = Some("Skattekontrolloven § 50, anmodning j.nr. 26-1234567".into());
    let export = w.p.disclose(request).await.unwrap();
    assert_eq!(export.rows.len(), 1);
    assert_eq!(export.categories, vec!["name", "address", "company", "order"]);
    let ledger = w.p.store.backend().disclosures_of(placed.buyer).await.unwrap();
    assert_eq!(ledger[0].statute.as_deref(), Some("Skattekontrolloven § 50, anmodning j.nr. 26-1234567"));
    assert_eq!(ledger[0].basis, "legal_obligation");
}

#[tokio::test]
async fn p12_an_authority_disclosure_cites_its_statute_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    authority_needs_statute(sqlite(dir.path()).await).await;
}

#[tokio::test]
async fn p12_an_authority_disclosure_cites_its_statute_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(w) = postgres(dir.path()).await {
        authority_needs_statute(w).await;
    }
}

/// A sign-up under an address Pactum knows, with another name, changes neither what the partner of
/// the person's earlier course receives nor that course's roster: each sign-up keeps the values given
/// for it (P08, P30). A correction by the person applies everywhere.
async fn each_sign_up_keeps_its_own_values<B: Backend>(w: World<B>) {
    let admin = staff("admin", Role::Admin);
    let ida = staff("ida", Role::Instructor);
    enrol(&w, w.agile, "Anna Andersen", "anna@eksempel.dk", false).await;
    enrol(&w, w.prince, "Mallory", "anna@eksempel.dk", true).await;
    let names =
        |roster: pactum_core::roster::Roster| -> Vec<String> { roster.entries.into_iter().map(|e| e.name).collect() };
    assert_eq!(names(w.p.session_roster(&admin, w.agile).await.unwrap()), ["Anna Andersen"]);
    assert_eq!(names(w.p.session_roster(&ida, w.prince).await.unwrap()), ["Mallory"]);

    let partner =
        w.p.disclose(disclosure("course_partner", "course_enrolment", Scope::Session(w.agile))).await.unwrap();
    assert_eq!(partner.rows.len(), 1);
    assert_eq!(partner.rows[0].values[0], ("name".to_string(), "Anna Andersen".to_string()));
    // The certification partner receives what was given for the enrolment it certifies.
    let certification =
        w.p.disclose(disclosure("certification_partner", "certification", Scope::Session(w.prince))).await.unwrap();
    assert_eq!(certification.rows[0].values[0], ("name".to_string(), "Mallory".to_string()));

    // What one sign-up gave reaches neither another sign-up's recipients nor its holds: the sponsor
    // of an event gets only what was given for the event, although the same address gave more for
    // a course later.
    sign_up(&w, "Bo Bæk", "bo@eksempel.dk", true).await;
    w.p.enrol(EnrolmentRequest {
        session: w.agile,
        values: vec![
            ("name".into(), "Bo Bæk".into()),
            ("email".into(), "bo@eksempel.dk".into()),
            ("company".into(), "Hemmelig A/S".into()),
            ("phone".into(), "12345678".into()),
        ],
        certification: false,
        newsletter: false,
        lang: Lang::Da,
        method: "api".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    })
    .await
    .unwrap();
    let sponsor = w.p.disclose(disclosure("sponsor", "event_sponsor_sharing", Scope::Event(w.event))).await.unwrap();
    let row = &sponsor.rows[0].values;
    assert!(row.iter().any(|(_, v)| v == "Bo Bæk"), "{row:?}");
    assert!(row.iter().all(|(_, v)| v != "Hemmelig A/S"), "the sponsor gets only the event's values: {row:?}");
    let partner =
        w.p.disclose(disclosure("course_partner", "course_enrolment", Scope::Session(w.agile))).await.unwrap();
    let bo = partner.rows.iter().find(|r| r.values.iter().any(|(_, v)| v == "Bo Bæk")).unwrap();
    assert!(bo.values.iter().any(|(_, v)| v == "Hemmelig A/S"), "the course's partner gets what was given for it");
    let subject = w.p.find_subject_by_email("bo@eksempel.dk").await.unwrap().unwrap();
    let report = w.p.subject_report(subject, Lang::En).await.unwrap();
    let company = report.items.iter().find(|i| i.value == "Hemmelig A/S").unwrap();
    let holders: Vec<&str> = company.held_by.iter().map(|h| h.purpose.as_str()).collect();
    assert_eq!(holders, ["course_enrolment"], "held by the enrolment it was given for, and nothing else");
    let receivers: Vec<&str> = company.received_by.iter().map(|r| r.recipient_name.as_str()).collect();
    assert_eq!(receivers, ["Eksempel Kursuspartner ApS (eksempelværdi)"], "received by the course's partner only");

    // One person, both names, until the person corrects it: then the correction is what is shown.
    let subject = w.p.find_subject_by_email("anna@eksempel.dk").await.unwrap().unwrap();
    w.p.rectify(subject, &[("name".into(), "Anna B. Andersen".into())], Lang::Da).await.unwrap();
    assert_eq!(names(w.p.session_roster(&admin, w.agile).await.unwrap()), ["Anna B. Andersen", "Bo Bæk"]);
    assert_eq!(names(w.p.session_roster(&ida, w.prince).await.unwrap()), ["Anna B. Andersen"]);
}

#[tokio::test]
async fn p08_each_sign_up_keeps_its_own_values_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    each_sign_up_keeps_its_own_values(sqlite(dir.path()).await).await;
}

#[tokio::test]
async fn p08_each_sign_up_keeps_its_own_values_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(w) = postgres(dir.path()).await {
        each_sign_up_keeps_its_own_values(w).await;
    }
}

fn message(session: SessionId, enrolment: EnrolmentId, kind: MessageKind, subject: &str) -> PartnerMessage {
    PartnerMessage {
        session,
        enrolment,
        kind,
        subject_line: subject.into(),
        body: "Kandidat registreret til eksamen kl. 13.00.".into(),
        actor: "token:test".into(),
    }
}

async fn certification_lifecycle<B: Backend>(w: World<B>) {
    let karen = enrol(&w, w.prince, "Karen Kjær", "karen@eksempel.dk", true).await;
    let lars = enrol(&w, w.prince, "Lars Lund", "lars@eksempel.dk", false).await;
    let backend = w.p.store.backend();

    // P13: the partner gets only the participant who opted in, with name and e-mail only.
    let export =
        w.p.disclose(disclosure("certification_partner", "certification", Scope::Session(w.prince))).await.unwrap();
    assert_eq!(export.categories, vec!["name", "email"]);
    assert_eq!(export.rows.len(), 1);
    assert_eq!(export.rows[0].reference, karen.to_string());

    // The partner cannot send messages about someone who did not choose certification.
    let refused =
        w.p.receive_certification_message(message(w.prince, lars, MessageKind::Registration, "Registrering")).await;
    assert!(matches!(refused, Err(CoreError::CertificationNotChosen)), "{refused:?}");
    // Bad input is named, and nothing is stored.
    let mut bad = message(w.prince, karen, MessageKind::Registration, " ");
    bad.body = "x".repeat(20_001);
    let Err(CoreError::Invalid(errors)) = w.p.receive_certification_message(bad).await else { panic!("invalid") };
    assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["subject", "body"]);

    let registration =
        w.p.receive_certification_message(message(w.prince, karen, MessageKind::Registration, "Registrering: PRINCE2"))
            .await
            .unwrap();
    w.clock.set(datetime!(2028-02-29 16:00 UTC));
    let result =
        w.p.receive_certification_message(message(w.prince, karen, MessageKind::Result { passed: true }, "Resultat"))
            .await
            .unwrap();

    // P15: only the session's assigned instructor reads them; everyone else is refused.
    let ida = staff("ida", Role::Instructor);
    let opened = w.p.certification_messages_for(&ida, w.prince).await.unwrap();
    assert_eq!(opened.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), vec!["registration", "result"]);
    assert_eq!(opened[0].subject_line, "Registrering: PRINCE2");
    assert_eq!(opened[0].participant, "Karen Kjær");
    for other in [
        staff("ole", Role::Instructor),
        staff("root", Role::Admin),
        staff("kim", Role::Coordinator),
        staff("d", Role::Dpo),
    ] {
        assert!(matches!(w.p.certification_messages_for(&other, w.prince).await, Err(CoreError::Forbidden)));
        assert!(matches!(w.p.certification_message_for(&other, registration).await, Err(CoreError::Forbidden)));
    }

    // P17: the participation record holds the course, its end date and passed yes/no.
    let subject = backend.enrolments_of(w.prince.0).await.unwrap().into_iter().find(|e| e.id == karen).unwrap().subject;
    let records = w.p.participations(subject).await.unwrap();
    assert_eq!(records.len(), 1);
    let (record, passed) = &records[0];
    assert!(*passed);
    assert_eq!(record.ends_on, date!(2028 - 02 - 29));
    assert_eq!(record.course, w.p.course_listing("prince2-foundation").await.unwrap().unwrap().course.id);
    // P18 with a leap day: five years after 29 February 2028 is 28 February 2033.
    let purposes = backend.purposes_of(subject).await.unwrap();
    let kept = purposes.iter().find(|p| p.purpose == "certification_record").unwrap();
    assert_eq!(kept.retain_until, Some(date!(2033 - 02 - 28)));
    let proctoring = purposes.iter().find(|p| p.purpose == "exam_proctoring").unwrap();
    assert_eq!(proctoring.retain_until, Some(date!(2028 - 02 - 29)));

    // The forecast names what the sweep will delete, and the sweep deletes exactly that.
    let forecast = w.p.run_retention(date!(2028 - 03 - 01), true).await.unwrap();
    assert_eq!(forecast.records_deleted.get("certification_message"), Some(&2));

    // P16: on the course's last day the messages are still there; the first sweep after it
    // (within the day, as serve runs it hourly) deletes both, each with its own deletion proof.
    w.p.run_retention(date!(2028 - 02 - 29), false).await.unwrap();
    assert_eq!(w.p.certification_messages_for(&ida, w.prince).await.unwrap().len(), 2);
    w.clock.set(datetime!(2028-03-01 00:30 UTC));
    let swept = w.p.run_retention(w.clock.today(), false).await.unwrap();
    assert_eq!(swept.records_deleted, forecast.records_deleted);
    for id in [registration, result] {
        assert!(matches!(w.p.certification_message_for(&ida, id).await, Err(CoreError::UnknownMessage)));
    }
    assert!(w.p.certification_messages_for(&ida, w.prince).await.unwrap().is_empty());
    let proofs = backend.deletion_proofs_of(&subject.to_string()).await.unwrap();
    assert_eq!(proofs.iter().filter(|p| p.record_class == "certification_message").count(), 2);
    assert!(proofs.iter().all(|p| p.record_class != "participation"));
    assert_eq!(w.p.participations(subject).await.unwrap().len(), 1, "the record outlives the messages");

    // P18: the record lives through 28 February 2033 and is gone the day after, with a proof.
    w.clock.set(datetime!(2033-02-28 12:00 UTC));
    w.p.run_retention(w.clock.today(), false).await.unwrap();
    assert_eq!(w.p.participations(subject).await.unwrap().len(), 1);
    w.clock.set(datetime!(2033-03-01 00:30 UTC));
    w.p.run_retention(w.clock.today(), false).await.unwrap();
    assert!(backend.participations_of(subject).await.unwrap().is_empty());
    assert!(backend.subject_key(subject).await.unwrap().is_none(), "nothing else held the person: key shredded");
    let proofs = backend.deletion_proofs_of(&subject.to_string()).await.unwrap();
    assert_eq!(proofs.iter().filter(|p| p.record_class == "participation").count(), 1);
}

#[tokio::test]
async fn p15_p16_p17_p18_certification_messages_and_record_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    certification_lifecycle(sqlite(dir.path()).await).await;
}

#[tokio::test]
async fn p15_p16_p17_p18_certification_messages_and_record_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(w) = postgres(dir.path()).await {
        certification_lifecycle(w).await;
    }
}
