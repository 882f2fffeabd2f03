//! Card payment through a hosted payment page (P23), against a local provider that follows Stripe's
//! documented Checkout API over real HTTP: signed callbacks, each applied once and in any order,
//! refunds on cancellation, and no card number anywhere in Pactum's database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_core::keyfile::{KeySource, load};
use pactum_core::orders::{BuyerKind, OrderRequest};
use pactum_core::payments::{Applied, PaymentProvider, ProviderEvent, StripeSettings};
use pactum_core::{CoreError, ManualClock, Pactum, Settings};
use pactum_policy::{BUNDLED_POLICY, EXAMPLE_CATALOGUE, Lang, parse_policy};
use pactum_store::{Backend, OrderId};
use pactum_store_sqlite::SqliteBackend;
use pactum_testkit::psp::{TestPsp, signature};

const SECRET_KEY: &str = "sk_test_pactum";
const WEBHOOK_SECRET: &str = "whsec_pactum";
const TEST_CARD: &str = "4242424242424242";

async fn pactum(dir: &std::path::Path, psp: &TestPsp, secret_key: &str) -> Pactum<SqliteBackend, ManualClock> {
    let backend = SqliteBackend::connect(&format!("sqlite://{}", dir.join("pactum.db").display())).await.unwrap();
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).unwrap();
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true }).unwrap();
    // The provider checks signatures against the real time, so the clock starts at it.
    let clock = ManualClock::at(time::OffsetDateTime::now_utc());
    let settings = Settings {
        card_payments: Some(StripeSettings {
            api_base: psp.base.clone(),
            secret_key: secret_key.to_string().into(),
            webhook_secret: WEBHOOK_SECRET.to_string().into(),
        }),
        ..Settings::default()
    };
    let p = Pactum::start(backend, ring, policy, clock, settings).await.unwrap();
    p.import_catalogue(EXAMPLE_CATALOGUE, "test").await.unwrap();
    p
}

async fn order(p: &Pactum<SqliteBackend, ManualClock>) -> OrderId {
    let session = p.course_listing("prince2-foundation").await.unwrap().unwrap().sessions[0].session.id;
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
        participants: vec![vec![
            ("name".into(), "Sofie Sørensen".into()),
            ("email".into(), "sofie@eksempel.dk".into()),
        ]],
        lang: Lang::Da,
        method: "form:order".into(),
        notice_version: "2026.1".into(),
        repeat_key: None,
    };
    p.place_order(request).await.unwrap().order
}

/// Pays on the provider's hosted page with `card`, as a browser would post its form.
async fn pay(url: &str, card: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(url)
        .form(&[("card_number", card), ("expiry", "12/34"), ("cvc", "123")])
        .send()
        .await
        .unwrap()
}

/// The provider's latest event, verified by Pactum as its webhook would verify it.
fn latest_event(p: &Pactum<SqliteBackend, ManualClock>, psp: &TestPsp) -> (String, ProviderEvent) {
    let body = psp.events().last().cloned().expect("an event");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = signature(WEBHOOK_SECRET, &body, now);
    let event = p.card_provider().unwrap().verify_callback(Some(&header), body.as_bytes(), now).unwrap();
    (body, event)
}

