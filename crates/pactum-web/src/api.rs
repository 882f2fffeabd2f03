//! The JSON API under `/api/v1`, so an existing website can use Pactum headlessly: the catalogue,
//! the notice for any set of purposes (P03), enrolment, orders with their invoice (P04), event
//! sign-up and the newsletter. The same
//! rules hold as on Pactum's own forms: only declared fields (P01), the notice version the person
//! saw, unticked means no consent (P07), and errors that name the field in the caller's language.
//! The OpenAPI 3.1 description is served at `/api/v1/openapi.json`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pactum_core::api_tokens::{Scope, grants};
use pactum_core::enrolment::{EnrolmentRequest, EventSignupRequest};
use pactum_core::newsletter::Subscription;
use pactum_core::values::{FieldError, Problem};
use pactum_core::{Clock, CoreError};
use pactum_policy::{Lang, Policy};
use pactum_store::{Backend, SessionId, Uuid};
use serde::{Deserialize, Serialize};
use tower_http::cors::{Any, CorsLayer};

use crate::AppState;
use crate::api_error::{ApiError, Params};
use crate::json_problem::FieldMap;
use crate::notice::{PurposeView, purpose_view};

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT_LANGUAGE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("idempotency-key"),
        ]);
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/courses", get(courses::<B, C>))
        .route("/api/v1/events", get(events::<B, C>))
        .route("/api/v1/notice", get(notice::<B, C>))
        .route("/api/v1/enrolments", post(enrol::<B, C>))
        .route("/api/v1/orders", post(order::<B, C>))
        .route("/api/v1/events/{slug}/signups", post(event_signup::<B, C>))
        .route("/api/v1/newsletter/subscriptions", post(subscribe::<B, C>))
        .route("/api/v1/newsletter/confirmations", post(confirm::<B, C>))
        .route("/api/v1/newsletter/unsubscriptions", post(unsubscribe::<B, C>))
        .route("/api/v1/catalogue", axum::routing::put(put_catalogue::<B, C>))
        .route("/api/v1/certification/participants", post(crate::certification::participants::<B, C>))
        .route("/api/v1/certification/messages", post(crate::certification::deliver_message::<B, C>))
        .merge(crate::rights_api::routes::<B, C>())
        .method_not_allowed_fallback(no_such_method)
        .route("/api/v1/{*rest}", axum::routing::any(no_such_endpoint))
        .layer(cors)
}

/// Any other address under the API: a JSON error, like every other API answer, not an HTML page.
async fn no_such_endpoint(uri: axum::http::Uri, headers: HeaderMap) -> ApiError {
    let lang = Params::from_uri(&uri).lang(&headers);
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        match lang {
            Lang::Da => "API'et har ingen sådan adresse. Se de mulige i /api/v1/openapi.json.".into(),
            Lang::En => "The API has no such address. See the ones there are in /api/v1/openapi.json.".into(),
        },
    )
}

