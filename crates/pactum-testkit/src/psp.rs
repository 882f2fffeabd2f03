//! A local payment service provider that follows Stripe's documented Checkout API closely enough
//! for Pactum's adapter to be tested against it over real HTTP: `POST /v1/checkout/sessions`
//! (bearer key, form body, `Idempotency-Key`), a hosted payment page at `/c/pay/{session}` where a
//! card number is typed, the `checkout.session.completed` / `checkout.session.expired` webhook
//! events signed in `Stripe-Signature` (HMAC-SHA256 over `timestamp.payload`), and
//! `POST /v1/refunds`. Its own implementation of the signature, so that a mistake in Pactum's is
//! not mirrored here.
//!
//! Test cards as in Stripe's documentation: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is
//! declined. Control endpoints under `/test/` set the webhook address and replay events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub order: String,
    pub amount: i64,
    pub currency: String,
    pub name: String,
    pub success_url: String,
    pub cancel_url: String,
    pub status: String,
    pub payment_intent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
}

#[derive(Default)]
struct Ledger {
    next: u64,
    webhook: Option<String>,
    sessions: HashMap<String, Session>,
    by_idempotency_key: HashMap<String, serde_json::Value>,
    refunds: Vec<Refund>,
    /// Every event body sent, in order, for replaying.
    events: Vec<String>,
    /// Webhook answers, in order.
    deliveries: Vec<u16>,
}

struct Shared {
    secret_key: String,
    webhook_secret: String,
    base: String,
    ledger: Mutex<Ledger>,
    http: reqwest::Client,
}

impl Shared {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The provider, on 127.0.0.1 and a free port, until dropped.
pub struct TestPsp {
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestPsp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `Stripe-Signature` value for `body` at `timestamp` under `secret`.
pub fn signature(secret: &str, body: &str, timestamp: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl TestPsp {
    pub async fn start(secret_key: &str, webhook_secret: &str) -> std::io::Result<TestPsp> {
        Self::start_on("127.0.0.1:0", secret_key, webhook_secret).await
    }

    pub async fn start_on(address: &str, secret_key: &str, webhook_secret: &str) -> std::io::Result<TestPsp> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            secret_key: secret_key.to_string(),
            webhook_secret: webhook_secret.to_string(),
            base: base.clone(),
            ledger: Mutex::new(Ledger::default()),
            http: reqwest::Client::new(),
        });
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/refunds", post(create_refund))
            .route("/c/pay/{session}", get(payment_page).post(pay))
            .route("/test/webhook", post(set_webhook))
            .route("/test/events/{index}/replay", post(replay))
            .route("/test/sessions/{session}/expire", post(expire))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TestPsp { base, shared, task })
    }

    /// Where the provider sends its events (Pactum's webhook URL).
    pub fn set_webhook(&self, url: &str) {
        self.shared.ledger().webhook = Some(url.to_string());
    }

    pub fn refunds(&self) -> Vec<Refund> {
        self.shared.ledger().refunds.clone()
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.shared.ledger().sessions.values().cloned().collect()
    }

    pub fn events(&self) -> Vec<String> {
        self.shared.ledger().events.clone()
    }

    /// The HTTP status of each webhook delivery so far.
    pub fn deliveries(&self) -> Vec<u16> {
        self.shared.ledger().deliveries.clone()
    }

    /// Sends event number `index` again, signed anew; returns the webhook's status.
    pub async fn replay(&self, index: usize) -> u16 {
        let body = self.shared.ledger().events.get(index).cloned().unwrap_or_default();
        deliver(&self.shared, body).await
    }

    /// Lets a checkout session expire and tells the webhook; returns its status.
    pub async fn expire(&self, session: &str) -> u16 {
        expire_session(&self.shared, session).await
    }

    /// Sends `body` to the webhook with a signature made with `secret` at `timestamp`.
    pub async fn deliver_signed(&self, body: &str, secret: &str, timestamp: i64) -> u16 {
        send(&self.shared, body.to_string(), signature(secret, body, timestamp)).await
    }
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", shared.secret_key))
}

fn api_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": {"type": kind, "code": code, "message": message}}))).into_response()
}

fn session_json(s: &Session, base: &str) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "object": "checkout.session",
        "url": format!("{base}/c/pay/{}", s.id),
        "amount_total": s.amount,
        "currency": s.currency,
        "client_reference_id": s.order,
        "metadata": {"order": s.order},
        "payment_intent": s.payment_intent,
        "payment_status": if s.status == "complete" { "paid" } else { "unpaid" },
        "status": s.status,
        "success_url": s.success_url,
        "cancel_url": s.cancel_url,
    })
}

async fn create_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !authorised(&shared, &headers) {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "api_key_invalid",
            "Invalid API Key provided.",
        );
    }
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(previous) = key.as_ref().and_then(|k| shared.ledger().by_idempotency_key.get(k).cloned()) {
        return Json(previous).into_response();
    }
    let (Some(success_url), Some(cancel_url), Some(amount), Some(currency)) = (
        get("success_url"),
        get("cancel_url"),
        get("line_items[0][price_data][unit_amount]").and_then(|a| a.parse::<i64>().ok()),
        get("line_items[0][price_data][currency]"),
    ) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_missing",
            "Missing required param.",
        );
    };
    if get("mode").as_deref() != Some("payment") || amount <= 0 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_invalid",
            "Invalid mode or amount.",
        );
    }
    let mut ledger = shared.ledger();
    ledger.next += 1;
    let session = Session {
        id: format!("cs_test_{:04}", ledger.next),
        order: get("client_reference_id").unwrap_or_default(),
        amount,
        currency,
        name: get("line_items[0][price_data][product_data][name]").unwrap_or_default(),
        success_url,
        cancel_url,
        status: "open".into(),
        payment_intent: None,
    };
    let json = session_json(&session, &shared.base);
    ledger.sessions.insert(session.id.clone(), session);
    if let Some(key) = key {
        ledger.by_idempotency_key.insert(key, json.clone());
    }
    Json(json).into_response()
}

