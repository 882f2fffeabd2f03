//! The catalogue and enrolment: P01, P07, P08, P09, P10, P13, P18, C3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_core::enrolment::{EnrolmentRequest, EventSignupRequest};
use pactum_core::keyfile::{KeySource, load};
use pactum_core::mail::{SmtpMailer, SmtpSettings, deliver_due_mail};
use pactum_core::newsletter::SubscribeOutcome;
use pactum_core::{CoreError, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, EXAMPLE_CATALOGUE, Lang, parse_policy};
use pactum_store::{Backend, ConsentState};
use pactum_store_sqlite::SqliteBackend;
use pactum_testkit::SmtpServer;
use time::macros::{date, datetime};

async fn pactum(dir: &std::path::Path) -> Pactum<SqliteBackend, ManualClock> {
    let backend = SqliteBackend::connect(&format!("sqlite://{}", dir.join("pactum.db").display())).await.unwrap();
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true }).unwrap();
    let p = Pactum::start(backend, ring, policy, ManualClock::at(datetime!(2026-11-25 10:00 UTC)), Settings::default())
        .await
        .unwrap();
    p.import_catalogue(EXAMPLE_CATALOGUE, "test").await.unwrap();
    p
}

fn values(email: &str) -> Vec<(String, String)> {
    vec![
        ("name".into(), "Sofie Sørensen".into()),
        ("email".into(), email.into()),
        ("company".into(), "Eksempel A/S".into()),
    ]
}

async fn first_session(p: &Pactum<SqliteBackend, ManualClock>, slug: &str) -> pactum_store::SessionId {
    p.course_listing(slug).await.unwrap().unwrap().sessions[0].session.id
}

fn request(session: pactum_store::SessionId, email: &str, certification: bool, newsletter: bool) -> EnrolmentRequest {
    EnrolmentRequest {
        session,
        values: values(email),
        certification,
        newsletter,
        lang: Lang::Da,
        method: "form:course_enrolment".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    }
}

#[tokio::test]
async fn the_example_catalogue_imports_repeatably() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let summary = p.import_catalogue(EXAMPLE_CATALOGUE, "test").await.unwrap();
    assert_eq!((summary.courses, summary.sessions, summary.events), (2, 3, 1));
    let listings = p.course_listings().await.unwrap();
    assert_eq!(listings.len(), 2, "importing twice updates, it does not duplicate");
    let prince = listings.iter().find(|l| l.course.slug == "prince2-foundation").unwrap();
    assert_eq!(prince.sessions.len(), 2);
    assert_eq!(prince.sessions[0].seats_left, 16);
    assert_eq!(p.event_listings().await.unwrap().len(), 1);
}

#[tokio::test]
async fn p10_a_catalogue_may_only_name_registered_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let bad = EXAMPLE_CATALOGUE
        .replace("delivered_by = \"course_partner\"", "delivered_by = \"unknown_partner\"")
        .replace("sponsor = \"sponsor\"", "sponsor = \"co_organiser\"");
    let Err(CoreError::Catalogue(errors)) = p.import_catalogue(&bad, "test").await else { panic!("refused") };
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("`unknown_partner`, which the policy does not register"));
    assert!(errors[1].contains("registers as co-organiser rather than sponsor"));
}

#[tokio::test]
async fn p18_enrolment_holds_data_until_the_course_ends_and_certification_only_when_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let session = first_session(&p, "prince2-foundation").await;
    let plain = p.enrol(request(session, "plain@eksempel.dk", false, false)).await.unwrap();
    assert_eq!(plain.newsletter, None);
    let subject = p.find_subject_by_email("plain@eksempel.dk").await.unwrap().unwrap();
    let purposes = p.store.backend().purposes_of(subject).await.unwrap();
    assert_eq!(purposes.len(), 1);
    assert_eq!(purposes[0].purpose, "course_enrolment");
    assert_eq!(purposes[0].retain_until, Some(date!(2027 - 04 - 11)), "30 days after the course ends on 12 March");
    assert!(p.store.backend().consents_of(subject).await.unwrap().is_empty(), "P07: unticked means no consent record");

    p.enrol(request(session, "cert@eksempel.dk", true, true)).await.unwrap();
    let subject = p.find_subject_by_email("cert@eksempel.dk").await.unwrap().unwrap();
    let purposes = p.store.backend().purposes_of(subject).await.unwrap();
    let names: Vec<&str> = purposes.iter().map(|p| p.purpose.as_str()).collect();
    assert_eq!(names, vec!["course_enrolment", "certification", "newsletter"]);
    let certification = purposes.iter().find(|x| x.purpose == "certification").unwrap();
    assert_eq!(certification.retain_until, Some(date!(2027 - 03 - 12)));
    let consents = p.store.backend().consents_of(subject).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].state, ConsentState::Pending, "the newsletter box starts a double opt-in");
    let enrolments = p.store.backend().enrolments_of(session.0).await.unwrap();
    assert_eq!(enrolments.len(), 2);
    assert!(enrolments[0].certification.is_none() && enrolments[1].certification.is_some());

    // A course without certification refuses the box: see
    // p13_c3_an_option_the_activity_does_not_offer_is_refused_and_nothing_is_stored.
}

