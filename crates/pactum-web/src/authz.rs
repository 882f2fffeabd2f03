//! Who may use which staff page: one table, checked in one place (DESIGN invariant 5).
//!
//! Every staff route is listed in [`GRANTS`] with the roles that may use it. The guard in front of
//! the staff pages looks the matched route up: a route missing from the table is refused to
//! everyone, a request without a valid session is sent to the login page (401 for a form post),
//! and a role without a grant gets 403. A state-changing request must also come from Pactum's
//! own origin and carry the session's CSRF token. What a role may see *inside* a page (an
//! instructor, only their own sessions) is checked next to the data, in `pactum-core`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pactum_core::Clock;
use pactum_core::staff::{Role, Staff};
use pactum_store::Backend;
use pactum_vault::BlindIndexKey;

use crate::AppState;
use crate::forms::same_origin;

use Role::{Admin, Coordinator, Dpo, Instructor};

const EVERY_ROLE: &[Role] = &[Admin, Coordinator, Instructor, Dpo];

/// Every staff route and the roles granted it. Nothing else under `/admin` is reachable.
pub const GRANTS: &[(&str, &str, &[Role])] = &[
    ("GET", "/admin", EVERY_ROLE),
    ("POST", "/admin/logout", EVERY_ROLE),
    ("GET", "/admin/catalogue", &[Admin, Coordinator]),
    ("POST", "/admin/catalogue", &[Admin, Coordinator]),
    ("GET", "/admin/sessions", &[Admin, Coordinator, Instructor]),
    ("GET", "/admin/sessions/{session}/roster", &[Admin, Coordinator, Instructor]),
    // The partner's messages to the exam proctor: only instructors, and in pactum-core only the
    // session's own (P15).
    ("GET", "/admin/sessions/{session}/certification", &[Instructor]),
    ("GET", "/admin/certification/messages/{message}", &[Instructor]),
    ("POST", "/admin/sessions/{session}/certification/messages", &[Admin, Coordinator]),
    ("GET", "/admin/disclosures", &[Admin, Coordinator]),
    ("POST", "/admin/disclosures", &[Admin, Coordinator]),
    ("GET", "/admin/notifications", &[Admin, Dpo]),
    ("GET", "/admin/ropa", &[Admin, Dpo]),
    ("GET", "/admin/incidents", &[Admin, Dpo]),
    ("POST", "/admin/incidents", &[Admin, Dpo]),
    ("GET", "/admin/incidents/{incident}", &[Admin, Dpo]),
    ("POST", "/admin/incidents/{incident}/reported", &[Admin, Dpo]),
    ("GET", "/admin/requests", &[Admin, Dpo]),
    ("POST", "/admin/requests", &[Admin, Dpo]),
    ("GET", "/admin/requests/{request}", &[Admin, Dpo]),
    ("POST", "/admin/requests/{request}/extend", &[Admin, Dpo]),
    ("POST", "/admin/requests/{request}/decide", &[Admin, Dpo]),
    ("POST", "/admin/requests/{request}/erase", &[Admin, Dpo]),
    ("POST", "/admin/requests/{request}/send-link", &[Admin, Dpo]),
    ("GET", "/admin/staff", &[Admin]),
    ("POST", "/admin/staff", &[Admin]),
    ("POST", "/admin/staff/{staff}/disable", &[Admin]),
    ("GET", "/admin/api-tokens", &[Admin]),
    ("POST", "/admin/api-tokens", &[Admin]),
    ("POST", "/admin/api-tokens/{token}/revoke", &[Admin]),
    ("GET", "/admin/audit", &[Admin, Dpo]),
    ("GET", "/admin/retention", &[Admin, Dpo]),
    ("GET", "/admin/invoices", &[Admin, Coordinator]),
    ("GET", "/admin/invoices/{invoice}/peppol.xml", &[Admin, Coordinator]),
    ("POST", "/admin/orders/{order}/cancel", &[Admin, Coordinator]),
];

/// Whether `role` may use `method route` (the route as declared, e.g. `/admin/staff/{staff}/disable`).
pub fn granted(method: &Method, route: &str, role: Role) -> bool {
    GRANTS.iter().any(|(m, r, roles)| *m == method.as_str() && *r == route && roles.contains(&role))
}

