//! Signing staff in over HTTP the way a person does: the set-up page, the password and the TOTP
//! code, the session cookie and the CSRF token, and the catalogue an instructor teaches.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pactum_core::Clock;
use pactum_core::staff::Role;
use reqwest::StatusCode;

use super::Server;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The text between `start` and the next `end`.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let rest = html.split_once(start).unwrap_or_else(|| panic!("no {start} in {html}")).1;
    rest.split_once(end).unwrap().0
}

pub fn code_at(secret: &str, unix: i64) -> String {
    let seed = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(seed).build().unwrap();
    totp.generate(unix as u64).to_string()
}

pub const PASSWORD: &str = "korrekt hest batteri hæfteklamme";

pub struct Account {
    pub username: String,
    pub secret: String,
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn now(server: &Server) -> i64 {
    server.clock.now().unix_timestamp()
}

/// Invites an account and completes its set-up page the way a person would.
pub async fn set_up(server: &Server, username: &str, role: Role) -> Account {
    let link = (server.invite)(username, role).await;
    let path = link.split_once("/admin/").map(|(_, p)| format!("/admin/{p}")).unwrap();
    let page = client().get(format!("{}{path}", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    assert!(html.contains(&format!("<strong>{username}</strong>")));
    let done = client()
        .post(format!("{}{path}", server.base))
        .form(&[("password", PASSWORD), ("code", &code_at(&secret, now(server)))])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Din adgang er klar"));
    Account { username: username.into(), secret }
}

pub async fn login_form_token(server: &Server) -> String {
    let html = client().get(format!("{}/admin/login", server.base)).send().await.unwrap().text().await.unwrap();
    between(&html, "name=\"form_token\" value=\"", "\"").to_string()
}

pub async fn try_login(server: &Server, username: &str, password: &str, code: &str) -> reqwest::Response {
    let token = login_form_token(server).await;
    client()
        .post(format!("{}/admin/login", server.base))
        .form(&[("form_token", token.as_str()), ("username", username), ("password", password), ("code", code)])
        .send()
        .await
        .unwrap()
}

pub async fn sign_in(server: &Server, account: &Account) -> Session {
    // A code works once (RFC 6238 §5.2), so each sign-in waits for the authenticator's next code.
    server.clock.advance(time::Duration::seconds(30));
    let response = try_login(server, &account.username, PASSWORD, &code_at(&account.secret, now(server))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin");
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("__Host-pactum_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(set_cookie.contains(attribute), "{set_cookie} lacks {attribute}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let home = client().get(format!("{}/admin", server.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    let csrf = between(&html, "name=\"csrf\" value=\"", "\"").to_string();
    Session { cookie, csrf }
}

pub async fn staff_get(server: &Server, session: Option<&Session>, path: &str) -> reqwest::Response {
    let mut request = client().get(format!("{}{path}", server.base));
    if let Some(s) = session {
        request = request.header("cookie", &s.cookie);
    }
    request.send().await.unwrap()
}

pub async fn staff_post(
    server: &Server,
    session: Option<&Session>,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    let mut request = client().post(format!("{}{path}", server.base));
    if let Some(s) = session {
        request = request.header("cookie", &s.cookie);
        form.push(("csrf", &s.csrf));
    }
    request.form(&form).send().await.unwrap()
}

pub fn with_instructor(catalogue: &str, instructor: &str) -> String {
    catalogue.replacen("seats = 16\n", &format!("seats = 16\ninstructor = \"{instructor}\"\n"), 1)
}

pub async fn first_session_id(server: &Server) -> String {
    let courses: serde_json::Value =
        client().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let course = courses.as_array().unwrap().iter().find(|c| c["slug"] == "prince2-foundation").unwrap();
    course["sessions"][0]["id"].as_str().unwrap().to_string()
}

/// An API token with `scopes`, issued by an admin in the admin pages; returns the secret.
pub async fn issue_token(server: &Server, admin: &Session, name: &str, scopes: &[&str]) -> String {
    let mut fields = vec![("name", name)];
    fields.extend(scopes.iter().map(|s| ("scope", *s)));
    let created = staff_post(server, Some(admin), "/admin/api-tokens", &fields).await;
    assert_eq!(created.status(), 200);
    between(&created.text().await.unwrap(), "id=\"one-time-secret\">", "<").to_string()
}

/// Enrols a person on a session through the JSON API.
pub async fn enrol_by_api(server: &Server, session: &str, name: &str, email: &str, certification: bool) {
    let enrolled = client()
        .post(format!("{}/api/v1/enrolments", server.base))
        .json(&serde_json::json!({
            "session_id": session,
            "fields": {"name": name, "email": email},
            "certification": certification,
            "notice_version": "2026.1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);
}

/// The certification partner's call for a session's certification participants.
pub async fn certification_participants(server: &Server, token: &str, session: &str) -> reqwest::Response {
    client()
        .post(format!("{}/api/v1/certification/participants", server.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"session_id": session}))
        .send()
        .await
        .unwrap()
}

/// The certification partner delivers a message to the session's proctor.
pub async fn deliver_message(server: &Server, token: &str, body: serde_json::Value) -> reqwest::Response {
    client()
        .post(format!("{}/api/v1/certification/messages", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}
