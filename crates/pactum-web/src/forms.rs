//! What every HTML form shares: a signed, time-limited form token and a same-origin check against
//! cross-site request forgery (no cookie needed, so none is set before consent, P29), and reading
//! the submitted fields so that an undeclared one is refused by name (P01).
//!
//! Each rendered form gets a token of its own (a random part beside the time it was issued), so
//! that a sign-up sent twice from the same form is recognised as one (see `pactum_core::repeats`).

use axum::http::{HeaderMap, header};
use pactum_vault::BlindIndexKey;

/// How long a rendered form may be submitted.
const FORM_TOKEN_SECONDS: i64 = 6 * 3600;

pub fn form_token(key: &BlindIndexKey, now_secs: i64) -> String {
    let issued = format!("{now_secs}.{}", uuid::Uuid::now_v7().simple());
    let tag = key.tag("form", issued.as_bytes());
    format!("{issued}.{}", hex(&tag[..16]))
}

/// The part of a valid form token that is this rendered form's own, as the key of what it is sent
/// for; none for a token of the older kind, which every form rendered in the same second shared.
pub fn one_time_key(token: &str) -> Option<&str> {
    let (issued, _) = token.rsplit_once('.')?;
    issued.contains('.').then_some(issued)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key a sign-up or order sent from this rendered form is made under: sent twice, it is made
/// once (see `pactum_core::repeats`).
pub fn repeat_key(submitted: &Submitted) -> Option<String> {
    one_time_key(submitted.get("form_token").unwrap_or("")).map(str::to_string)
}

/// True when the token was issued by this server within its lifetime.
pub fn form_token_valid(key: &BlindIndexKey, token: &str, now_secs: i64) -> bool {
    // `STAMP.RANDOM.TAG`, or `STAMP.TAG` as issued before forms had a random part.
    let Some((signed, tag)) = token.rsplit_once('.') else { return false };
    let stamp = signed.split_once('.').map_or(signed, |(stamp, _)| stamp);
    let Ok(issued) = stamp.parse::<i64>() else { return false };
    let expected = hex(&key.tag("form", signed.as_bytes())[..16]);
    let same =
        expected.len() == tag.len() && expected.bytes().zip(tag.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same && issued <= now_secs + 300 && now_secs - issued <= FORM_TOKEN_SECONDS
}

/// False when the browser says the request comes from another site.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    if origin == "null" {
        // An opaque origin is accepted only when the browser itself vouches for the same site.
        return headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin");
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

/// Submitted fields, in order. Each name may appear once.
pub struct Submitted(pub Vec<(String, String)>);

impl Submitted {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first field whose name is not in `allowed`, or that appears twice.
    pub fn unexpected(&self, allowed: &[&str]) -> Option<String> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&name.as_str()) || self.0[..i].iter().any(|(n, _)| n == name) {
                return Some(name.chars().take(64).collect());
            }
        }
        None
    }
}

/// Refuses a form body (`application/x-www-form-urlencoded`) whose decoded fields are not valid
/// UTF-8, before any handler reads it: the form reader would otherwise turn the bad bytes into
/// `�` and store that as a name. Every other request passes untouched.
pub async fn refuse_malformed_text(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !crate::headers::content_type_is(request.headers(), "application/x-www-form-urlencoded") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The body is limited further out; this only reads what that limit let through.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        // Answered in the caller's language further out (`api_error::explain_body_limit`).
        Err(_) => return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    if !form_is_text(&bytes) {
        let text = match crate::signup::lang_of(&parts.uri) {
            pactum_policy::Lang::Da => {
                "Formularen indeholdt tegn, som ikke er gyldig tekst (UTF-8). Gå tilbage, skriv feltet igen, og send.\n"
            }
            pactum_policy::Lang::En => {
                "The form held characters that are not valid text (UTF-8). Go back, type the field again and send.\n"
            }
        };
        return (axum::http::StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text)
            .into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// True when every name and value of an URL-encoded form decodes to valid UTF-8.
fn form_is_text(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').flat_map(|pair| pair.splitn(2, |b| *b == b'=')).all(|part| {
        let mut decoded = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => decoded.push(b' '),
                b'%' => match (part.get(i + 1).and_then(hex_digit), part.get(i + 2).and_then(hex_digit)) {
                    (Some(high), Some(low)) => {
                        decoded.push(high << 4 | low);
                        i += 2;
                    }
                    _ => decoded.push(b'%'),
                },
                other => decoded.push(other),
            }
            i += 1;
        }
        std::str::from_utf8(&decoded).is_ok()
    })
}