/// A method an API address does not take: a JSON error too (axum adds the `Allow` header).
async fn no_such_method(uri: axum::http::Uri, headers: HeaderMap) -> ApiError {
    let lang = Params::from_uri(&uri).lang(&headers);
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        match lang {
            Lang::Da => "Adressen tager ikke imod denne metode. Se i /api/v1/openapi.json, hvilke den tager.".into(),
            Lang::En => "This address does not take this method. See the ones it takes in /api/v1/openapi.json.".into(),
        },
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

#[derive(Serialize)]
struct Localised {
    da: String,
    en: String,
}

#[derive(Serialize)]
struct RecipientRef {
    key: String,
    name: String,
}

fn recipient_ref(policy: &Policy, key: &Option<String>) -> Option<RecipientRef> {
    key.as_ref().map(|k| RecipientRef {
        key: k.clone(),
        name: policy.recipient(k).map(|r| r.name.clone()).unwrap_or_else(|| k.clone()),
    })
}

#[derive(Serialize)]
struct SessionOut {
    id: String,
    starts_on: String,
    ends_on: String,
    location: String,
    online: bool,
    language: String,
    price_dkk: i64,
    seats_left: u32,
}

#[derive(Serialize)]
struct CourseOut {
    slug: String,
    title: Localised,
    summary: Localised,
    delivered_by: Option<RecipientRef>,
    certification: bool,
    sessions: Vec<SessionOut>,
}

fn internal(e: CoreError, lang: Lang) -> ApiError {
    ApiError::from_core(e, lang)
}

async fn courses<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let policy = &state.pactum.policy;
    let listings = state.pactum.course_listings().await.map_err(|e| internal(e, lang))?;
    let out: Vec<CourseOut> = listings
        .into_iter()
        .map(|l| CourseOut {
            delivered_by: recipient_ref(policy, &l.course.delivered_by),
            slug: l.course.slug,
            title: Localised { da: l.course.title_da, en: l.course.title_en },
            summary: Localised { da: l.course.summary_da, en: l.course.summary_en },
            certification: l.course.certification,
            sessions: l
                .sessions
                .into_iter()
                .map(|s| SessionOut {
                    id: s.session.id.to_string(),
                    starts_on: pactum_store::date_to_text(s.session.starts_on),
                    ends_on: pactum_store::date_to_text(s.session.ends_on),
                    location: s.session.location,
                    online: s.session.online,
                    language: s.session.language,
                    price_dkk: s.session.price_ore / 100,
                    seats_left: s.seats_left,
                })
                .collect(),
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Serialize)]
struct EventOut {
    slug: String,
    title: Localised,
    summary: Localised,
    starts_on: String,
    ends_on: String,
    location: String,
    co_organiser: Option<RecipientRef>,
    sponsor: Option<RecipientRef>,
    seats_left: u32,
}

async fn events<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let policy = &state.pactum.policy;
    let listings = state.pactum.event_listings().await.map_err(|e| internal(e, lang))?;
    let out: Vec<EventOut> = listings
        .into_iter()
        .map(|(e, left)| EventOut {
            co_organiser: recipient_ref(policy, &e.co_organiser),
            sponsor: recipient_ref(policy, &e.sponsor),
            slug: e.slug,
            title: Localised { da: e.title_da, en: e.title_en },
            summary: Localised { da: e.summary_da, en: e.summary_en },
            starts_on: pactum_store::date_to_text(e.starts_on),
            ends_on: pactum_store::date_to_text(e.ends_on),
            location: e.location,
            seats_left: left,
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Serialize)]
struct NoticeOut {
    policy_version: String,
    lang: &'static str,
    controller: ControllerOut,
    purposes: Vec<PurposeOut>,
}

#[derive(Serialize)]
struct ControllerOut {
    name: String,
    cvr: String,
    address: String,
    email: String,
}

#[derive(Serialize)]
struct PurposeOut {
    key: String,
    label: String,
    description: String,
    basis: String,
    article: &'static str,
    interest: Option<String>,
    requirement: Option<String>,
    consent_text: Option<String>,
    retention: String,
    fields: Vec<FieldOut>,
    recipients: Vec<String>,
}

#[derive(Serialize)]
struct FieldOut {
    category: String,
    label: String,
    required: bool,
}

/// The notice for the purposes a headless form starts, rendered from the policy (P03).
async fn notice<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let policy = &state.pactum.policy;
    let params = Params::from_uri(&uri);
    let keys: Vec<&str> = match params.get("purposes") {
        Some(list) if !list.trim().is_empty() => list.split(',').map(str::trim).collect(),
        _ => policy.purposes.iter().map(|p| p.key.as_str()).collect(),
    };
    let mut purposes = Vec::new();
    for key in keys {
        let Some(p) = policy.purpose(key) else {
            return Err(ApiError::from_core(
                CoreError::Invalid(vec![FieldError { field: "purposes".into(), problem: Problem::UnknownChoice }]),
                lang,
            ));
        };
        let view: PurposeView = purpose_view(policy, p, lang);
        purposes.push(PurposeOut {
            key: view.key,
            label: view.label,
            description: view.description,
            basis: p.basis.key().to_string(),
            article: view.article,
            interest: view.interest,
            requirement: view.requirement,
            consent_text: view.consent_text,
            retention: view.retention,
            fields: p
                .fields
                .iter()
                .map(|f| FieldOut {
                    category: f.category.clone(),
                    label: policy.category(&f.category).map(|c| c.label.get(lang).to_string()).unwrap_or_default(),
                    required: f.required,
                })
                .collect(),
            recipients: view.recipients,
        });
    }
    let c = &policy.controller;
    Ok(Json(NoticeOut {
        policy_version: policy.version.clone(),
        lang: lang.code(),
        controller: ControllerOut {
            name: c.name.clone(),
            cvr: c.cvr.clone(),
            address: c.address.clone(),
            email: c.email.clone(),
        },
        purposes,
    })
    .into_response())
}

