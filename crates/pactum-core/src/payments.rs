//! Card payment without card data (P23): the buyer is sent to the payment service provider's hosted
//! payment page, and the provider tells Pactum the outcome by a signed callback. A card number is
//! typed only on the provider's page, so it never reaches Pactum, its database or its logs.
//!
//! [`PaymentProvider`] is what an adapter implements. Paying by invoice (bank transfer) is the
//! built-in method and needs no provider. [`StripeCheckout`] adapts Stripe's documented Checkout
//! API: `POST /v1/checkout/sessions` with an idempotency key, the `checkout.session.completed` and
//! `checkout.session.expired` webhook events signed in `Stripe-Signature` (HMAC-SHA256 over
//! `timestamp.payload`, five minutes' tolerance), and `POST /v1/refunds`.
//!
//! The use cases at the bottom apply callbacks to orders once each (by the provider's event id),
//! whatever order they arrive in: a payment for an order that was cancelled meanwhile is refunded
//! at once, and a late "expired" never undoes a payment.

use std::future::Future;

use hmac::{Hmac, KeyInit, Mac};
use pactum_store::{AuditEvent, Backend, Change, Op, OrderId, PaymentEvent, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use crate::{Clock, CoreError, Pactum};

/// How long a signed callback stays acceptable after the time it states.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("the payment provider cannot be reached: {0}")]
    Unavailable(String),
    #[error("the payment provider refused the request: {0}")]
    Refused(String),
    #[error("the callback's signature is missing, stale or wrong")]
    BadSignature,
    #[error("the callback is not understood: {0}")]
    Malformed(String),
}

/// What Pactum asks the provider for: one payment of `amount_ore` for an order.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub order: OrderId,
    pub amount_ore: i64,
    pub description: String,
    /// Where the provider sends the buyer after paying, and after giving up.
    pub success_url: String,
    pub cancel_url: String,
    pub lang: pactum_policy::Lang,
}

/// An open checkout: the provider's session id and its hosted page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub session: String,
    pub redirect_url: String,
}

/// A verified callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    Paid {
        event_id: String,
        order: OrderId,
        session: String,
        payment: String,
        amount_ore: i64,
    },
    Expired {
        event_id: String,
        order: OrderId,
        session: String,
    },
    /// A kind of event Pactum does not act on; acknowledged so the provider stops sending it.
    Other {
        event_id: String,
    },
}

/// A payment service provider with a hosted payment page.
pub trait PaymentProvider: Send + Sync + 'static {
    /// The provider's key, stored with each order it pays (`card:<key>`).
    fn key(&self) -> &'static str;

    fn start_checkout(&self, request: &CheckoutRequest) -> impl Future<Output = Result<Checkout, PaymentError>> + Send;

    /// Checks the callback's signature and reads it.
    fn verify_callback(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<ProviderEvent, PaymentError>;

    /// Refunds `amount_ore` of `payment`; `idempotency_key` makes a retried refund a no-op.
    fn refund(
        &self,
        payment: &str,
        amount_ore: i64,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<String, PaymentError>> + Send;
}

/// Settings of the Stripe Checkout adapter. `Debug` never prints the keys.
#[derive(Clone)]
pub struct StripeSettings {
    /// `https://api.stripe.com` in production; a local test server in tests.
    pub api_base: String,
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
}

impl StripeSettings {
    /// The origin of the hosted payment page the buyer is sent to: Stripe's checkout host for its
    /// own API, the API's own origin for any other (a local test provider).
    pub fn checkout_origin(&self) -> String {
        let base = self.api_base.trim_end_matches('/');
        if base == "https://api.stripe.com" {
            return "https://checkout.stripe.com".to_string();
        }
        match base.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
            None => base.to_string(),
        }
    }
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

/// Stripe Checkout (hosted payment page) over its REST API.
#[derive(Clone)]
pub struct StripeCheckout {
    settings: StripeSettings,
    http: crate::http_client::HttpsClient,
}

#[derive(Deserialize)]
struct SessionCreated {
    id: String,
    url: String,
}

#[derive(Deserialize)]
struct RefundCreated {
    id: String,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    error: ApiErrorDetail,
}

#[derive(Deserialize)]
struct ApiErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct WebhookEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: WebhookData,
}

