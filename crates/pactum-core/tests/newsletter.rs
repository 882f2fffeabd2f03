//! The newsletter's double opt-in, one-click unsubscribe and sending, with mail over real SMTP,
//! on both backends: P05, P07, P20, P21, P35, C2, C6, L3, L11, L12.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pactum_core::keyfile::{KeySource, load};
use pactum_core::mail::{SmtpMailer, SmtpSettings, deliver_due_mail};
use pactum_core::newsletter::{SubscribeOutcome, Subscription};
use pactum_core::personal::Collection;
use pactum_core::{CoreError, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, Lang, parse_policy};
use pactum_store::{Backend, ConsentState};
use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;
use pactum_testkit::{ReceivedMail, SmtpServer};
use time::macros::{date, datetime};

struct Env<B: Backend> {
    p: Pactum<B, ManualClock>,
    smtp: SmtpServer,
    mailer: SmtpMailer,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> Option<Env<SqliteBackend>> {
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("pactum.db").display())).await.unwrap();
    Some(start(backend, dir).await)
}

async fn postgres() -> Option<Env<PgBackend>> {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return None;
    };
    let (backend, _) = PgBackend::connect_to_new_schema(&url, "pactum_test").await.unwrap();
    Some(start(backend, tempfile::tempdir().unwrap()).await)
}

async fn start<B: Backend>(backend: B, dir: tempfile::TempDir) -> Env<B> {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.path().join("master.key"), may_create: true }).unwrap();
    let settings = Settings { public_url: "https://kurser.example".into(), ..Settings::default() };
    let p =
        Pactum::start(backend, ring, policy, ManualClock::at(datetime!(2026-11-25 10:00 UTC)), settings).await.unwrap();
    let smtp = SmtpServer::start().await.unwrap();
    let mailer = SmtpMailer::new(&SmtpSettings::plain("127.0.0.1", smtp.port)).unwrap();
    Env { p, smtp, mailer, _dir: dir }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend { $( #[tokio::test] async fn $name() { if let Some(env) = super::sqlite().await { super::$name(env).await } } )* }
        mod postgres_backend { $( #[tokio::test] async fn $name() { if let Some(env) = super::postgres().await { super::$name(env).await } } )* }
    };
}

on_both_backends!(
    p07_double_opt_in_by_mailed_link,
    an_expired_confirmation_link_is_refused,
    p03_a_changed_notice_is_shown_again_before_anything_is_stored,
    p21_c6_unsubscribe_takes_effect_at_once_and_says_what_is_kept,
    p05_l11_newsletters_go_to_active_subscriptions_only_with_one_click_headers,
    p20_a_newsletter_only_contact_is_gone_30_days_after_withdrawal_leaving_a_suppression_hash,
    p35_c2_a_marketing_objection_stops_marketing_at_once_even_a_newsletter_already_queued,
    l3_p35_an_open_objection_restricts_marketing_until_decided,
    l11_signing_up_twice_before_confirming_is_one_subscription_and_one_click_ends_it,
);

fn subscription(email: &str, lang: Lang) -> Subscription {
    Subscription {
        email: email.into(),
        name: Some("Ida Ibsen".into()),
        interests: Some("projektledelse".into()),
        lang,
        method: "form:newsletter".into(),
        notice_version: "2026.1".into(),
    }
}

async fn deliver<B: Backend>(env: &Env<B>, expected_total: usize) -> Vec<ReceivedMail> {
    deliver_due_mail(&env.p, &env.mailer).await.unwrap();
    env.smtp.wait_for(expected_total, Duration::from_secs(5)).await
}

/// The token at the end of the first line of the body containing `path`.
fn link(mail: &ReceivedMail, path: &str) -> String {
    let body = mail.body();
    let line = body.lines().find(|l| l.contains(path)).unwrap_or_else(|| panic!("no {path} link in {body}"));
    line.rsplit('/').next().unwrap().trim().to_string()
}

async fn p07_double_opt_in_by_mailed_link<B: Backend>(env: Env<B>) {
    let p = &env.p;
    let outcome = p.subscribe_newsletter(subscription("ida@eksempel.dk", Lang::Da)).await.unwrap();
    let SubscribeOutcome::ConfirmationSent { consent } = outcome else { panic!("a confirmation is sent") };
    let pending = p.store.backend().consent(consent).await.unwrap().unwrap();
    assert_eq!(pending.state, ConsentState::Pending);
    assert_eq!(
        pending.text,
        p.policy.purpose("newsletter").unwrap().consent_text.as_ref().unwrap().da,
        "L12: the exact text shown"
    );
    assert_eq!(pending.policy_version, "2026.1");
    let subject = pending.subject;
    let purpose = &p.store.backend().purposes_of(subject).await.unwrap()[0];
    assert_eq!(purpose.retain_until, Some(date!(2026 - 12 - 02)), "unconfirmed sign-ups are kept seven days");

    let mails = deliver(&env, 1).await;
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["ida@eksempel.dk".to_string()]);
    assert!(
        mail.header("Subject").unwrap().contains("din tilmelding til vores nyhedsmails"),
        "{:?}",
        mail.header("Subject")
    );
    let unsubscribe = mail.header("List-Unsubscribe").unwrap();
    assert!(unsubscribe.starts_with("<https://kurser.example/nyhedsbrev/afmeld/"), "{unsubscribe}");
    assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));

    let token = link(mail, "/nyhedsbrev/bekraeft/");
    let confirmed = p.confirm_consent(&token).await.unwrap();
    assert_eq!(confirmed.state, ConsentState::Active);
    assert_eq!(confirmed.confirmed_at, Some(p.clock_micros()));
    assert_eq!(
        p.store.backend().purposes_of(subject).await.unwrap()[0].retain_until,
        None,
        "held while the consent stands"
    );
    // The link works once; using it again changes nothing and is not an error.
    assert_eq!(p.confirm_consent(&token).await.unwrap().state, ConsentState::Active);
    assert!(matches!(p.confirm_consent("0000").await, Err(CoreError::InvalidLink)));
    // Signing up again sends nothing and says nothing different.
    assert_eq!(
        p.subscribe_newsletter(subscription("IDA@eksempel.dk", Lang::Da)).await.unwrap(),
        SubscribeOutcome::AlreadyActive
    );
    let audit = p.store.backend().audit_entries("main", 0, 1000).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "consent.grant"));
    assert!(audit.iter().all(|e| !e.details.contains("ida@")), "no address in the audit trail");
}