#[tokio::test]
async fn p23_a_card_payment_on_the_hosted_page_marks_the_order_paid_once() {
    let psp = TestPsp::start(SECRET_KEY, WEBHOOK_SECRET).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path(), &psp, SECRET_KEY).await;
    let id = order(&p).await;
    let checkout = p
        .start_card_payment(id, "https://kurser.example/ok".into(), "https://kurser.example/back".into(), Lang::Da)
        .await
        .unwrap();
    assert!(checkout.redirect_url.starts_with(&format!("{}/c/pay/", psp.base)), "{}", checkout.redirect_url);
    let order_now = p.store.backend().order(id).await.unwrap().unwrap();
    assert_eq!(order_now.payment_session.as_deref(), Some(checkout.session.as_str()));
    assert_eq!(order_now.payment_status, "pending");
    let page = reqwest::get(&checkout.redirect_url).await.unwrap().text().await.unwrap();
    assert!(page.contains("18687.50 DKK"), "the provider charges the invoice total: {page}");

    let declined = pay(&checkout.redirect_url, "4000000000000002").await;
    assert_eq!(declined.status(), 402);
    assert!(psp.events().is_empty(), "a declined card sends no event");
    let paid = pay(&checkout.redirect_url, TEST_CARD).await;
    assert_eq!(paid.status(), 303);
    assert_eq!(paid.headers()["location"], "https://kurser.example/ok");

    let (body, event) = latest_event(&p, &psp);
    assert!(matches!(&event, ProviderEvent::Paid { order, amount_ore: 1_868_750, .. } if *order == id), "{event:?}");
    assert_eq!(p.apply_payment_event(event.clone()).await.unwrap(), Applied::Paid(id));
    let order_now = p.store.backend().order(id).await.unwrap().unwrap();
    assert_eq!(order_now.payment_status, "paid");
    assert!(order_now.payment_ref.as_deref().unwrap().starts_with("pi_test_"));
    // The same callback again changes nothing.
    assert_eq!(p.apply_payment_event(event).await.unwrap(), Applied::Repeated);
    // A late "expired" for the same session never undoes the payment.
    psp.expire(&checkout.session).await;
    let (_, expired) = latest_event(&p, &psp);
    assert!(matches!(expired, ProviderEvent::Expired { .. }));
    p.apply_payment_event(expired).await.unwrap();
    assert_eq!(p.store.backend().order(id).await.unwrap().unwrap().payment_status, "paid");

    // Forged, stale and altered callbacks are refused.
    let provider = p.card_provider().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (header, payload) in [
        (signature("whsec_wrong", &body, now), body.clone()),
        (signature(WEBHOOK_SECRET, &body, now - 301), body.clone()),
        (signature(WEBHOOK_SECRET, &body, now), body.replace("18687", "1")),
        ("t=1,v1=zz".to_string(), body.clone()),
    ] {
        assert!(provider.verify_callback(Some(&header), payload.as_bytes(), now).is_err(), "{header}");
    }
    assert!(provider.verify_callback(None, body.as_bytes(), now).is_err(), "no signature at all");

    // The buyer cancels in time: the whole amount is refunded at the provider, with a credit note.
    let quote = p.cancel_order_as_buyer(id).await.unwrap();
    assert_eq!((quote.fee_ore, quote.credit_ore), (0, 1_868_750));
    let refunds = psp.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        (refunds[0].amount, refunds[0].payment_intent.as_str()),
        (1_868_750, order_now.payment_ref.as_deref().unwrap())
    );
    assert_eq!(p.store.backend().order(id).await.unwrap().unwrap().payment_status, "refunded");

    // The card number never reached Pactum: not in the database files, not anywhere in the data dir.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(TEST_CARD.len()).any(|w| w == TEST_CARD.as_bytes()), "a card number in Pactum's files");
    }
}

#[tokio::test]
async fn p23_a_payment_that_arrives_after_the_cancellation_is_refunded_at_once() {
    let psp = TestPsp::start(SECRET_KEY, WEBHOOK_SECRET).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path(), &psp, SECRET_KEY).await;
    let id = order(&p).await;
    let checkout = p.start_card_payment(id, "https://k/ok".into(), "https://k/back".into(), Lang::En).await.unwrap();
    // The buyer cancels (through staff) while the payment page is still open, then pays anyway.
    p.cancel_order(id, "staff:1").await.unwrap();
    assert!(psp.refunds().is_empty(), "nothing was paid yet, so nothing is refunded");
    assert_eq!(pay(&checkout.redirect_url, TEST_CARD).await.status(), 303);
    let (_, event) = latest_event(&p, &psp);
    assert_eq!(p.apply_payment_event(event.clone()).await.unwrap(), Applied::RefundedLate(id));
    assert_eq!(psp.refunds().len(), 1);
    assert_eq!(psp.refunds()[0].amount, 1_868_750);
    assert_eq!(p.store.backend().order(id).await.unwrap().unwrap().payment_status, "refunded");
    assert_eq!(p.apply_payment_event(event).await.unwrap(), Applied::Repeated, "and only once");
    assert_eq!(psp.refunds().len(), 1);
}

#[tokio::test]
async fn a_provider_that_refuses_the_key_leaves_the_order_payable_by_invoice() {
    let psp = TestPsp::start(SECRET_KEY, WEBHOOK_SECRET).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = pactum(dir.path(), &psp, "sk_test_wrong").await;
    let id = order(&p).await;
    let refused = p.start_card_payment(id, "https://k/ok".into(), "https://k/back".into(), Lang::Da).await;
    match refused {
        Err(CoreError::Payment(message)) => {
            assert!(message.contains("401") && !message.contains("sk_test"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let still = p.store.backend().order(id).await.unwrap().unwrap();
    assert_eq!((still.status.as_str(), still.payment_status.as_str()), ("placed", "pending"));
    assert_eq!(p.store.backend().invoices_of_order(id).await.unwrap().len(), 1, "the invoice stands");
}
