//! P23 over real HTTP, on both backends: the order form sends the buyer to the payment provider's
//! hosted page, the provider's signed webhook marks the order paid (once, however often it is
//! sent), a forged one is refused, the buyer's order page shows the payment, and the card number
//! typed at the provider is nowhere in Pactum's database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pactum_store_sqlite::SqliteBackend;
use pactum_testkit::psp::TestPsp;

const SECRET_KEY: &str = "sk_test_pactum";
const WEBHOOK_SECRET: &str = "whsec_pactum";
const TEST_CARD: &str = "4242424242424242";

fn settings(psp: &TestPsp) -> pactum_core::Settings {
    pactum_core::Settings {
        card_payments: Some(pactum_core::payments::StripeSettings {
            api_base: psp.base.clone(),
            secret_key: SECRET_KEY.to_string().into(),
            webhook_secret: WEBHOOK_SECRET.to_string().into(),
        }),
        ..pactum_core::Settings::default()
    }
}

async fn with_psp(server: Server, psp: TestPsp, files: Vec<std::path::PathBuf>) {
    // Signatures are checked against the server's clock, which the provider reads off the real one.
    server.clock.set(time::OffsetDateTime::now_utc());
    psp.set_webhook(&format!("{}/payments/stripe/webhook", server.base));
    p23_pay_by_card_on_the_providers_page(&server, &psp, &files).await;
}

#[tokio::test]
async fn sqlite_backend() {
    let psp = TestPsp::start(SECRET_KEY, WEBHOOK_SECRET).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pactum.db");
    let backend = SqliteBackend::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let files = vec![db.clone(), db.with_extension("db-wal")];
    let server = serve_with_settings(backend, bundled(), dir, Default::default(), settings(&psp)).await;
    with_psp(server, psp, files).await;
}

#[tokio::test]
async fn postgres_backend() {
    let Some(backend) = fresh_postgres().await else { return };
    let psp = TestPsp::start(SECRET_KEY, WEBHOOK_SECRET).await.unwrap();
    let server =
        serve_with_settings(backend, bundled(), tempfile::tempdir().unwrap(), Default::default(), settings(&psp)).await;
    with_psp(server, psp, Vec::new()).await;
}

fn order_fields(token: &str, payment: &str) -> Vec<(&'static str, String)> {
    vec![
        ("form_token", token.to_string()),
        ("notice_version", "2026.1".into()),
        ("seats", "1".into()),
        ("ordered_as", "person".into()),
        ("payment", payment.into()),
        ("buyer_name", "Sofie Sørensen".into()),
        ("buyer_email", "sofie@eksempel.dk".into()),
        ("buyer_address", "Nørregade 2, 1165 København K".into()),
        ("p1_name", "Sofie Sørensen".into()),
        ("p1_email", "sofie@eksempel.dk".into()),
    ]
}

async fn p23_pay_by_card_on_the_providers_page(server: &Server, psp: &TestPsp, files: &[std::path::PathBuf]) {
    let client = no_redirects();
    let course = client.get(format!("{}/kurser/prince2-foundation", server.base)).send().await.unwrap();
    let html = course.text().await.unwrap();
    let path = html.split("href=\"").find(|s| s.contains("/bestil/")).unwrap().split('"').next().unwrap().to_string();
    let response = client.get(format!("{}{path}", server.base)).send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("form-action 'self' {};", psp.base)), "the form may lead to the provider: {csp}");
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "and nothing else changes: {csp}");
    let form = response.text().await.unwrap();
    assert!(form.contains("id=\"payment-card\"") && form.contains("id=\"payment-invoice\""), "both ways to pay");
    assert!(!form.contains("card_number") && !form.contains("cc-number"), "no card field on Pactum's own page");

    let ordered = client
        .post(format!("{}{path}", server.base))
        .form(&order_fields(&hidden_form_token(&form), "card"))
        .send()
        .await
        .unwrap();
    assert_eq!(ordered.status(), 303, "sent on to the provider");
    let hosted = ordered.headers()["location"].to_str().unwrap().to_string();
    assert!(hosted.starts_with(&format!("{}/c/pay/", psp.base)), "{hosted}");
    let page = client.get(&hosted).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("18687.50 DKK"), "the invoice total: {page}");

    let paid = client
        .post(&hosted)
        .form(&[("card_number", TEST_CARD), ("expiry", "12/34"), ("cvc", "123")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(psp.deliveries(), vec![200], "the signed webhook was accepted");
    let back = paid.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("{}/bestilling/", server.base)), "back to the order page: {back}");
    let status = client.get(&back).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let html = status.text().await.unwrap();
    assert!(html.contains("Betalt. Tak!") && html.contains("Faktura 1"), "{html}");
    assert!(!html.contains("Betal med kort"), "nothing left to pay");

    // The same event again is acknowledged and changes nothing; a forged one is refused.
    assert_eq!(psp.replay(0).await, 200);
    let event = psp.events()[0].clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(psp.deliver_signed(&event, "whsec_forged", now).await, 400);
    assert_eq!(psp.deliver_signed(&event.replace("paid", "unpaid"), WEBHOOK_SECRET, now - 400).await, 400);
    let html = client.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Betalt. Tak!"));
    // Another token for the same order opens nothing.
    let forged = back.rsplit_once('/').unwrap().0.to_string() + "/00000000000000000000000000000000";
    assert_eq!(client.get(&forged).send().await.unwrap().status(), 404);

    // Paying by invoice is still offered and answers with the invoice at once (Sofie orders a
    // seat for her partner: she holds one already).
    let form = client.get(format!("{}{path}", server.base)).send().await.unwrap().text().await.unwrap();
    let mut fields = order_fields(&hidden_form_token(&form), "invoice");
    fields.retain(|(name, _)| !name.starts_with("p1_"));
    fields.extend([("p1_name", "Søren Sørensen".to_string()), ("p1_email", "soeren@eksempel.dk".to_string())]);
    let by_invoice = client.post(format!("{}{path}", server.base)).form(&fields).send().await.unwrap();
    assert_eq!(by_invoice.status(), 201);
    let html = by_invoice.text().await.unwrap();
    assert!(html.contains("Faktura 2"), "{html}");
    let order_page = html.split("href=\"").find(|s| s.starts_with("/bestilling/")).unwrap().split('"').next().unwrap();
    let pending = client.get(format!("{}{order_page}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(pending.contains("Afventer betaling") && pending.contains("Betal med kort"), "{pending}");

    for file in files {
        let bytes = std::fs::read(file).unwrap_or_default();
        assert!(!bytes.windows(TEST_CARD.len()).any(|w| w == TEST_CARD.as_bytes()), "the card number is in {file:?}");
    }
}