/// A body whose declared fields come as a map of category to value.
fn field_values(fields: FieldMap) -> Vec<(String, String)> {
    fields.0.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentBody {
    session_id: String,
    fields: FieldMap,
    #[serde(default)]
    certification: bool,
    #[serde(default)]
    newsletter: bool,
    notice_version: String,
}

#[derive(Serialize)]
struct SignedUp {
    id: String,
    /// `confirmation_requested` when the newsletter box was ticked; the same whether or not the
    /// address was already subscribed, so the answer never tells whether an address is known.
    newsletter: Option<&'static str>,
}

async fn enrol<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<EnrolmentBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let session = session_id(&body.session_id, lang)?;
    let request = EnrolmentRequest {
        session,
        values: field_values(body.fields),
        certification: body.certification,
        newsletter: body.newsletter,
        lang,
        method: "api".into(),
        notice_version: body.notice_version,
        repeat_key: repeat_key(&headers, lang)?,
    };
    let done = state.pactum.enrol(request).await.map_err(|e| activity_error(e, lang))?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            id: done.enrolment.to_string(),
            newsletter: done.newsletter.map(|_| "confirmation_requested"),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    session_id: String,
    buyer_kind: pactum_core::orders::BuyerKind,
    buyer: FieldMap,
    #[serde(default)]
    cvr: Option<String>,
    #[serde(default)]
    purchase_order: Option<String>,
    participants: Vec<FieldMap>,
    notice_version: String,
}

#[derive(Serialize)]
struct IssuedInvoice {
    id: String,
    number: u64,
    issued_on: String,
    due_on: String,
    currency: &'static str,
    net_ore: i64,
    vat_ore: i64,
    total_ore: i64,
    /// Until when the invoice and the buyer's details on it are kept (Bookkeeping Act, L6).
    kept_until: Option<String>,
}

#[derive(Serialize)]
struct Ordered {
    order_id: String,
    participants: Vec<String>,
    payment_status: String,
    invoice: IssuedInvoice,
}

/// Orders seats for named participants (P04); the invoice is issued in the same transaction.
async fn order<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<OrderBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let session = session_id(&body.session_id, lang)?;
    let request = pactum_core::orders::OrderRequest {
        session,
        buyer_kind: body.buyer_kind,
        buyer: field_values(body.buyer),
        cvr: body.cvr,
        purchase_order: body.purchase_order,
        participants: body.participants.into_iter().map(field_values).collect(),
        lang,
        method: "api".into(),
        notice_version: body.notice_version,
        repeat_key: repeat_key(&headers, lang)?,
    };
    let placed = state.pactum.place_order(request).await.map_err(|e| match e {
        // The buyer's fields are named as the body nests them: `buyer.email`.
        CoreError::Invalid(problems) => activity_error(
            CoreError::Invalid(
                problems
                    .into_iter()
                    .map(|p| match p.field.as_str() {
                        "cvr" | "purchase_order" | "participants" => p,
                        f if f.starts_with("participants[") => p,
                        f => FieldError { field: format!("buyer.{f}"), problem: p.problem },
                    })
                    .collect(),
            ),
            lang,
        ),
        other => activity_error(other, lang),
    })?;
    let document = state
        .pactum
        .invoice_document(placed.invoice)
        .await
        .map_err(|e| ApiError::from_core(e, lang))?
        .ok_or_else(|| unknown_activity(lang))?;
    let invoice = &document.invoice;
    // A repeat of the request answers with the order as it is now: it may have been paid since.
    let payment_status = match placed.repeated {
        false => "pending".to_string(),
        true => match state.pactum.store.backend().order(placed.order).await {
            Ok(Some(order)) => order.payment_status,
            Ok(None) => return Err(unknown_activity(lang)),
            Err(e) => return Err(ApiError::from_core(e.into(), lang)),
        },
    };
    let answer = Ordered {
        order_id: placed.order.to_string(),
        participants: placed.participants.iter().map(ToString::to_string).collect(),
        payment_status,
        invoice: IssuedInvoice {
            id: invoice.id.to_string(),
            number: invoice.number,
            issued_on: pactum_store::date_to_text(invoice.issued_on),
            due_on: pactum_store::date_to_text(invoice.due_on),
            currency: "DKK",
            net_ore: invoice.net_ore,
            vat_ore: invoice.vat_ore,
            total_ore: invoice.total_ore,
            kept_until: document.retain_until.map(pactum_store::date_to_text),
        },
    };
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

/// The `session_id` of a request: a 400 naming the field when it is not an id at all, so that a
/// typo is not mistaken for a session that no longer exists.
fn session_id(raw: &str, lang: Lang) -> Result<SessionId, ApiError> {
    Uuid::parse_str(raw.trim()).map(SessionId).map_err(|_| {
        let problem = pactum_core::values::FieldError {
            field: "session_id".into(),
            problem: pactum_core::values::Problem::NotAnId,
        };
        ApiError::from_core(CoreError::Invalid(vec![problem]), lang)
    })
}

