//! The consent widget's server side (P26–P29, C5, L12): its configuration built from the policy's
//! cookie list, the decision log, and receipts. Any site may call these endpoints (CORS, no
//! credentials); Pactum sets no cookie here.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pactum_core::Clock;
use pactum_core::cookie_consent::{CookieDecision, OPTIONAL};
use pactum_policy::{CookieCategory, CookieLifetime, Lang, Policy, RecipientRole};
use pactum_store::{Backend, CookieConsent, ReceiptId};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use tower_http::cors::{Any, CorsLayer};

use crate::AppState;
use crate::api_error::{ApiError, Params};
use crate::notice;
use crate::transport::ClientIp;

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT_LANGUAGE])
        .max_age(std::time::Duration::from_secs(3600));
    Router::new()
        .route("/consent/config", get(config::<B, C>))
        .route("/consent/decisions", post(decide::<B, C>))
        .route("/consent/receipts/{receipt}", get(receipt::<B, C>))
        .layer(cors)
}

#[derive(Serialize)]
struct CookieInfo {
    name: String,
    provider: String,
    purpose: String,
    lifetime: String,
}

#[derive(Serialize)]
struct CategoryInfo {
    key: &'static str,
    label: &'static str,
    description: &'static str,
    required: bool,
    cookies: Vec<CookieInfo>,
    recipients: Vec<String>,
}

#[derive(Serialize)]
struct Texts {
    title: &'static str,
    body: &'static str,
    accept_all: &'static str,
    reject_all: &'static str,
    settings: &'static str,
    save: &'static str,
    close: &'static str,
    gpc_notice: &'static str,
    receipt_label: &'static str,
    button_label: &'static str,
    privacy_link: &'static str,
    always_on: &'static str,
    cookies_label: &'static str,
    recipients_label: &'static str,
}

#[derive(Serialize)]
struct Config {
    policy_version: String,
    cookie_version: String,
    lang: &'static str,
    privacy_url: String,
    consent_cookie: &'static str,
    consent_cookie_days: u32,
    categories: Vec<CategoryInfo>,
    texts: Texts,
}

/// The first-party cookie that holds the visitor's choice; the policy checker requires it to be listed as necessary.
pub use pactum_policy::CONSENT_COOKIE;

fn texts(lang: Lang) -> Texts {
    match lang {
        Lang::Da => Texts {
            title: "Vi bruger cookies",
            body: "Vi bruger nødvendige cookies, for at hjemmesiden virker. Med dit samtykke bruger vi også cookies til statistik og markedsføring. Du vælger selv, og du kan altid ændre dit valg med cookie-knappen nederst til venstre.",
            accept_all: "Accepter alle",
            reject_all: "Afvis alle",
            settings: "Indstillinger",
            save: "Gem mine valg",
            close: "Luk",
            gpc_notice: "Din browser sender signalet Global Privacy Control. Vi har derfor registreret et nej til markedsføring.",
            receipt_label: "Kvitterings-id for dit seneste valg",
            button_label: "Cookie-indstillinger",
            privacy_link: "Læs vores privatlivspolitik",
            always_on: "Altid slået til",
            cookies_label: "Cookies i denne kategori",
            recipients_label: "Deles med",
        },
        Lang::En => Texts {
            title: "We use cookies",
            body: "We use necessary cookies to make the website work. With your consent we also use cookies for statistics and marketing. The choice is yours, and you can always change it with the cookie button in the bottom left corner.",
            accept_all: "Accept all",
            reject_all: "Reject all",
            settings: "Settings",
            save: "Save my choices",
            close: "Close",
            gpc_notice: "Your browser sends the Global Privacy Control signal, so we have recorded a no to marketing.",
            receipt_label: "Receipt id of your latest choice",
            button_label: "Cookie settings",
            privacy_link: "Read our privacy notice",
            always_on: "Always on",
            cookies_label: "Cookies in this category",
            recipients_label: "Shared with",
        },
    }
}