fn hex_digit(b: &u8) -> Option<u8> {
    char::from(*b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pactum_vault::SystemKey;

    #[test]
    fn form_tokens_expire_and_cannot_be_forged() -> Result<(), pactum_vault::VaultError> {
        let key = BlindIndexKey::new(SystemKey::generate()?);
        let other = BlindIndexKey::new(SystemKey::generate()?);
        let token = form_token(&key, 1_000_000);
        assert!(form_token_valid(&key, &token, 1_000_000));
        assert!(form_token_valid(&key, &token, 1_000_000 + FORM_TOKEN_SECONDS));
        assert!(!form_token_valid(&key, &token, 1_000_001 + FORM_TOKEN_SECONDS));
        assert!(!form_token_valid(&other, &token, 1_000_000));
        assert!(!form_token_valid(&key, "1000000.00", 1_000_000));
        assert!(!form_token_valid(&key, "garbage", 1_000_000));
        // The random part is signed too: another one does not pass.
        let (stamp, rest) = token.split_once('.').unwrap_or_default();
        let forged = format!("{stamp}.{}{}", "0".repeat(32), &rest[32..]);
        assert!(!form_token_valid(&key, &forged, 1_000_000));
        // A token of the older kind, without a random part, still passes, but keys nothing.
        let older = format!("1000000.{}", hex(&key.tag("form", b"1000000")[..16]));
        assert!(form_token_valid(&key, &older, 1_000_000));
        assert_eq!(one_time_key(&older), None);
        Ok(())
    }

    #[test]
    fn every_rendered_form_has_a_key_of_its_own() -> Result<(), pactum_vault::VaultError> {
        let key = BlindIndexKey::new(SystemKey::generate()?);
        let (first, second) = (form_token(&key, 1_000_000), form_token(&key, 1_000_000));
        assert_ne!(one_time_key(&first), one_time_key(&second), "rendered in the same second, still apart");
        assert!(one_time_key(&first).is_some_and(|k| k.starts_with("1000000.")));
        Ok(())
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "kurser.example".parse().unwrap_or(header::HeaderValue::from_static("x")));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, header::HeaderValue::from_static("https://kurser.example"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, header::HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, header::HeaderValue::from_static("null"));
        assert!(!same_origin(&h), "an opaque origin alone proves nothing");
        h.insert("sec-fetch-site", header::HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h), "the browser vouches for the same site");
    }

    #[test]
    fn undeclared_and_repeated_fields_are_named() {
        let s = Submitted(vec![("email".into(), "a".into()), ("cpr".into(), "b".into())]);
        assert_eq!(s.unexpected(&["email"]).as_deref(), Some("cpr"));
        let twice = Submitted(vec![("email".into(), "a".into()), ("email".into(), "b".into())]);
        assert_eq!(twice.unexpected(&["email"]).as_deref(), Some("email"));
        assert_eq!(Submitted(vec![("email".into(), "a".into())]).unexpected(&["email"]), None);
    }

    #[test]
    fn a_form_is_text_only_when_every_field_decodes_to_utf8() {
        assert!(super::form_is_text(b"name=%C3%86rlige+%C3%85se&email=a%40b.dk&empty="));
        assert!(super::form_is_text(b"note=100%&x=%zz"), "a stray percent sign is itself");
        assert!(!super::form_is_text(b"name=%FF%FE&email=a%40b.dk"));
        assert!(!super::form_is_text(b"%C3=x"), "names too");
    }
}
