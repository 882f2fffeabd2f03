//! "My data" as JSON under `/api/v1/rights`, so that an existing website can offer the rights
//! itself (P30–P35, L1, L5). The identity check is the same: a link mailed to a known address,
//! with the same answer for an unknown one and the same limits. The mailed token is exchanged for
//! a 30-minute visit token, sent as `Authorization: Bearer <token>` with every other call.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pactum_core::rights::RequestKind;
use pactum_core::{Clock, CoreError};
use pactum_policy::Lang;
use pactum_store::{Backend, SubjectId};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api_error::{ApiError, Params};
use crate::transport::ClientIp;

pub fn routes<B: Backend, C: Clock>() -> axum::Router<Arc<AppState<B, C>>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/v1/rights/access-links", post(access_link::<B, C>))
        .route("/api/v1/rights/sessions", post(session::<B, C>))
        .route("/api/v1/rights/report", get(report::<B, C>))
        .route("/api/v1/rights/portability", get(portability::<B, C>))
        .route("/api/v1/rights/consents/{consent}/withdrawal", post(withdraw::<B, C>))
        .route("/api/v1/rights/objections/marketing", post(object_to_marketing::<B, C>))
        .route("/api/v1/rights/requests", post(send_request::<B, C>))
        .route("/api/v1/rights/rectifications", post(rectify::<B, C>))
        .route("/api/v1/rights/erasure", post(erase::<B, C>))
}

fn words(lang: Lang, da: &str, en: &str) -> String {
    if lang == Lang::Da { da.into() } else { en.into() }
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The person a visit token belongs to; 401 without a valid one.
async fn visitor<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    headers: &HeaderMap,
    lang: Lang,
) -> Result<SubjectId, ApiError> {
    let unauthorised = |error, da: &str, en: &str| ApiError::new(StatusCode::UNAUTHORIZED, error, words(lang, da, en));
    let Some(token) = crate::api::bearer(headers) else {
        return Err(unauthorised(
            "missing_token",
            "Send besøgsnøglen fra /api/v1/rights/sessions i headeren Authorization: Bearer <nøgle>.",
            "Send the visit token from /api/v1/rights/sessions in the header Authorization: Bearer <token>.",
        ));
    };
    match state.pactum.portal_subject(token).await {
        Ok(subject) => Ok(subject),
        Err(CoreError::InvalidLink | CoreError::LinkExpired | CoreError::SubjectGone) => Err(unauthorised(
            "invalid_token",
            "Besøgsnøglen er ukendt eller udløbet (den virker i 30 minutter). Bed om et nyt link.",
            "The visit token is unknown or has expired (it lasts 30 minutes). Ask for a new link.",
        )),
        Err(e) => Err(ApiError::from_core(e, lang)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessLinkBody {
    email: String,
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// Mails a "My data" link when the address is known; the answer is the same either way (L1).
async fn access_link<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    ClientIp(client): ClientIp,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<AccessLinkBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let email: String = body.email.chars().take(254).collect();
    let per_address = state.access_per_email.allow(state.pactum.keys.blind_index.email(&email));
    if !state.access_limiter.allow(client) || !per_address {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            words(lang, "For mange forsøg. Vent lidt og prøv igen.", "Too many attempts. Wait a little and try again."),
        ));
    }
    state.pactum.request_access(&email, lang).await.map_err(|e| ApiError::from_core(e, lang))?;
    Ok((StatusCode::ACCEPTED, Json(Status { status: "sent_if_known" })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    token: String,
}

#[derive(Serialize)]
struct Visit {
    token: String,
    expires_in_seconds: i64,
}

/// Exchanges the token of a mailed link (once) for a 30-minute visit token.
async fn session<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<SessionBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    match state.pactum.open_access(&body.token).await {
        Ok(token) => {
            let visit = Visit { token, expires_in_seconds: pactum_core::access::PORTAL_MINUTES * 60 };
            Ok(no_store((StatusCode::CREATED, Json(visit)).into_response()))
        }
        Err(CoreError::InvalidLink | CoreError::SubjectGone) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_token",
            words(
                lang,
                "Linket virker ikke. Det er måske allerede brugt. Bed om et nyt.",
                "The link does not work. It may have been used already. Ask for a new one.",
            ),
        )),
        Err(CoreError::LinkExpired) => Err(ApiError::new(
            StatusCode::GONE,
            "expired_token",
            words(lang, "Linket er udløbet. Bed om et nyt.", "The link has expired. Ask for a new one."),
        )),
        Err(e) => Err(ApiError::from_core(e, lang)),
    }
}

/// Everything held about the person (P30, P31).
async fn report<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    let report = state.pactum.subject_report(subject, lang).await.map_err(|e| ApiError::from_core(e, lang))?;
    Ok(no_store(Json(report).into_response()))
}

/// What the person gave under consent or contract (L5).
async fn portability<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    let items = state.pactum.portable_items(subject, lang).await.map_err(|e| ApiError::from_core(e, lang))?;
    Ok(no_store(Json(serde_json::json!({"items": items})).into_response()))
}

#[derive(Serialize)]
struct KeptOut {
    purpose: String,
    basis: String,
    retain_until: Option<String>,
}

#[derive(Serialize)]
struct Withdrawn {
    consent_id: String,
    withdrawn_now: bool,
    kept: Vec<KeptOut>,
}