trait ClockMicros {
    fn clock_micros(&self) -> i64;
}

impl<B: Backend> ClockMicros for Pactum<B, ManualClock> {
    fn clock_micros(&self) -> i64 {
        pactum_core::Clock::now_micros(&self.clock)
    }
}

async fn an_expired_confirmation_link_is_refused<B: Backend>(env: Env<B>) {
    env.p.subscribe_newsletter(subscription("late@eksempel.dk", Lang::En)).await.unwrap();
    let mails = deliver(&env, 1).await;
    let token = link(&mails[0], "/en/newsletter/confirm/");
    env.p.clock.advance(time::Duration::days(8));
    assert!(matches!(env.p.confirm_consent(&token).await, Err(CoreError::LinkExpired)));
}

async fn p03_a_changed_notice_is_shown_again_before_anything_is_stored<B: Backend>(env: Env<B>) {
    let mut old = subscription("x@eksempel.dk", Lang::Da);
    old.notice_version = "2025.9".into();
    assert!(matches!(env.p.subscribe_newsletter(old).await, Err(CoreError::NoticeChanged)));
    assert_eq!(env.p.find_subject_by_email("x@eksempel.dk").await.unwrap(), None);
}

async fn p21_c6_unsubscribe_takes_effect_at_once_and_says_what_is_kept<B: Backend>(env: Env<B>) {
    let p = &env.p;
    p.collect(Collection {
        purpose: "course_enrolment".into(),
        values: vec![("name".into(), "Ida Ibsen".into()), ("email".into(), "ida@eksempel.dk".into())],
        source: "form:course_enrolment".into(),
        anchor_date: Some(date!(2027 - 03 - 15)),
        actor: "subject".into(),
    })
    .await
    .unwrap();
    p.subscribe_newsletter(subscription("ida@eksempel.dk", Lang::Da)).await.unwrap();
    let mails = deliver(&env, 1).await;
    p.confirm_consent(&link(&mails[0], "/nyhedsbrev/bekraeft/")).await.unwrap();
    let token =
        mails[0].header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).rsplit('/').next().unwrap().to_string();

    let withdrawal = p.unsubscribe(&token, "one-click").await.unwrap();
    assert!(withdrawal.newly);
    assert_eq!(withdrawal.retain_until, Some(date!(2026 - 12 - 25)), "P20: deleted 30 days after withdrawal");
    assert_eq!(withdrawal.kept.len(), 1);
    assert_eq!(
        (withdrawal.kept[0].purpose.as_str(), withdrawal.kept[0].basis.as_str()),
        ("course_enrolment", "contract")
    );
    let consent = p.store.backend().consent(withdrawal.consent).await.unwrap().unwrap();
    assert_eq!((consent.state, consent.withdraw_method.as_deref()), (ConsentState::Withdrawn, Some("one-click")));
    // Again: nothing new happens.
    assert!(!p.unsubscribe(&token, "one-click").await.unwrap().newly);
    assert!(matches!(p.unsubscribe("not-a-token", "one-click").await, Err(CoreError::InvalidLink)));
}