#[tokio::test]
async fn p01_undeclared_fields_are_refused_and_a_full_session_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let session = first_session(&p, "agil-projektledelse").await;
    let mut with_diet = request(session, "x@eksempel.dk", false, false);
    with_diet.values.push(("allergies".into(), "nuts".into()));
    let Err(CoreError::Invalid(errors)) = p.enrol(with_diet).await else { panic!("refused") };
    assert_eq!(errors[0].field, "allergies");
    for n in 0..12 {
        p.enrol(request(session, &format!("p{n}@eksempel.dk"), false, false)).await.unwrap();
    }
    assert!(matches!(p.enrol(request(session, "late@eksempel.dk", false, false)).await, Err(CoreError::Full)));
    assert_eq!(p.find_subject_by_email("late@eksempel.dk").await.unwrap(), None);
}

#[tokio::test]
async fn c3_only_a_ticked_sponsor_box_records_a_sponsor_consent() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let event = p.event_listings().await.unwrap()[0].0.id.0;
    let signup = |email: &str, sponsor: bool| EventSignupRequest {
        event,
        values: values(email),
        sponsor_sharing: sponsor,
        newsletter: false,
        lang: Lang::En,
        method: "form:event_signup".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    };
    p.sign_up_for_event(signup("yes@eksempel.dk", true)).await.unwrap();
    p.sign_up_for_event(signup("no@eksempel.dk", false)).await.unwrap();
    let yes = p.find_subject_by_email("yes@eksempel.dk").await.unwrap().unwrap();
    let no = p.find_subject_by_email("no@eksempel.dk").await.unwrap().unwrap();
    let consents = p.store.backend().consents_of(yes).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!((consents[0].purpose.as_str(), consents[0].state), ("event_sponsor_sharing", ConsentState::Active));
    assert!(consents[0].text.starts_with("Yes, you may pass my name"));
    assert!(p.store.backend().consents_of(no).await.unwrap().is_empty());
    let roster = p.store.backend().enrolments_of(event).await.unwrap();
    assert_eq!(roster.iter().filter(|e| e.sponsor_consent.is_some()).count(), 1);
}

#[tokio::test]
async fn p13_c3_an_option_the_activity_does_not_offer_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    // agil-projektledelse offers no certification: asking for it is a 400-class error naming the
    // option, not an enrolment without the certification the person thinks they chose.
    let session = first_session(&p, "agil-projektledelse").await;
    let Err(CoreError::Invalid(errors)) = p.enrol(request(session, "cert@eksempel.dk", true, false)).await else {
        panic!("refused")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "certification");
    assert!(errors[0].message(Lang::En).contains("is not offered here"), "{}", errors[0].message(Lang::En));
    assert!(errors[0].message(Lang::Da).contains("tilbydes ikke her"));
    assert_eq!(p.find_subject_by_email("cert@eksempel.dk").await.unwrap(), None, "nothing stored");
    assert_eq!(p.course_listing("agil-projektledelse").await.unwrap().unwrap().sessions[0].seats_left, 12);

    // An event without a sponsor: the sponsor box cannot be ticked there.
    let without_sponsor = EXAMPLE_CATALOGUE.replace("sponsor = \"sponsor\"\n", "");
    p.import_catalogue(&without_sponsor, "test").await.unwrap();
    let event = p.event_listings().await.unwrap()[0].0.clone();
    assert!(event.sponsor.is_none());
    let signup = EventSignupRequest {
        event: event.id.0,
        values: values("sponsor@eksempel.dk"),
        sponsor_sharing: true,
        newsletter: false,
        lang: Lang::En,
        method: "api".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    };
    let Err(CoreError::Invalid(errors)) = p.sign_up_for_event(signup.clone()).await else { panic!("refused") };
    assert_eq!(errors[0].field, "sponsor_sharing");
    assert_eq!(p.find_subject_by_email("sponsor@eksempel.dk").await.unwrap(), None, "nothing stored");
    p.sign_up_for_event(EventSignupRequest { sponsor_sharing: false, ..signup }).await.unwrap();
}