fn not_found(lang: Lang) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        words(lang, "Det findes ikke blandt dine oplysninger.", "That is not among your data."),
    )
}

/// Withdraws one of the person's consents at once (P21, C6).
async fn withdraw<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(consent): Path<String>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    // Only the person's own consents: any other id is answered as not found.
    let record = state.pactum.own_consent(subject, &consent).await.map_err(|e| ApiError::from_core(e, lang))?;
    let Some(record) = record else { return Err(not_found(lang)) };
    let w = state.pactum.withdraw_consent(record, "portal").await.map_err(|e| ApiError::from_core(e, lang))?;
    let kept = w
        .kept
        .into_iter()
        .map(|k| KeptOut {
            purpose: k.purpose,
            basis: k.basis,
            retain_until: k.retain_until.map(pactum_store::date_to_text),
        })
        .collect();
    Ok(no_store(Json(Withdrawn { consent_id: w.consent.to_string(), withdrawn_now: w.newly, kept }).into_response()))
}

#[derive(Serialize)]
struct Objected {
    withdrawn: Vec<String>,
}

/// An objection to marketing: at once and unconditionally (P35, C2).
async fn object_to_marketing<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    let repeat_key = crate::api::repeat_key(&headers, lang)?;
    let withdrawn = state
        .pactum
        .object_to_marketing(subject, repeat_key.as_deref())
        .await
        .map_err(|e| ApiError::from_core(e, lang))?;
    Ok(no_store(Json(Objected { withdrawn }).into_response()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    kind: String,
    details: String,
    #[serde(default)]
    restrict: bool,
}

#[derive(Serialize)]
struct Requested {
    id: String,
    due_on: String,
    restricted: bool,
}

/// A request for the DPO: an objection, an accuracy dispute, a restriction, anything else.
async fn send_request<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<RequestBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let kind = match RequestKind::parse(&body.kind) {
        Some(
            kind
            @ (RequestKind::Objection | RequestKind::Rectification | RequestKind::Restriction | RequestKind::Other),
        ) => kind,
        _ => {
            let problem = pactum_core::values::FieldError {
                field: "kind".into(),
                problem: pactum_core::values::Problem::UnknownChoice,
            };
            return Err(ApiError::from_core(CoreError::Invalid(vec![problem]), lang));
        }
    };
    let repeat_key = crate::api::repeat_key(&headers, lang)?;
    let pactum = &state.pactum;
    let id = pactum
        .request_from_portal(subject, kind, &body.details, body.restrict, lang, repeat_key)
        .await
        .map_err(|e| ApiError::from_core(e, lang))?;
    let request = pactum.store.backend().rights_request(id).await.map_err(|e| ApiError::from_core(e.into(), lang))?;
    let (due_on, restricted) = request.map(|r| (r.due_on, r.restricts)).ok_or_else(|| not_found(lang))?;
    let out = Requested { id: id.to_string(), due_on: pactum_store::date_to_text(due_on), restricted };
    Ok(no_store((StatusCode::CREATED, Json(out)).into_response()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RectificationBody {
    values: crate::json_problem::FieldMap,
}

#[derive(Serialize)]
struct Rectified {
    changed: Vec<String>,
    email_pending: bool,
}

/// The person's own corrections; a new e-mail address waits for its mailed link (P25, P32).
async fn rectify<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<RectificationBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let values: Vec<(String, String)> = body.values.0.into_iter().collect();
    let done = state.pactum.rectify(subject, &values, lang).await.map_err(|e| ApiError::from_core(e, lang))?;
    Ok(no_store(Json(Rectified { changed: done.changed, email_pending: done.email_pending.is_some() }).into_response()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasureBody {
    confirm: bool,
}

#[derive(Serialize)]
struct KeptHoldOut {
    purpose: String,
    statute: Option<String>,
    categories: Vec<String>,
    /// `null` while the hold's end is still to come (a request not yet answered).
    retain_until: Option<String>,
}

#[derive(Serialize)]
struct Erased {
    items_deleted: usize,
    proof: String,
    kept: Vec<KeptHoldOut>,
}

/// Erasure at the person's request, with what the law keeps listed with its date (P19, P33).
async fn erase<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<ErasureBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let subject = visitor(&state, &headers, lang).await?;
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    if !body.confirm {
        let problem = pactum_core::values::FieldError {
            field: "confirm".into(),
            problem: pactum_core::values::Problem::MustBeTrue,
        };
        return Err(ApiError::from_core(CoreError::Invalid(vec![problem]), lang));
    }
    let repeat_key = crate::api::repeat_key(&headers, lang)?;
    let erasure = state
        .pactum
        .erase_on_request(subject, "erasure requested by the person (GDPR Art. 17)", "subject", repeat_key.as_deref())
        .await
        .map_err(|e| ApiError::from_core(e, lang))?;
    let kept = erasure
        .kept
        .into_iter()
        .map(|k| KeptHoldOut {
            purpose: k.purpose,
            statute: k.statute,
            categories: k.categories,
            retain_until: k.retain_until.map(pactum_store::date_to_text),
        })
        .collect();
    let out = Erased { items_deleted: erasure.items_deleted, proof: erasure.proof.to_string(), kept };
    Ok(no_store(Json(out).into_response()))
}