#[derive(Deserialize)]
struct WebhookData {
    object: serde_json::Value,
}

impl StripeCheckout {
    pub fn new(settings: StripeSettings) -> Result<StripeCheckout, PaymentError> {
        Ok(StripeCheckout {
            settings,
            http: crate::http_client::HttpsClient::new().map_err(PaymentError::Unavailable)?,
        })
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, PaymentError> {
        let url = format!("{}{path}", self.settings.api_base.trim_end_matches('/'));
        let headers = [
            ("authorization", format!("Bearer {}", self.settings.secret_key.expose_secret())),
            ("idempotency-key", idempotency_key.to_string()),
        ];
        let body = serde_urlencoded::to_string(form).map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let (status, body) = self
            .http
            .post(&url, &headers, "application/x-www-form-urlencoded", body.into_bytes())
            .await
            .map_err(PaymentError::Unavailable)?;
        if !(200..300).contains(&status) {
            // Only the provider's error code and type: its message may quote what was sent.
            let detail = serde_json::from_slice::<ApiErrorBody>(&body)
                .map(|b| format!("{} {}", b.error.kind.unwrap_or_default(), b.error.code.unwrap_or_default()))
                .unwrap_or_default();
            return Err(PaymentError::Refused(format!("HTTP {status} {}", detail.trim())));
        }
        serde_json::from_slice(&body)
            .map_err(|e| PaymentError::Malformed(format!("the provider answered something else ({:?})", e.classify())))
    }
}

fn order_of(object: &serde_json::Value) -> Result<OrderId, PaymentError> {
    object
        .get("client_reference_id")
        .and_then(|v| v.as_str())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(OrderId)
        .ok_or_else(|| PaymentError::Malformed("no order reference".into()))
}

fn text_of(object: &serde_json::Value, key: &str) -> Result<String, PaymentError> {
    object
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| PaymentError::Malformed(format!("no {key}")))
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) over `body`.
pub fn verify_stripe_signature(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), PaymentError> {
    let header = header.ok_or(PaymentError::BadSignature)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.extend(hex::decode(s).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(PaymentError::BadSignature)?;
    if now_secs.abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(PaymentError::BadSignature);
    }
    let signed = |signature: &[u8]| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    };
    if signatures.iter().any(|s| signed(s)) { Ok(()) } else { Err(PaymentError::BadSignature) }
}

/// The `Stripe-Signature` header for `body` at `timestamp` (what the provider sends; tests use it).
pub fn stripe_signature(secret: &str, body: &[u8], timestamp: i64) -> String {
    crate::notifications::signature_header(secret, body, timestamp)
}