#[tokio::test]
async fn a_catalogue_with_repeated_codes_or_bad_values_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let bad = EXAMPLE_CATALOGUE
        .replace("code = \"P2F-2027-05-ONLINE\"", "code = \"P2F-2027-03-KBH\"")
        .replace("language = \"en\"", "language = \"klingon\"")
        .replace("ends_on = 2027-04-21", "ends_on = 2027-04-21T10:00:00")
        .replace("price_dkk = 14950", "price_dkk = 99999999999999999");
    let Err(CoreError::Catalogue(errors)) = p.import_catalogue(&bad, "test").await else { panic!("refused") };
    let text = errors.join("\n");
    assert!(text.contains("the code is used twice"), "{text}");
    assert!(text.contains("`language` must be \"da\" or \"en\""), "{text}");
    assert!(text.contains("ends_on must be a date"), "{text}");
    assert!(!text.contains("ends before it starts"), "an invalid date is reported once: {text}");
    assert!(text.contains("`price_dkk` is at most 10000000 (kroner per seat), not 99999999999999999"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_sent_twice_under_one_key_is_made_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let session = first_session(&p, "prince2-foundation").await;
    let keyed = |email: &str, key: &str| EnrolmentRequest {
        repeat_key: Some(key.into()),
        ..request(session, email, true, true)
    };
    let first = p.enrol(keyed("dobbelt@eksempel.dk", "k1")).await.unwrap();
    assert!(matches!(first.newsletter, Some(SubscribeOutcome::ConfirmationSent { .. })));
    let again = p.enrol(keyed("dobbelt@eksempel.dk", "k1")).await.unwrap();
    assert_eq!(again.enrolment, first.enrolment, "the same enrolment, answered again");
    assert_eq!(again.newsletter, Some(SubscribeOutcome::Repeated), "and no second confirmation mail");
    let subject = p.find_subject_by_email("dobbelt@eksempel.dk").await.unwrap().unwrap();
    let backend = p.store.backend();
    assert_eq!(backend.enrolments_of(session.0).await.unwrap().len(), 1);
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 1);
    assert_eq!(backend.consents_of(subject).await.unwrap().len(), 1);
    let purposes = backend.purposes_of(subject).await.unwrap();
    assert_eq!(purposes.iter().filter(|x| x.purpose == "course_enrolment").count(), 1);

    // The same key for someone else's sign-up (a form sent back and filled in anew): refused.
    let other = p.enrol(keyed("kollega@eksempel.dk", "k1")).await;
    assert!(matches!(other, Err(CoreError::KeyReused)), "{other:?}");
    assert_eq!(p.find_subject_by_email("kollega@eksempel.dk").await.unwrap(), None, "nothing stored");

    // Two copies at the same moment, as a double click sends them: one enrolment.
    let twins: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            let request = EnrolmentRequest {
                repeat_key: Some("k2".into()),
                ..request(session, "tvilling@eksempel.dk", false, false)
            };
            tokio::spawn(async move { p.enrol(request).await })
        })
        .collect();
    let mut ids = Vec::new();
    for twin in twins {
        ids.push(twin.await.unwrap().unwrap().enrolment);
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 2);

    // An event sign-up alike.
    let event = p.event_listings().await.unwrap()[0].0.id.0;
    let signup = EventSignupRequest {
        event,
        values: values("gaest@eksempel.dk"),
        sponsor_sharing: false,
        newsletter: false,
        lang: Lang::Da,
        method: "form:event_signup".into(),
        notice_version: "2026.1".into(),
        repeat_key: Some("k3".into()),
    };
    let first = p.sign_up_for_event(signup.clone()).await.unwrap();
    assert_eq!(p.sign_up_for_event(signup).await.unwrap().enrolment, first.enrolment);
    assert_eq!(backend.enrolments_of(event).await.unwrap().len(), 1);
}