fn description(category: CookieCategory, lang: Lang) -> &'static str {
    match (category, lang) {
        (CookieCategory::Necessary, Lang::Da) => {
            "Får hjemmesiden til at fungere, f.eks. husker de dine cookievalg og holder dig logget ind. De kan ikke slås fra."
        }
        (CookieCategory::Necessary, Lang::En) => {
            "Make the website work, for example by remembering your cookie choices and keeping you signed in. They cannot be switched off."
        }
        (CookieCategory::Statistics, Lang::Da) => {
            "Hjælper os med at forstå, hvordan hjemmesiden bruges, så vi kan forbedre den."
        }
        (CookieCategory::Statistics, Lang::En) => {
            "Help us understand how the website is used so that we can improve it."
        }
        (CookieCategory::Marketing, Lang::Da) => {
            "Lader vores markedsføringspartnere målrette annoncer for vores kurser. Dit cookie-id deles med dem."
        }
        (CookieCategory::Marketing, Lang::En) => {
            "Let our marketing partners target ads for our courses. Your cookie identifier is shared with them."
        }
    }
}

fn categories(policy: &Policy, lang: Lang) -> Vec<CategoryInfo> {
    let days = match lang {
        Lang::Da => "dage",
        Lang::En => "days",
    };
    std::iter::once(CookieCategory::Necessary)
        .chain(OPTIONAL)
        .map(|category| CategoryInfo {
            key: category.key(),
            label: category.label(lang),
            description: description(category, lang),
            required: category == CookieCategory::Necessary,
            cookies: policy
                .cookies
                .iter()
                .filter(|c| c.category == category)
                .map(|c| CookieInfo {
                    name: c.name.clone(),
                    provider: c.provider.clone(),
                    purpose: c.purpose.get(lang).to_string(),
                    lifetime: match c.lifetime {
                        CookieLifetime::Session => notice::wording(lang).session.to_string(),
                        CookieLifetime::Days(d) => format!("{d} {days}"),
                    },
                })
                .collect(),
            recipients: if category == CookieCategory::Marketing {
                policy
                    .recipients
                    .iter()
                    .filter(|r| r.role == RecipientRole::MarketingPartner)
                    .map(|r| r.name.clone())
                    .collect()
            } else {
                Vec::new()
            },
        })
        .collect()
}

async fn config<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let lang = Params::from_uri(&uri).lang(&headers);
    let policy = &state.pactum.policy;
    let consent_cookie_days = policy
        .cookies
        .iter()
        .find(|c| c.name == CONSENT_COOKIE)
        .and_then(|c| match c.lifetime {
            CookieLifetime::Days(d) => Some(d),
            CookieLifetime::Session => None,
        })
        .unwrap_or(180);
    let body = Config {
        policy_version: policy.version.clone(),
        cookie_version: policy.cookie_version.clone(),
        lang: lang.code(),
        privacy_url: format!("{}{}", state.pactum.settings.public_url, notice::path(lang)),
        consent_cookie: CONSENT_COOKIE,
        consent_cookie_days,
        categories: categories(policy, lang),
        texts: texts(lang),
    };
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    device_id: String,
    granted: Vec<String>,
    method: String,
    cookie_version: String,
}

#[derive(Serialize)]
struct DecisionResponse {
    receipt_id: String,
    recorded_at: String,
    policy_version: String,
    cookie_version: String,
    granted: Vec<String>,
    method: String,
}

fn rfc3339(micros: i64) -> String {
    pactum_core::clock::from_micros(micros).format(&Rfc3339).unwrap_or_default()
}

impl From<&CookieConsent> for DecisionResponse {
    fn from(c: &CookieConsent) -> Self {
        DecisionResponse {
            receipt_id: c.receipt.to_string(),
            recorded_at: rfc3339(c.decided_at),
            policy_version: c.policy_version.clone(),
            cookie_version: c.cookie_version.clone(),
            granted: c.granted.split(',').map(str::to_string).collect(),
            method: c.method.clone(),
        }
    }
}