async fn p05_l11_newsletters_go_to_active_subscriptions_only_with_one_click_headers<B: Backend>(env: Env<B>) {
    let p = &env.p;
    for email in ["active@eksempel.dk", "pending@eksempel.dk", "gone@eksempel.dk"] {
        p.subscribe_newsletter(subscription(email, Lang::Da)).await.unwrap();
    }
    let confirmations = deliver(&env, 3).await;
    for mail in &confirmations {
        if mail.to[0] != "pending@eksempel.dk" {
            p.confirm_consent(&link(mail, "/nyhedsbrev/bekraeft/")).await.unwrap();
        }
    }
    let gone = confirmations.iter().find(|m| m.to[0] == "gone@eksempel.dk").unwrap();
    p.unsubscribe(&link(gone, "/nyhedsbrev/afmeld/"), "one-click").await.unwrap();

    assert_eq!(
        p.send_newsletter("Nye kurser i foråret", "Se vores nye kurser.", Some("golf")).await.unwrap(),
        0,
        "targeting uses the stated interests"
    );
    assert_eq!(p.send_newsletter("Nye kurser i foråret", "Se vores nye kurser.", None).await.unwrap(), 1);
    let all = deliver(&env, 4).await;
    assert_eq!(all.len(), 4);
    let newsletter = &all[3];
    assert_eq!(newsletter.to, vec!["active@eksempel.dk".to_string()]);
    assert!(newsletter.header("List-Unsubscribe").unwrap().starts_with("<https://kurser.example/nyhedsbrev/afmeld/"));
    assert_eq!(newsletter.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    // The newsletter's own link unsubscribes too.
    let token =
        newsletter.header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).rsplit('/').next().unwrap().to_string();
    assert!(p.unsubscribe(&token, "one-click").await.unwrap().newly);
    assert_eq!(p.send_newsletter("Igen", "Tekst", None).await.unwrap(), 0);
}

async fn p20_a_newsletter_only_contact_is_gone_30_days_after_withdrawal_leaving_a_suppression_hash<B: Backend>(
    env: Env<B>,
) {
    let p = &env.p;
    p.subscribe_newsletter(subscription("nina@eksempel.dk", Lang::Da)).await.unwrap();
    let mails = deliver(&env, 1).await;
    p.confirm_consent(&link(&mails[0], "/nyhedsbrev/bekraeft/")).await.unwrap();
    let token =
        mails[0].header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).rsplit('/').next().unwrap().to_string();
    let subject = p.find_subject_by_email("nina@eksempel.dk").await.unwrap().unwrap();
    let index = p.keys.blind_index.email("nina@eksempel.dk");
    let withdrawal = p.unsubscribe(&token, "one-click").await.unwrap();
    assert_eq!(withdrawal.retain_until, Some(date!(2026 - 12 - 25)));

    let kept = p.run_retention(date!(2026 - 12 - 25), false).await.unwrap();
    assert_eq!(kept.subjects_erased, 0, "kept through the thirtieth day");
    assert!(p.find_subject_by_email("nina@eksempel.dk").await.unwrap().is_some());

    let swept = p.run_retention(date!(2026 - 12 - 26), false).await.unwrap();
    assert_eq!((swept.subjects_erased, swept.purposes_ended.get("newsletter")), (1, Some(&1)));
    let backend = p.store.backend();
    assert_eq!(p.find_subject_by_email("nina@eksempel.dk").await.unwrap(), None, "the contact is gone");
    assert!(backend.items_of(subject).await.unwrap().is_empty());
    assert!(backend.consents_of(subject).await.unwrap().is_empty());
    assert_eq!(backend.suppression(&index).await.unwrap().as_deref(), Some("newsletter"), "only the hash remains");
    assert_eq!(backend.deletion_proofs_of(&subject.to_string()).await.unwrap().len(), 1);
}