fn unknown_activity(lang: Lang) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        match lang {
            Lang::Da => "Holdet eller arrangementet findes ikke (længere). Hent kataloget igen.".into(),
            Lang::En => "The session or event does not exist (any more). Fetch the catalogue again.".into(),
        },
    )
}

/// The caller's `Idempotency-Key`, if it sent one: the same request sent again under it is made
/// once (see [`pactum_core::repeats`]).
pub(crate) fn repeat_key(headers: &HeaderMap, lang: Lang) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    match value.to_str().ok().filter(|key| pactum_core::repeats::key_is_valid(key)) {
        Some(key) => Ok(Some(key.to_string())),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            match lang {
                Lang::Da => format!(
                    "Headeren Idempotency-Key skal være 1 til {} synlige ASCII-tegn, f.eks. en UUID. Intet er gemt.",
                    pactum_core::repeats::MAX_KEY_LEN
                ),
                Lang::En => format!(
                    "The Idempotency-Key header must be 1 to {} visible ASCII characters, such as a UUID. Nothing was stored.",
                    pactum_core::repeats::MAX_KEY_LEN
                ),
            },
        )),
    }
}

fn activity_error(e: CoreError, lang: Lang) -> ApiError {
    match e {
        CoreError::UnknownActivity => unknown_activity(lang),
        CoreError::Full => ApiError::new(
            StatusCode::CONFLICT,
            "full",
            match lang {
                Lang::Da => "Der er ikke flere pladser. Vælg et andet hold.".into(),
                Lang::En => "There are no seats left. Choose another session.".into(),
            },
        ),
        CoreError::NoticeChanged => ApiError::new(
            StatusCode::CONFLICT,
            "notice_changed",
            match lang {
                Lang::Da => "Privatlivspolitikken er ændret. Vis den nye tekst fra /api/v1/notice, og send igen med den nye version.".into(),
                Lang::En => "The privacy notice changed. Show the new text from /api/v1/notice and send again with the new version.".into(),
            },
        ),
        other => ApiError::from_core(other, lang),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSignupBody {
    fields: FieldMap,
    #[serde(default)]
    sponsor_sharing: bool,
    #[serde(default)]
    newsletter: bool,
    notice_version: String,
}

async fn event_signup<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Path(slug): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<EventSignupBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let events = state.pactum.event_listings().await.map_err(|e| internal(e, lang))?;
    let event = events.into_iter().map(|(e, _)| e).find(|e| e.slug == slug).ok_or_else(|| unknown_activity(lang))?;
    let request = EventSignupRequest {
        event: event.id.0,
        values: field_values(body.fields),
        sponsor_sharing: body.sponsor_sharing,
        newsletter: body.newsletter,
        lang,
        method: "api".into(),
        notice_version: body.notice_version,
        repeat_key: repeat_key(&headers, lang)?,
    };
    let done = state.pactum.sign_up_for_event(request).await.map_err(|e| activity_error(e, lang))?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            id: done.enrolment.to_string(),
            newsletter: done.newsletter.map(|_| "confirmation_requested"),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    email: String,
    name: Option<String>,
    interests: Option<String>,
    /// Must be true: the person ticked the separate, unticked box (P07).
    consent: bool,
    notice_version: String,
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

async fn subscribe<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<SubscribeBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    if !body.consent {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "consent_required",
            message: match lang {
                Lang::Da => "Feltet «consent» skal være true: personen skal selv have sat kryds i boksen.".into(),
                Lang::En => "The field «consent» must be true: the person must have ticked the box themselves.".into(),
            },
            fields: Vec::new(),
        });
    }
    let subscription = Subscription {
        email: body.email,
        name: body.name,
        interests: body.interests,
        lang,
        method: "api".into(),
        notice_version: body.notice_version,
    };
    state.pactum.subscribe_newsletter(subscription).await.map_err(|e| match e {
        // The body's `interests` is stored as the policy's category `newsletter_interests`: named as sent.
        CoreError::Invalid(mut problems) => {
            for p in problems.iter_mut().filter(|p| p.field == "newsletter_interests") {
                p.field = "interests".into();
            }
            ApiError::from_core(CoreError::Invalid(problems), lang)
        }
        other => activity_error(other, lang),
    })?;
    Ok((StatusCode::ACCEPTED, Json(Status { status: "confirmation_requested" })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    token: String,
}

#[derive(Serialize)]
struct Confirmed {
    consent_id: String,
    state: &'static str,
}

fn link_error(e: CoreError, lang: Lang) -> ApiError {
    match e {
        CoreError::InvalidLink => ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_token",
            match lang {
                Lang::Da => "Linket er ikke gyldigt. Brug hele linket fra mailen.".into(),
                Lang::En => "The link is not valid. Use the whole link from the mail.".into(),
            },
        ),
        CoreError::LinkExpired => ApiError::new(
            StatusCode::GONE,
            "expired_token",
            match lang {
                Lang::Da => "Linket er udløbet. Tilmeld dig igen.".into(),
                Lang::En => "The link has expired. Sign up again.".into(),
            },
        ),
        other => ApiError::from_core(other, lang),
    }
}