async fn create_refund(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !authorised(&shared, &headers) {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "api_key_invalid",
            "Invalid API Key provided.",
        );
    }
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut ledger = shared.ledger();
    if let Some(previous) = key.as_ref().and_then(|k| ledger.by_idempotency_key.get(k).cloned()) {
        return Json(previous).into_response();
    }
    let payment_intent = get("payment_intent").unwrap_or_default();
    let paid = ledger.sessions.values().find(|s| s.payment_intent.as_deref() == Some(payment_intent.as_str())).cloned();
    let Some(paid) = paid else {
        return api_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "resource_missing",
            "No such payment_intent.",
        );
    };
    let amount = get("amount").and_then(|a| a.parse::<i64>().ok()).unwrap_or(paid.amount);
    if amount <= 0 || amount > paid.amount {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "amount_too_large",
            "Refund amount too large.",
        );
    }
    ledger.next += 1;
    let refund = Refund { id: format!("re_test_{:04}", ledger.next), payment_intent, amount };
    let json = serde_json::json!({"id": refund.id, "object": "refund", "status": "succeeded", "amount": refund.amount, "payment_intent": refund.payment_intent});
    ledger.refunds.push(refund);
    if let Some(key) = key {
        ledger.by_idempotency_key.insert(key, json.clone());
    }
    Json(json).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn payment_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = shared.ledger().sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "No such checkout session").into_response();
    };
    let amount = format!("{}.{:02} {}", session.amount / 100, session.amount % 100, session.currency.to_uppercase());
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Test payment provider</title></head><body>\
         <main><h1>Test payment provider</h1><p>{}</p><p>Amount: <strong>{amount}</strong></p>\
         <form method=\"post\" action=\"/c/pay/{}\">\
         <label for=\"card\">Card number</label> <input id=\"card\" name=\"card_number\" inputmode=\"numeric\" autocomplete=\"cc-number\">\
         <label for=\"expiry\">Expiry</label> <input id=\"expiry\" name=\"expiry\" autocomplete=\"cc-exp\">\
         <label for=\"cvc\">CVC</label> <input id=\"cvc\" name=\"cvc\" autocomplete=\"cc-csc\">\
         <button type=\"submit\">Pay {amount}</button></form><p><a href=\"{}\">Cancel and go back</a></p></main></body></html>",
        escape(&session.name),
        escape(&session.id),
        escape(&session.cancel_url),
    ))
    .into_response()
}

async fn pay(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let card: String = form
        .iter()
        .find(|(k, _)| k == "card_number")
        .map(|(_, v)| v.chars().filter(char::is_ascii_digit).collect())
        .unwrap_or_default();
    let completed = {
        let mut ledger = shared.ledger();
        ledger.next += 1;
        let intent = format!("pi_test_{:04}", ledger.next);
        let Some(session) = ledger.sessions.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "No such checkout session").into_response();
        };
        if session.status != "open" {
            return (StatusCode::CONFLICT, "This checkout session is no longer open").into_response();
        }
        if card != "4242424242424242" {
            return (StatusCode::PAYMENT_REQUIRED, Html("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Declined</title></head><body><main><h1>Your card was declined</h1></main></body></html>")).into_response();
        }
        session.status = "complete".into();
        session.payment_intent = Some(intent);
        session.clone()
    };
    let event = event_body(&shared, "checkout.session.completed", &completed);
    deliver(&shared, event).await;
    Redirect::to(&completed.success_url.replace("{CHECKOUT_SESSION_ID}", &completed.id)).into_response()
}

fn event_body(shared: &Shared, kind: &str, session: &Session) -> String {
    let mut ledger = shared.ledger();
    ledger.next += 1;
    let body = serde_json::json!({
        "id": format!("evt_test_{:04}", ledger.next),
        "object": "event",
        "type": kind,
        "created": now(),
        "data": {"object": session_json(session, &shared.base)},
    })
    .to_string();
    ledger.events.push(body.clone());
    body
}

async fn deliver(shared: &Shared, body: String) -> u16 {
    let signature = signature(&shared.webhook_secret, &body, now());
    send(shared, body, signature).await
}

async fn send(shared: &Shared, body: String, signature: String) -> u16 {
    let Some(url) = shared.ledger().webhook.clone() else { return 0 };
    let status = match shared
        .http
        .post(url)
        .header("stripe-signature", signature)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    };
    shared.ledger().deliveries.push(status);
    status
}

async fn expire_session(shared: &Shared, id: &str) -> u16 {
    let expired = {
        let mut ledger = shared.ledger();
        let Some(session) = ledger.sessions.get_mut(id) else { return 404 };
        if session.status == "open" {
            session.status = "expired".into();
        }
        session.clone()
    };
    let event = event_body(shared, "checkout.session.expired", &expired);
    deliver(shared, event).await
}

async fn set_webhook(State(shared): State<Arc<Shared>>, body: String) -> StatusCode {
    shared.ledger().webhook = Some(body.trim().to_string());
    StatusCode::NO_CONTENT
}

async fn replay(State(shared): State<Arc<Shared>>, Path(index): Path<usize>) -> Response {
    let body = shared.ledger().events.get(index).cloned();
    match body {
        Some(body) => deliver(&shared, body).await.to_string().into_response(),
        None => (StatusCode::NOT_FOUND, "No such event").into_response(),
    }
}

async fn expire(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    expire_session(&shared, &id).await.to_string().into_response()
}