async fn p35_c2_a_marketing_objection_stops_marketing_at_once_even_a_newsletter_already_queued<B: Backend>(
    env: Env<B>,
) {
    let p = &env.p;
    for email in ["objects@eksempel.dk", "stays@eksempel.dk"] {
        p.subscribe_newsletter(subscription(email, Lang::Da)).await.unwrap();
    }
    for mail in deliver(&env, 2).await {
        p.confirm_consent(&link(&mail, "/nyhedsbrev/bekraeft/")).await.unwrap();
    }
    assert_eq!(p.send_newsletter("Nye kurser", "Se vores nye kurser.", None).await.unwrap(), 2, "both are queued");

    let objector = p.find_subject_by_email("objects@eksempel.dk").await.unwrap().unwrap();
    assert_eq!(p.object_to_marketing(objector, None).await.unwrap(), vec!["newsletter".to_string()]);
    let consents = p.store.backend().consents_of(objector).await.unwrap();
    assert_eq!(consents[0].state, ConsentState::Withdrawn, "the objection counts as withdrawal (C2)");
    assert_eq!(consents[0].withdraw_method.as_deref(), Some("objection"));

    deliver(&env, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = env.smtp.messages();
    assert_eq!(all.len(), 3, "the queued newsletter to the objector was dropped");
    assert_eq!(all[2].to, vec!["stays@eksempel.dk".to_string()]);

    let requests = p.requests_of(objector, Lang::Da).await.unwrap();
    let kinds: Vec<(&str, &str)> = requests.iter().map(|r| (r.kind.as_str(), r.scope.as_str())).collect();
    assert_eq!(kinds, vec![("withdrawal", "newsletter"), ("objection", "marketing")], "both are on record, closed");
    assert!(requests.iter().all(|r| r.decided_on.is_some()), "self-service completes within the request (P34)");
}

async fn l3_p35_an_open_objection_restricts_marketing_until_decided<B: Backend>(env: Env<B>) {
    let p = &env.p;
    p.subscribe_newsletter(subscription("disputes@eksempel.dk", Lang::Da)).await.unwrap();
    let mail = deliver(&env, 1).await;
    p.confirm_consent(&link(&mail[0], "/nyhedsbrev/bekraeft/")).await.unwrap();
    let subject = p.find_subject_by_email("disputes@eksempel.dk").await.unwrap().unwrap();
    p.request_from_portal(
        subject,
        pactum_core::rights::RequestKind::Objection,
        "Jeg gør indsigelse.",
        false,
        Lang::Da,
        None,
    )
    .await
    .unwrap();
    assert!(p.is_restricted(subject).await.unwrap(), "an objection always restricts while open");
    assert_eq!(p.send_newsletter("Nyt", "Tekst", None).await.unwrap(), 0, "restricted data is only stored (L3)");
    let receipt = deliver(&env, 2).await;
    assert!(receipt[1].body().contains("Vi svarer senest 25. december 2026"), "{}", receipt[1].body());
}

/// L11, P21: a person who submits the sign-up twice before confirming, and then confirms both
/// mails, has one subscription: one copy of each newsletter. And one click on any of their
/// unsubscribe links ends every newsletter consent they have, a pending one included.
async fn l11_signing_up_twice_before_confirming_is_one_subscription_and_one_click_ends_it<B: Backend>(env: Env<B>) {
    let p = &env.p;
    for _ in 0..2 {
        p.subscribe_newsletter(subscription("to.gange@eksempel.dk", Lang::Da)).await.unwrap();
    }
    let confirmations = deliver(&env, 2).await;
    let first = p.confirm_consent(&link(&confirmations[0], "/nyhedsbrev/bekraeft/")).await.unwrap();
    let second = p.confirm_consent(&link(&confirmations[1], "/nyhedsbrev/bekraeft/")).await.unwrap();
    assert_eq!(second.id, first.id, "the second confirmation finds the subscription the first made");
    let subject = first.subject;
    let active = |consents: &[pactum_store::ConsentRecord]| {
        consents.iter().filter(|c| c.purpose == "newsletter" && c.state == ConsentState::Active).count()
    };
    assert_eq!(active(&p.store.backend().consents_of(subject).await.unwrap()), 1);
    assert_eq!(p.send_newsletter("Nyt", "Tekst", None).await.unwrap(), 1, "one copy");
    let mails = deliver(&env, 3).await;
    assert_eq!(mails[2].to, vec!["to.gange@eksempel.dk".to_string()]);

    // Both sign-ups' mails carry an unsubscribe link; the pending one's link ends the active one too.
    p.unsubscribe(&link(&confirmations[1], "/nyhedsbrev/afmeld/"), "one-click").await.unwrap();
    let consents = p.store.backend().consents_of(subject).await.unwrap();
    assert!(consents.iter().all(|c| c.state == ConsentState::Withdrawn), "{consents:?}");
    assert_eq!(p.send_newsletter("Efter afmelding", "Tekst", None).await.unwrap(), 0);
    let late = p.confirm_consent(&link(&confirmations[1], "/nyhedsbrev/bekraeft/")).await;
    assert!(matches!(late, Err(CoreError::InvalidLink)), "an old confirmation link does not sign up again: {late:?}");
}