async fn confirm<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let consent = state.pactum.confirm_consent(&body.token).await.map_err(|e| link_error(e, lang))?;
    Ok(Json(Confirmed { consent_id: consent.id.to_string(), state: consent.state.key() }).into_response())
}

#[derive(Serialize)]
struct KeptOut {
    purpose: String,
    basis: String,
    retain_until: Option<String>,
}

#[derive(Serialize)]
struct Unsubscribed {
    consent_id: String,
    withdrawn_now: bool,
    deleted_after: Option<String>,
    kept: Vec<KeptOut>,
}

async fn unsubscribe<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let w = state.pactum.unsubscribe(&body.token, "api").await.map_err(|e| link_error(e, lang))?;
    Ok(Json(Unsubscribed {
        consent_id: w.consent.to_string(),
        withdrawn_now: w.newly,
        deleted_after: w.retain_until.map(pactum_store::date_to_text),
        kept: w
            .kept
            .into_iter()
            .map(|k| KeptOut {
                purpose: k.purpose,
                basis: k.basis,
                retain_until: k.retain_until.map(pactum_store::date_to_text),
            })
            .collect(),
    })
    .into_response())
}

/// The bearer token of a request, if it sent one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The API token of a request when it is valid and holds `scope`; otherwise the 401 or 403.
pub(crate) async fn authorise<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    headers: &HeaderMap,
    scope: Scope,
    lang: Lang,
) -> Result<pactum_store::ApiToken, ApiError> {
    let unauthorised = |error, da: &str, en: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, error, if lang == Lang::Da { da.into() } else { en.into() })
    };
    let Some(secret) = bearer(headers) else {
        return Err(unauthorised(
            "missing_token",
            "Send en API-nøgle i headeren Authorization: Bearer <nøgle>.",
            "Send an API token in the header Authorization: Bearer <token>.",
        ));
    };
    let token = state.pactum.api_token(secret).await.map_err(|e| ApiError::from_core(e, lang))?;
    let Some(token) = token else {
        return Err(unauthorised(
            "invalid_token",
            "API-nøglen er ukendt eller tilbagekaldt. Bed en administrator om en ny.",
            "The API token is unknown or revoked. Ask an admin for a new one.",
        ));
    };
    if !grants(&token, scope) {
        let message = match lang {
            Lang::Da => format!("API-nøglen giver ikke adgang til dette. Den skal have adgangen `{}`.", scope.key()),
            Lang::En => format!("The API token does not allow this. It needs the scope `{}`.", scope.key()),
        };
        return Err(ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", message));
    }
    Ok(token)
}

#[derive(Serialize)]
struct CatalogueImported {
    courses: usize,
    sessions: usize,
    events: usize,
}

async fn put_catalogue<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let token = authorise(&state, &headers, Scope::CatalogueWrite, lang).await?;
    let Ok(text) = std::str::from_utf8(&body) else {
        let message = match lang {
            Lang::Da => "Kataloget skal sendes som UTF-8-tekst i TOML-format.",
            Lang::En => "Send the catalogue as UTF-8 text in TOML format.",
        };
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "not_utf8", message.into()));
    };
    match state.pactum.import_catalogue(text, &format!("api_token:{}", token.id)).await {
        Ok(summary) => {
            Ok(Json(CatalogueImported { courses: summary.courses, sessions: summary.sessions, events: summary.events })
                .into_response())
        }
        Err(CoreError::Catalogue(problems)) => {
            let message = match lang {
                Lang::Da => "Kataloget er ikke gyldigt, og intet er gemt. Ret problemerne i `fields`.",
                Lang::En => "The catalogue is not valid and nothing was stored. Fix the problems listed in `fields`.",
            };
            Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_catalogue",
                message: message.into(),
                fields: problems
                    .into_iter()
                    .map(|m| crate::api_error::FieldProblem { field: "catalogue".into(), message: m })
                    .collect(),
            })
        }
        Err(e) => Err(ApiError::from_core(e, lang)),
    }
}