async fn decide<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    ClientIp(client): ClientIp,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<DecisionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    if !state.consent_limiter.allow(client) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            match lang {
                Lang::Da => "For mange valg fra din adresse på kort tid. Vent et minut og prøv igen.".into(),
                Lang::En => "Too many choices from your address in a short time. Wait a minute and try again.".into(),
            },
        ));
    }
    let Json(request) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let decision = CookieDecision {
        device_id: request.device_id,
        granted: request.granted,
        method: request.method,
        cookie_version: request.cookie_version,
        ip: client,
        gpc_signal: headers.get("sec-gpc").and_then(|v| v.to_str().ok()).map(str::trim) == Some("1"),
    };
    let record = state.pactum.record_cookie_decision(decision).await.map_err(|e| ApiError::from_core(e, lang))?;
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(DecisionResponse::from(&record)))
        .into_response())
}

#[derive(Serialize)]
struct ReceiptPurpose {
    category: &'static str,
    label: &'static str,
    granted: bool,
    /// What this decision did to the category: granted, declined, withdrawn or unchanged_granted.
    state: &'static str,
    cookies: Vec<String>,
    third_parties: Vec<String>,
}

#[derive(Serialize)]
struct ReceiptController {
    name: String,
    cvr: String,
    address: String,
    email: String,
}

/// A consent receipt with the fields of Kantara CR v1.1 / ISO/IEC TS 27560 that apply (L12).
#[derive(Serialize)]
struct Receipt {
    receipt_id: String,
    receipt_version: &'static str,
    jurisdiction: &'static str,
    consent_timestamp: String,
    collection_method: String,
    policy_version: String,
    cookie_version: String,
    controller: ReceiptController,
    privacy_policy: String,
    purposes: Vec<ReceiptPurpose>,
    granted: Vec<String>,
    /// `withdrawal` when this decision took back a category granted before, else `grant`.
    state: &'static str,
}

async fn receipt<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Path(receipt): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "receipt_not_found",
            match lang {
                Lang::Da => "Der findes ingen kvittering med det id. Tjek id'et i cookie-indstillingerne.".into(),
                Lang::En => "There is no receipt with that id. Check the id in the cookie settings.".into(),
            },
        )
    };
    let id = uuid::Uuid::parse_str(&receipt).map(ReceiptId).map_err(|_| not_found())?;
    let record =
        state.pactum.cookie_receipt(id).await.map_err(|e| ApiError::from_core(e, lang))?.ok_or_else(not_found)?;
    let policy = &state.pactum.policy;
    let granted: Vec<String> = record.granted.split(',').map(str::to_string).collect();
    let previous = state.pactum.previous_cookie_decision(&record).await.map_err(|e| ApiError::from_core(e, lang))?;
    let before: Option<Vec<String>> = previous.map(|p| p.granted.split(',').map(str::to_string).collect());
    let purposes: Vec<ReceiptPurpose> = categories(policy, lang)
        .into_iter()
        .map(|c| ReceiptPurpose {
            category: c.key,
            label: c.label,
            granted: granted.iter().any(|g| g == c.key),
            state: pactum_core::cookie_consent::category_state(
                granted.iter().any(|g| g == c.key),
                before.as_ref().map(|b| b.iter().any(|g| g == c.key)),
            ),
            cookies: c.cookies.into_iter().map(|k| k.name).collect(),
            third_parties: c.recipients,
        })
        .collect();
    let controller = &policy.controller;
    let body = Receipt {
        receipt_id: record.receipt.to_string(),
        receipt_version: "KI-CR-v1.1.0",
        jurisdiction: "DK",
        consent_timestamp: rfc3339(record.decided_at),
        collection_method: record.method.clone(),
        policy_version: record.policy_version.clone(),
        cookie_version: record.cookie_version.clone(),
        controller: ReceiptController {
            name: controller.name.clone(),
            cvr: controller.cvr.clone(),
            address: controller.address.clone(),
            email: controller.email.clone(),
        },
        privacy_policy: format!("{}{}", state.pactum.settings.public_url, notice::path(lang)),
        state: if purposes.iter().any(|p| p.state == "withdrawn") { "withdrawal" } else { "grant" },
        purposes,
        granted,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
