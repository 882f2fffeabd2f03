//! Security headers on every response: a CSP that allows nothing from other origins and no inline
//! script (DESIGN invariant 7), no framing, no sniffing, no referrer.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    // `same-origin`, not `no-referrer`: other sites still get no referrer, while browsers keep sending
    // the real Origin on our own form posts (with `no-referrer` they send `Origin: null`).
    (header::REFERRER_POLICY, "same-origin"),
    (HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()"),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
];

/// Whether `headers` say the body is of the media type `mime` (parameters such as `charset` aside,
/// in any letter case).
pub fn content_type_is(headers: &axum::http::HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
}

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        // A page may widen exactly one thing, where its forms lead (see [`with_form_target`]).
        if name == header::CONTENT_SECURITY_POLICY && headers.contains_key(&name) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Lets the forms of this page lead to `origin` as well (the payment provider's hosted page, which
/// the order form's answer redirects to); everything else of the policy stays as it is.
/// A page with a form on it is kept by no cache: each rendered form has a key of its own (see
/// `crate::forms`), and a cached copy would give every visitor the same one.
pub fn not_stored(response: &mut Response) {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub fn with_form_target(response: &mut Response, origin: &str) {
    let csp = CSP.replace("form-action 'self'", &format!("form-action 'self' {origin}"));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
}