impl PaymentProvider for StripeCheckout {
    fn key(&self) -> &'static str {
        "stripe"
    }

    async fn start_checkout(&self, request: &CheckoutRequest) -> Result<Checkout, PaymentError> {
        let order = request.order.to_string();
        let form: Vec<(String, String)> = [
            ("mode", "payment".to_string()),
            ("success_url", request.success_url.clone()),
            ("cancel_url", request.cancel_url.clone()),
            ("client_reference_id", order.clone()),
            ("metadata[order]", order.clone()),
            ("locale", if request.lang == pactum_policy::Lang::Da { "da" } else { "en" }.to_string()),
            ("line_items[0][quantity]", "1".to_string()),
            ("line_items[0][price_data][currency]", "dkk".to_string()),
            ("line_items[0][price_data][unit_amount]", request.amount_ore.to_string()),
            ("line_items[0][price_data][product_data][name]", request.description.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // The key covers everything the request depends on, so a retry is the same request.
        let lang = if request.lang == pactum_policy::Lang::Da { "da" } else { "en" };
        let created: SessionCreated = self
            .post("/v1/checkout/sessions", &form, &format!("checkout-{order}-{lang}-{}", request.amount_ore))
            .await?;
        Ok(Checkout { session: created.id, redirect_url: created.url })
    }

    fn verify_callback(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<ProviderEvent, PaymentError> {
        verify_stripe_signature(self.settings.webhook_secret.expose_secret(), signature_header, body, now_secs)?;
        // Only the kind of failure: a parser message could quote the body, which names the payer.
        let event: WebhookEvent = serde_json::from_slice(body).map_err(|e| {
            PaymentError::Malformed(format!("not a provider event ({:?} at line {})", e.classify(), e.line()))
        })?;
        let object = &event.data.object;
        match event.kind.as_str() {
            "checkout.session.completed" if object.get("payment_status").and_then(|v| v.as_str()) == Some("paid") => {
                Ok(ProviderEvent::Paid {
                    event_id: event.id,
                    order: order_of(object)?,
                    session: text_of(object, "id")?,
                    payment: text_of(object, "payment_intent")?,
                    amount_ore: object
                        .get("amount_total")
                        .and_then(|v| v.as_i64())
                        .ok_or_else(|| PaymentError::Malformed("no amount_total".into()))?,
                })
            }
            "checkout.session.expired" => Ok(ProviderEvent::Expired {
                event_id: event.id,
                order: order_of(object)?,
                session: text_of(object, "id")?,
            }),
            _ => Ok(ProviderEvent::Other { event_id: event.id }),
        }
    }

    async fn refund(&self, payment: &str, amount_ore: i64, idempotency_key: &str) -> Result<String, PaymentError> {
        let form =
            vec![("payment_intent".to_string(), payment.to_string()), ("amount".to_string(), amount_ore.to_string())];
        let refund: RefundCreated = self.post("/v1/refunds", &form, idempotency_key).await?;
        Ok(refund.id)
    }
}

/// The card payment providers Pactum can be configured with.
#[derive(Clone)]
pub enum CardPayments {
    Stripe(StripeCheckout),
}

impl PaymentProvider for CardPayments {
    fn key(&self) -> &'static str {
        match self {
            CardPayments::Stripe(p) => p.key(),
        }
    }

    async fn start_checkout(&self, request: &CheckoutRequest) -> Result<Checkout, PaymentError> {
        match self {
            CardPayments::Stripe(p) => p.start_checkout(request).await,
        }
    }

    fn verify_callback(&self, header: Option<&str>, body: &[u8], now_secs: i64) -> Result<ProviderEvent, PaymentError> {
        match self {
            CardPayments::Stripe(p) => p.verify_callback(header, body, now_secs),
        }
    }

    async fn refund(&self, payment: &str, amount_ore: i64, key: &str) -> Result<String, PaymentError> {
        match self {
            CardPayments::Stripe(p) => p.refund(payment, amount_ore, key).await,
        }
    }
}

/// What applying a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Paid(OrderId),
    /// The order had been cancelled: the payment was refunded at once, less any late fee owed.
    RefundedLate(OrderId),
    /// Nothing to do (an expired checkout of a paid order, an unknown order, another event kind).
    Nothing,
    /// This event was applied before.
    Repeated,
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Opens the provider's hosted payment page for an order's open invoice amount and records the
    /// checkout session on the order.
    pub async fn start_card_payment(
        &self,
        order: OrderId,
        success_url: String,
        cancel_url: String,
        lang: pactum_policy::Lang,
    ) -> Result<Checkout, CoreError> {
        let provider = self.card_provider()?;
        let backend = self.store.backend();
        let found = backend.order(order).await?.ok_or(CoreError::UnknownActivity)?;
        let invoice = backend
            .invoices_of_order(order)
            .await?
            .into_iter()
            .find(|i| i.kind == "invoice")
            .ok_or(CoreError::UnknownActivity)?;
        let request = CheckoutRequest {
            order,
            amount_ore: invoice.total_ore,
            description: format!("Faktura {} / invoice {}", invoice.number, invoice.number),
            success_url,
            cancel_url,
            lang,
        };
        let checkout = provider.start_checkout(&request).await.map_err(|e| CoreError::Payment(e.to_string()))?;
        let event = PaymentEvent {
            event_id: format!("pactum:checkout:{}", checkout.session),
            order,
            kind: "checkout_started".into(),
            expected: (found.status.clone(), found.payment_status.clone()),
            payment_status: found.payment_status.clone(),
            session: Some(checkout.session.clone()),
            payment_ref: None,
            at: self.clock.now_micros(),
        };
        let audit = AuditEvent::new(
            "subject",
            "payment.checkout",
            Some(found.buyer),
            serde_json::json!({"order": order.to_string(), "provider": provider.key(), "amount_ore": invoice.total_ore}),
        );
        self.commit_payment(event, audit).await?;
        Ok(checkout)
    }

    /// The configured card payment provider.
    pub fn card_provider(&self) -> Result<&CardPayments, CoreError> {
        self.payments.as_deref().ok_or_else(|| CoreError::Payment("no card payment provider is configured".into()))
    }

    /// Applies a payment event: `Ok(false)` when it was applied before. An order that changed since
    /// the event was decided on is [`CoreError::Conflict`]: the webhook answers 503 and the provider
    /// sends the event again, to be decided on the order as it is then.
    async fn commit_payment(&self, event: PaymentEvent, audit: AuditEvent) -> Result<bool, CoreError> {
        let at = event.at;
        let event_id = event.event_id.clone();
        match self.store.commit(Change { at, ops: vec![Op::RecordPayment(event)], audit: vec![audit] }).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) if self.store.backend().payment_event_applied(&event_id).await? => Ok(false),
            Err(StoreError::Conflict(_)) => Err(CoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies a verified callback to its order, once.
    pub async fn apply_payment_event(&self, event: ProviderEvent) -> Result<Applied, CoreError> {
        let provider = self.card_provider()?;
        let backend = self.store.backend();
        let now = self.clock.now_micros();
        match event {
            ProviderEvent::Other { .. } => Ok(Applied::Nothing),
            ProviderEvent::Expired { event_id, order, session } => {
                let Some(found) = backend.order(order).await? else { return Ok(Applied::Nothing) };
                // A late "expired" never undoes a payment: the status stays what it is.
                let record = PaymentEvent {
                    event_id,
                    order,
                    kind: "expired".into(),
                    expected: (found.status.clone(), found.payment_status.clone()),
                    payment_status: found.payment_status.clone(),
                    session: Some(session),
                    payment_ref: None,
                    at: now,
                };
                let audit = AuditEvent::new(
                    "provider",
                    "payment.expired",
                    Some(found.buyer),
                    serde_json::json!({"order": order.to_string()}),
                );
                Ok(if self.commit_payment(record, audit).await? { Applied::Nothing } else { Applied::Repeated })
            }
            ProviderEvent::Paid { event_id, order, session, payment, amount_ore } => {
                let Some(found) = backend.order(order).await? else { return Ok(Applied::Nothing) };
                if backend.payment_event_applied(&event_id).await? {
                    return Ok(Applied::Repeated);
                }
                let cancelled = found.status == "cancelled";
                // What is still owed after the cancellation: a late fee, or nothing.
                let owed: i64 = backend.invoices_of_order(order).await?.iter().map(|i| i.total_ore).sum::<i64>().max(0);
                let give_back = if cancelled { (amount_ore - owed).max(0) } else { 0 };
                if give_back > 0 {
                    // Paid after the order was cancelled (the callbacks crossed): give back all but
                    // what is still owed, now.
                    provider
                        .refund(&payment, give_back, &format!("refund-{payment}"))
                        .await
                        .map_err(|e| CoreError::Payment(e.to_string()))?;
                }
                let record = PaymentEvent {
                    event_id,
                    order,
                    kind: if cancelled { "paid_after_cancellation" } else { "paid" }.into(),
                    expected: (found.status.clone(), found.payment_status.clone()),
                    payment_status: if cancelled && owed == 0 { "refunded" } else { "paid" }.into(),
                    session: Some(session),
                    payment_ref: Some(payment),
                    at: now,
                };
                let audit = AuditEvent::new(
                    "provider",
                    if give_back > 0 { "payment.refunded" } else { "payment.paid" },
                    Some(found.buyer),
                    serde_json::json!({"order": order.to_string(), "amount_ore": amount_ore, "provider": provider.key()}),
                );
                if !self.commit_payment(record, audit).await? {
                    return Ok(Applied::Repeated);
                }
                Ok(if give_back > 0 { Applied::RefundedLate(order) } else { Applied::Paid(order) })
            }
        }
    }
}