/// Someone already enrolled who is enrolled again (a second visit to the form, or someone else
/// typing their address): the enrolment they hold answers it, with no second seat, nothing of the
/// new request stored and no option it ticked added; the answer is the one anyone gets, full
/// sessions included, so it tells nobody who is enrolled.
#[tokio::test]
async fn a_person_already_enrolled_takes_no_second_seat_and_nothing_of_the_repeat_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let backend = p.store.backend();
    let session = first_session(&p, "agil-projektledelse").await;
    let first = p.enrol(request(session, "igen@eksempel.dk", false, false)).await.unwrap();
    let subject = p.find_subject_by_email("igen@eksempel.dk").await.unwrap().unwrap();
    let items_before = backend.items_of(subject).await.unwrap();

    let mut repeat = request(session, "igen@eksempel.dk", false, false);
    repeat.values[0].1 = "Mallory".into();
    let again = p.enrol(repeat).await.unwrap();
    assert_eq!(again.enrolment, first.enrolment, "answered by the enrolment held");
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 1, "no second seat");
    // The address is told, so its owner learns of a sign-up someone else made with it.
    let smtp = SmtpServer::start().await.unwrap();
    let mailer = SmtpMailer::new(&SmtpSettings::plain("127.0.0.1", smtp.port)).unwrap();
    assert_eq!(deliver_due_mail(&p, &mailer).await.unwrap().delivered, 1);
    let mail = smtp.wait_for(1, std::time::Duration::from_secs(5)).await.remove(0);
    assert_eq!(mail.to, vec!["igen@eksempel.dk".to_string()]);
    assert!(mail.header("Subject").unwrap().contains("Du er allerede tilmeldt"), "{:?}", mail.header("Subject"));
    assert!(mail.body().contains("din tilmelding er uændret"), "{}", mail.body());
    assert!(!mail.body().contains("Mallory"), "nothing of the repeat is repeated back");
    assert_eq!(backend.enrolments_of(session.0).await.unwrap().len(), 1);
    assert_eq!(backend.items_of(subject).await.unwrap(), items_before, "no value of the repeat is stored");
    let purposes = backend.purposes_of(subject).await.unwrap();
    assert_eq!(purposes.iter().filter(|x| x.purpose == "course_enrolment").count(), 1);
    let mut repeated = 0;
    for head in backend.audit_heads().await.unwrap() {
        for e in backend.audit_entries(&head.chain, 0, 100_000).await.unwrap() {
            if e.action == "enrolment.repeated" {
                assert_eq!(e.subject_ref, Some(subject.to_string()));
                assert!(e.details.contains(&first.enrolment.to_string()), "{}", e.details);
                repeated += 1;
            }
        }
    }
    assert_eq!(repeated, 1, "the audit trail says what answered the repeat");
    // The newsletter box of a repeat is its own opt-in, with its own double opt-in mail.
    let with_newsletter = p.enrol(request(session, "igen@eksempel.dk", false, true)).await.unwrap();
    assert_eq!(with_newsletter.enrolment, first.enrolment);
    assert!(matches!(with_newsletter.newsletter, Some(SubscribeOutcome::ConfirmationSent { .. })));
    // Within the hour the address is not told again: a form sent over and over floods no inbox.
    assert_eq!(deliver_due_mail(&p, &mailer).await.unwrap().delivered, 1);
    let mails = smtp.wait_for(2, std::time::Duration::from_secs(5)).await;
    assert!(!mails[1].header("Subject").unwrap().contains("allerede"), "{:?}", mails[1].header("Subject"));

    // Another session of the same course is another enrolment.
    let other = p.course_listing("agil-projektledelse").await.unwrap().unwrap();
    if let Some(second) = other.sessions.get(1) {
        let elsewhere = p.enrol(request(second.session.id, "igen@eksempel.dk", false, false)).await.unwrap();
        assert_ne!(elsewhere.enrolment, first.enrolment);
    }

    // A full session is full for everyone, the person enrolled included.
    for n in 0..11 {
        p.enrol(request(session, &format!("p{n}@eksempel.dk"), false, false)).await.unwrap();
    }
    assert_eq!(backend.seats_taken(session.0).await.unwrap(), 12);
    assert!(matches!(p.enrol(request(session, "late@eksempel.dk", false, false)).await, Err(CoreError::Full)));
    assert!(matches!(p.enrol(request(session, "igen@eksempel.dk", false, false)).await, Err(CoreError::Full)));

    // An event sign-up alike, and the sponsor box of a repeat is not added to the sign-up held.
    let event = p.event_listings().await.unwrap()[0].0.id.0;
    let signup = |sponsor: bool| EventSignupRequest {
        event,
        values: values("igen@eksempel.dk"),
        sponsor_sharing: sponsor,
        newsletter: false,
        lang: Lang::Da,
        method: "form:event_signup".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    };
    let held = p.sign_up_for_event(signup(false)).await.unwrap();
    assert_eq!(p.sign_up_for_event(signup(true)).await.unwrap().enrolment, held.enrolment);
    assert_eq!(backend.seats_taken(event).await.unwrap(), 1);
    let signups = backend.enrolments_of(event).await.unwrap();
    assert_eq!((signups.len(), signups[0].sponsor_consent), (1, None));
    assert!(backend.consents_of(subject).await.unwrap().iter().all(|c| c.purpose != "event_sponsor_sharing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enrolments_never_take_more_seats_than_there_are() {
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path()).await;
    let session = first_session(&p, "agil-projektledelse").await;
    let attempts: Vec<_> = (0..40)
        .map(|n| {
            let p = p.clone();
            tokio::spawn(async move { p.enrol(request(session, &format!("rush{n}@eksempel.dk"), false, false)).await })
        })
        .collect();
    let mut enrolled = 0;
    let mut full = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => enrolled += 1,
            Err(CoreError::Full) => full += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((enrolled, full), (12, 28), "twelve seats, twelve enrolments, however the batches fall");
    assert_eq!(p.store.backend().seats_taken(session.0).await.unwrap(), 12);
    assert_eq!(p.store.backend().enrolments_of(session.0).await.unwrap().len(), 12);
}
