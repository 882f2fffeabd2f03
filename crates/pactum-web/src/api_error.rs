//! Errors of the JSON endpoints: a status, a stable code, and a message in the caller's language
//! that says what to do. Internal causes are logged, never sent, and never contain personal data.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pactum_core::CoreError;
use pactum_policy::Lang;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

fn text(lang: Lang, da: &str, en: &str) -> String {
    match lang {
        Lang::Da => da.to_string(),
        Lang::En => en.to_string(),
    }
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: String) -> ApiError {
        ApiError { status, error, message, fields: Vec::new() }
    }

    pub fn from_core(e: CoreError, lang: Lang) -> ApiError {
        match e {
            CoreError::Invalid(problems) => {
                let fields: Vec<FieldProblem> = problems
                    .iter()
                    .map(|p| FieldProblem { field: p.field.clone(), message: p.message(lang) })
                    .collect();
                let message = fields.first().map(|f| f.message.clone()).unwrap_or_default();
                ApiError { status: StatusCode::BAD_REQUEST, error: "invalid_input", message, fields }
            }
            CoreError::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                text(
                    lang,
                    "Denne Idempotency-Key er brugt til en anden forespørgsel. Brug en ny nøgle til en ny forespørgsel. Intet er gemt.",
                    "This Idempotency-Key was used for another request. Use a new key for a new request. Nothing was stored.",
                ),
            ),
            CoreError::Conflict => ApiError::new(
                StatusCode::CONFLICT,
                "changed_meanwhile",
                text(
                    lang,
                    "Ordren blev ændret samtidig. Hent den igen, og prøv igen.",
                    "The order changed at the same time. Fetch it again and retry.",
                ),
            ),
            CoreError::UnknownParticipant => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_participant",
                text(
                    lang,
                    "Deltageren findes ikke på holdet. Brug referencen fra deltagerlisten.",
                    "No such participant on this session. Use the reference from the participant list.",
                ),
            ),
            CoreError::UnknownMessage => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                text(
                    lang,
                    "Beskeden findes ikke. Beskeder slettes, når kurset er slut.",
                    "No such message. Messages are deleted when the course ends.",
                ),
            ),
            CoreError::CertificationNotChosen => ApiError::new(
                StatusCode::CONFLICT,
                "certification_not_chosen",
                text(
                    lang,
                    "Deltageren har ikke valgt certificering eller har gjort indsigelse. Send ikke beskeder om personen.",
                    "The participant has not chosen certification, or has objected to it. Send no messages about them.",
                ),
            ),
            CoreError::Refused(refusal) => {
                ApiError::new(StatusCode::FORBIDDEN, "disclosure_refused", refusal.describe(lang))
            }
            CoreError::StaleCookieVersion => ApiError::new(
                StatusCode::CONFLICT,
                "stale_cookie_version",
                text(
                    lang,
                    "Cookiepolitikken er ændret, siden banneret blev vist. Hent den nye udgave og spørg igen.",
                    "The cookie policy changed after the banner was shown. Fetch the new version and ask again.",
                ),
            ),
            CoreError::Store(pactum_store::StoreError::Unavailable(_)) => {
                tracing::error!(error = %e, "the database is unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    text(
                        lang,
                        "Tjenesten er midlertidigt utilgængelig. Prøv igen om lidt.",
                        "The service is temporarily unavailable. Try again shortly.",
                    ),
                )
            }
            other => {
                tracing::error!(error = %other, "a request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    text(
                        lang,
                        "Noget gik galt hos os. Prøv igen senere.",
                        "Something went wrong on our side. Try again later.",
                    ),
                )
            }
        }
    }

    pub fn from_json_rejection(rejection: JsonRejection, lang: Lang) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                text(
                    lang,
                    "Send indholdet som JSON med Content-Type: application/json.",
                    "Send the body as JSON with Content-Type: application/json.",
                ),
            ),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                text(
                    lang,
                    "Indholdet er ikke gyldig JSON. Ret det og prøv igen.",
                    "The body is not valid JSON. Fix it and try again.",
                ),
            ),
            JsonRejection::JsonDataError(e) => {
                let problem = crate::json_problem::describe(&e, lang);
                ApiError {
                    status: StatusCode::BAD_REQUEST,
                    error: "invalid_json_fields",
                    message: problem.message.clone(),
                    fields: vec![FieldProblem { field: problem.field, message: problem.message }],
                }
            }
            JsonRejection::BytesRejection(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                text(lang, "Indholdet er for stort.", "The body is too large."),
            ),
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                text(lang, "Forespørgslen kunne ikke læses.", "The request could not be read."),
            ),
        }
    }
}

/// Retells a bare `413` (a request over [`crate::BODY_LIMIT`]; the limit's own answer is one line of
/// English) in the caller's language: a JSON error under `/api/` and for a JSON body, a short text
/// in Danish and English elsewhere. A JSON error that says so already is left as it is.
pub async fn explain_body_limit(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/")
        || crate::headers::content_type_is(request.headers(), "application/json");
    let lang = Params::from_uri(request.uri()).lang(request.headers());
    let response = next.run(request).await;
    let bare = response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !crate::headers::content_type_is(response.headers(), "application/json");
    if !bare {
        return response;
    }
    let kib = crate::BODY_LIMIT / 1024;
    if api {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            match lang {
                Lang::Da => format!("Indholdet er større end {kib} KiB. Send mindre, f.eks. kortere tekster."),
                Lang::En => format!("The body is larger than {kib} KiB. Send less, such as shorter texts."),
            },
        )
        .into_response();
    }
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "Det sendte er større end {kib} KiB. Gå tilbage, gør teksterne kortere, og send igen.\n\
             What was sent is larger than {kib} KiB. Go back, shorten the texts and send again.\n"
        ),
    )
        .into_response()
}

/// The caller's language: `?lang=`, else the first of da/en in Accept-Language, else Danish.
pub fn request_lang(query_lang: Option<&str>, headers: &axum::http::HeaderMap) -> Lang {
    if let Some(lang) = query_lang.and_then(Lang::from_code) {
        return lang;
    }
    let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    for tag in accept.split(',') {
        let primary = tag.split(';').next().unwrap_or("").trim().split('-').next().unwrap_or("").to_ascii_lowercase();
        if let Some(lang) = Lang::from_code(&primary) {
            return lang;
        }
    }
    Lang::Da
}

/// The query string's parameters, leniently: a malformed or repeated parameter never fails a request.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn from_uri(uri: &axum::http::Uri) -> Params {
        Params(uri.query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The caller's language from `?lang=` or Accept-Language.
    pub fn lang(&self, headers: &axum::http::HeaderMap) -> Lang {
        request_lang(self.get("lang"), headers)
    }
}