/// Whether browsers keep `Secure` cookies from this address: under TLS, and on a loopback address
/// (browsers treat `http://localhost` and `http://127.0.0.1` as secure contexts).
fn secure_context(public_url: &str) -> bool {
    if public_url.starts_with("https://") {
        return true;
    }
    let authority = public_url.trim_start_matches("http://").split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The staff session cookie, as the policy's cookie list names it: a `__Host-` cookie with
/// `Secure`. Only on a plain-HTTP address that is not loopback (a set-up Pactum warns about at
/// start) would browsers drop such a cookie, so there it goes without the prefix and the flag.
pub fn session_cookie_name(public_url: &str) -> &'static str {
    if secure_context(public_url) { "__Host-pactum_session" } else { "pactum_session" }
}

pub fn session_cookie(public_url: &str, token: &str) -> String {
    let secure = if secure_context(public_url) { "; Secure" } else { "" };
    format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", session_cookie_name(public_url))
}

pub fn expired_session_cookie(public_url: &str) -> String {
    let secure = if secure_context(public_url) { "; Secure" } else { "" };
    format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", session_cookie_name(public_url))
}

/// The session token from the request's cookies, if any.
pub fn session_token<'h>(headers: &'h HeaderMap, public_url: &str) -> Option<&'h str> {
    let name = session_cookie_name(public_url);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The CSRF token of a session: a keyed tag of the session, so it needs no storage of its own.
pub fn csrf_token(key: &BlindIndexKey, staff: &Staff) -> String {
    key.tag("staff-csrf", &staff.session_hash)[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refusal(status: StatusCode, message: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], crate::admin::plain_page(message)).into_response()
}

/// The guard in front of every staff route.
pub async fn guard<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.as_ref().map(|m| m.as_str()).unwrap_or("");
    let method = request.method().clone();
    if !GRANTS.iter().any(|(m, r, _)| *m == method.as_str() && *r == route) {
        return refusal(StatusCode::FORBIDDEN, "Siden er ikke åben for nogen rolle.");
    }
    let public_url = &state.pactum.settings.public_url;
    let staff = match session_token(request.headers(), public_url) {
        Some(token) => match state.pactum.staff_session(token).await {
            Ok(staff) => staff,
            Err(e) => {
                tracing::error!(error = %e, "a staff session could not be read");
                return refusal(StatusCode::SERVICE_UNAVAILABLE, "Prøv igen om lidt.");
            }
        },
        None => None,
    };
    let Some(staff) = staff else {
        if method == Method::GET {
            return Redirect::to("/admin/login").into_response();
        }
        return refusal(StatusCode::UNAUTHORIZED, "Du er ikke logget ind. Log ind og prøv igen.");
    };
    if !granted(&method, route, staff.role) {
        return refusal(StatusCode::FORBIDDEN, "Din rolle giver ikke adgang til denne side.");
    }
    let request = if method == Method::GET {
        request
    } else {
        if !same_origin(request.headers()) {
            return refusal(StatusCode::FORBIDDEN, "Formularen kom fra et andet websted og blev afvist.");
        }
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, crate::BODY_LIMIT).await else {
            return refusal(StatusCode::PAYLOAD_TOO_LARGE, "Formularen er for stor.");
        };
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let expected = csrf_token(&state.pactum.keys.blind_index, &staff);
        let sent = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
        if !constant_time_eq(sent, &expected) {
            return refusal(
                StatusCode::FORBIDDEN,
                "Formularen er udløbet eller kom ikke fra Pactum. Genindlæs siden og prøv igen.",
            );
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    let mut request = request;
    request.extensions_mut().insert(staff);
    let mut response = next.run(request).await;
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_names_a_role_and_routes_are_unique() {
        for (i, (m, r, roles)) in GRANTS.iter().enumerate() {
            assert!(!roles.is_empty(), "{m} {r} grants nobody");
            assert!(!GRANTS[..i].iter().any(|(m2, r2, _)| m2 == m && r2 == r), "{m} {r} is listed twice");
        }
    }

    #[test]
    fn the_session_cookie_is_host_only_and_secure_under_tls() {
        let tls = session_cookie("https://kurser.example", "abc");
        assert_eq!(tls, "__Host-pactum_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure");
        for local in ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080"] {
            assert!(session_cookie(local, "abc").starts_with("__Host-pactum_session=abc"), "{local}");
        }
        let plain = session_cookie("http://kurser.example", "abc");
        assert_eq!(plain, "pactum_session=abc; Path=/; HttpOnly; SameSite=Strict");
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, header::HeaderValue::from_static("a=1; __Host-pactum_session=tok; b=2"));
        assert_eq!(session_token(&headers, "https://kurser.example"), Some("tok"));
        assert_eq!(session_token(&headers, "http://kurser.example"), None);
    }
}
