//! Staff accounts and the admin UI over real HTTP (P22, DESIGN invariant 5): set-up by one-time
//! link, argon2id password plus TOTP, lockout, sessions, CSRF, the route × role matrix, rosters
//! that an instructor sees only for their own sessions, and scoped API tokens. SQLite always;
//! PostgreSQL where PACTUM_TEST_PG_URL is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::staff::*;
use common::*;
use pactum_core::staff::Role;
use reqwest::StatusCode;
use std::time::Duration;

on_both_backends!(
    p22_sign_in_needs_the_password_and_the_authenticator_code,
    p22_five_failures_lock_the_account_for_fifteen_minutes,
    p22_route_role_matrix_covers_every_staff_route,
    p22_instructor_reads_only_their_own_sessions_roster_with_minimal_fields,
    p22_staff_forms_refuse_missing_csrf_tokens_and_other_origins,
    p22_sign_out_and_disabling_end_a_session_at_once,
    api_tokens_are_shown_once_scoped_and_revocable,
    p16_the_dpo_sees_what_retention_will_delete_and_why,
    l6_staff_list_invoices_download_peppol_documents_audited_and_cancel_with_a_credit_note,
);

const REFUSED: &str = "Brugernavn, adgangskode eller kode passer ikke";

async fn p22_sign_in_needs_the_password_and_the_authenticator_code(server: Server) {
    let link = (server.invite)("ida", Role::Instructor).await;
    let path = link.split_once("/admin/").map(|(_, p)| format!("/admin/{p}")).unwrap();
    let html = client().get(format!("{}{path}", server.base)).send().await.unwrap().text().await.unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    assert!(html.contains("otpauth://totp/"), "the page offers the authenticator link");

    let short = client()
        .post(format!("{}{path}", server.base))
        .form(&[("password", "kort"), ("code", &code_at(&secret, now(&server)))])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 400);
    assert!(short.text().await.unwrap().contains("skal være mindst 12 tegn"));
    let wrong_code = client()
        .post(format!("{}{path}", server.base))
        .form(&[("password", PASSWORD), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_code.status(), 400);
    assert!(wrong_code.text().await.unwrap().contains("passer ikke"));
    let done = client()
        .post(format!("{}{path}", server.base))
        .form(&[("password", PASSWORD), ("code", &code_at(&secret, now(&server)))])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let reused = client().get(format!("{}{path}", server.base)).send().await.unwrap();
    assert_eq!(reused.status(), 404, "a setup link works once");

    let code = code_at(&secret, now(&server));
    for (username, password, code) in [
        ("ida", "forkert adgangskode!", code.as_str()),
        ("ida", PASSWORD, "123456"),
        ("ukendt", PASSWORD, code.as_str()),
    ] {
        let refused = try_login(&server, username, password, code).await;
        assert_eq!(refused.status(), 401);
        assert!(refused.headers().get("set-cookie").is_none());
        let html = refused.text().await.unwrap();
        assert!(html.contains(REFUSED), "the same answer for a wrong password, a wrong code and an unknown user");
    }
    let account = Account { username: "ida".into(), secret };
    let session = sign_in(&server, &account).await;
    let home = staff_get(&server, Some(&session), "/admin").await;
    assert!(home.text().await.unwrap().contains("Velkommen, ida"));
    let replayed = try_login(&server, "ida", PASSWORD, &code_at(&account.secret, now(&server))).await;
    assert_eq!(replayed.status(), 401, "a code that signed in once does not sign in again");

    // A forged or missing login form token is refused before any password is checked.
    let forged = client()
        .post(format!("{}/admin/login", server.base))
        .form(&[("form_token", "1.00"), ("username", "ida"), ("password", PASSWORD), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let undeclared = client()
        .post(format!("{}/admin/login", server.base))
        .form(&[("form_token", login_form_token(&server).await.as_str()), ("username", "ida"), ("cpr", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(undeclared.status(), 400);
    assert!(undeclared.text().await.unwrap().contains("«cpr»"));
}

async fn p22_five_failures_lock_the_account_for_fifteen_minutes(server: Server) {
    let account = set_up(&server, "kim", Role::Coordinator).await;
    for _ in 0..5 {
        let refused = try_login(&server, "kim", "forkert adgangskode!", &code_at(&account.secret, now(&server))).await;
        assert_eq!(refused.status(), 401);
    }
    let locked = try_login(&server, "kim", PASSWORD, &code_at(&account.secret, now(&server))).await;
    assert_eq!(locked.status(), 401, "even the right password is refused while locked");
    assert!(locked.text().await.unwrap().contains(REFUSED), "the lock is not announced to a guesser");

    server.clock.advance(time::Duration::minutes(14));
    let still = try_login(&server, "kim", PASSWORD, &code_at(&account.secret, now(&server))).await;
    assert_eq!(still.status(), 401);
    server.clock.advance(time::Duration::minutes(16));
    sign_in(&server, &account).await;
}

/// What each role may do, written out here independently of the server's own table.
/// `true` = granted. Columns: admin, coordinator, instructor, dpo.
const MATRIX: &[(&str, &str, [bool; 4])] = &[
    ("GET", "/admin", [true, true, true, true]),
    ("GET", "/admin/catalogue", [true, true, false, false]),
    ("POST", "/admin/catalogue", [true, true, false, false]),
    ("GET", "/admin/sessions", [true, true, true, false]),
    ("GET", "/admin/sessions/{session}/roster", [true, true, true, false]),
    ("GET", "/admin/staff", [true, false, false, false]),
    ("POST", "/admin/staff", [true, false, false, false]),
    ("POST", "/admin/staff/{staff}/disable", [true, false, false, false]),
    ("GET", "/admin/api-tokens", [true, false, false, false]),
    ("POST", "/admin/api-tokens", [true, false, false, false]),
    ("POST", "/admin/api-tokens/{token}/revoke", [true, false, false, false]),
    ("GET", "/admin/audit", [true, false, false, true]),
    ("GET", "/admin/retention", [true, false, false, true]),
    ("GET", "/admin/invoices", [true, true, false, false]),
    ("GET", "/admin/invoices/{invoice}/peppol.xml", [true, true, false, false]),
    ("POST", "/admin/orders/{order}/cancel", [true, true, false, false]),
    ("GET", "/admin/sessions/{session}/certification", [false, false, true, false]),
    ("GET", "/admin/certification/messages/{message}", [false, false, true, false]),
    ("POST", "/admin/sessions/{session}/certification/messages", [true, true, false, false]),
    ("GET", "/admin/disclosures", [true, true, false, false]),
    ("POST", "/admin/disclosures", [true, true, false, false]),
    ("GET", "/admin/notifications", [true, false, false, true]),
    ("GET", "/admin/ropa", [true, false, false, true]),
    ("GET", "/admin/incidents", [true, false, false, true]),
    ("POST", "/admin/incidents", [true, false, false, true]),
    ("GET", "/admin/incidents/{incident}", [true, false, false, true]),
    ("POST", "/admin/incidents/{incident}/reported", [true, false, false, true]),
    ("GET", "/admin/requests", [true, false, false, true]),
    ("POST", "/admin/requests", [true, false, false, true]),
    ("GET", "/admin/requests/{request}", [true, false, false, true]),
    ("POST", "/admin/requests/{request}/extend", [true, false, false, true]),
    ("POST", "/admin/requests/{request}/send-link", [true, false, false, true]),
    ("POST", "/admin/requests/{request}/erase", [true, false, false, true]),
    ("POST", "/admin/requests/{request}/decide", [true, false, false, true]),
    ("POST", "/admin/logout", [true, true, true, true]),
];

async fn p22_route_role_matrix_covers_every_staff_route(server: Server) {
    let server_routes: Vec<(String, String)> =
        pactum_web::authz::GRANTS.iter().map(|(m, r, _)| (m.to_string(), r.to_string())).collect();
    let tested: Vec<(String, String)> = MATRIX.iter().map(|(m, r, _)| (m.to_string(), r.to_string())).collect();
    assert_eq!(server_routes.len(), tested.len(), "every staff route is in the matrix");
    for route in &server_routes {
        assert!(tested.contains(route), "{route:?} is not in the test's matrix");
    }

    let roles = [Role::Admin, Role::Coordinator, Role::Instructor, Role::Dpo];
    let mut sessions = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let account = set_up(&server, &format!("person{i}"), *role).await;
        sessions.push(sign_in(&server, &account).await);
    }
    // The instructor (person2) teaches the first session, so the roster route is theirs to read.
    let catalogue = with_instructor(pactum_policy::EXAMPLE_CATALOGUE, "person2");
    let imported = staff_post(&server, Some(&sessions[0]), "/admin/catalogue", &[("catalogue", &catalogue)]).await;
    assert_eq!(imported.status(), 200);
    let session_id = first_session_id(&server).await;
    let pending = (server.invite)("pending", Role::Dpo).await;
    assert!(pending.contains("/admin/setup/"));
    let staff_html = staff_get(&server, Some(&sessions[0]), "/admin/staff").await.text().await.unwrap();
    let pending_id = between(&staff_html, "<td>pending</td>", "</tr>");
    let pending_id = between(pending_id, "action=\"/admin/staff/", "/disable").to_string();
    place_order(&server, "indkob@eksempel.dk").await;
    let invoices = staff_get(&server, Some(&sessions[0]), "/admin/invoices").await.text().await.unwrap();
    let invoice_id = between(&invoices, "href=\"/admin/invoices/", "/peppol.xml").to_string();
    let order_id = between(&invoices, "action=\"/admin/orders/", "/cancel").to_string();
    // A certification participant and one message from the partner to the instructor (P15).
    enrol_by_api(&server, &session_id, "Mia Munk", "mia@eksempel.dk", true).await;
    let partner = issue_token(&server, &sessions[0], "partner", &["certification"]).await;
    let people: serde_json::Value =
        certification_participants(&server, &partner, &session_id).await.json().await.unwrap();
    let participant = people["people"][0]["reference"].as_str().unwrap().to_string();
    let delivered = deliver_message(
        &server,
        &partner,
        serde_json::json!({"session_id": session_id, "participant": participant, "kind": "registration",
                           "subject": "Registrering", "body": "Eksamen kl. 13."}),
    )
    .await;
    assert_eq!(delivered.status(), 201);
    let message_id = delivered.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let session_scope = format!("session:{session_id}");
    let incident_fields = [
        ("title", "Bærbar computer stjålet"),
        ("description", "En ukrypteret eksport lå på en stjålet computer."),
        ("aware_at", "2026-11-25T09:00"),
        ("occurred_from", "2026-11-24T00:00"),
        ("occurred_to", "2026-11-25T09:00"),
        ("risk", "risk"),
    ];
    let recorded = staff_post(&server, Some(&sessions[0]), "/admin/incidents", &incident_fields).await;
    assert_eq!(recorded.status(), StatusCode::SEE_OTHER);
    let incident_id =
        recorded.headers()["location"].to_str().unwrap().trim_start_matches("/admin/incidents/").to_string();
    // A rights request per role, so that each granted role can extend and decide one of its own.
    let request_fields = [
        ("email", "mia@eksempel.dk"),
        ("kind", "access"),
        ("channel", "letter"),
        ("received_on", "2026-11-25"),
        ("details", "Jeg vil gerne se mine data."),
    ];
    let mut request_ids = Vec::new();
    let mut erasure_ids = Vec::new();
    for _ in &roles {
        for (kind, ids) in [("access", &mut request_ids), ("erasure", &mut erasure_ids)] {
            let mut fields = request_fields.to_vec();
            fields[1] = ("kind", kind);
            let registered = staff_post(&server, Some(&sessions[0]), "/admin/requests", &fields).await;
            assert_eq!(registered.status(), StatusCode::SEE_OTHER);
            ids.push(
                registered.headers()["location"].to_str().unwrap().trim_start_matches("/admin/requests/").to_string(),
            );
        }
    }

    for (method, route, grants) in MATRIX.iter().filter(|(_, r, _)| *r != "/admin/logout") {
        let path = route
            .replace("{session}", &session_id)
            .replace("{staff}", &pending_id)
            .replace("{invoice}", &invoice_id)
            .replace("{order}", &order_id)
            .replace("{message}", &message_id)
            .replace("{incident}", &incident_id)
            .replace("{token}", "0199a000-0000-7000-8000-000000000000");
        let fields: Vec<(&str, &str)> = match *route {
            "/admin/catalogue" => vec![("catalogue", catalogue.as_str())],
            "/admin/staff" => vec![("username", "new.person"), ("role", "coordinator")],
            "/admin/api-tokens" => vec![("name", "website"), ("scope", "catalogue:write")],
            "/admin/sessions/{session}/certification/messages" => vec![
                ("participant", participant.as_str()),
                ("kind", "registration"),
                ("subject", "Registrering"),
                ("body", "Eksamen kl. 13."),
            ],
            "/admin/incidents" => incident_fields.to_vec(),
            "/admin/requests" => request_fields.to_vec(),
            "/admin/requests/{request}/extend" => vec![("months", "1"), ("reason", "Mange anmodninger.")],
            "/admin/requests/{request}/decide" => vec![("outcome", "done"), ("reason", "Indsigten er sendt.")],
            "/admin/disclosures" => vec![
                ("recipient", "certification_partner"),
                ("purpose", "certification"),
                ("scope", session_scope.as_str()),
            ],
            _ => vec![],
        };
        let anonymous_path = path.replace("{request}", &request_ids[0]);
        let anonymous = if *method == "GET" {
            staff_get(&server, None, &anonymous_path).await
        } else {
            staff_post(&server, None, &anonymous_path, &fields).await
        };
        if *method == "GET" {
            assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "anonymous GET {path}");
            assert_eq!(anonymous.headers()["location"], "/admin/login");
        } else {
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "anonymous POST {path}");
        }
        for (i, role) in roles.iter().enumerate() {
            let ids = if route.ends_with("/erase") { &erasure_ids } else { &request_ids };
            let path = path.replace("{request}", &ids[i]);
            let response = if *method == "GET" {
                staff_get(&server, Some(&sessions[i]), &path).await
            } else {
                staff_post(&server, Some(&sessions[i]), &path, &fields).await
            };
            let status = response.status();
            if grants[i] {
                assert!(status.is_success() || status.is_redirection(), "{role:?} {method} {path}: {status}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {method} {path}");
            }
        }
    }
    for (i, role) in roles.iter().enumerate() {
        let out = staff_post(&server, Some(&sessions[i]), "/admin/logout", &[]).await;
        assert_eq!(out.status(), StatusCode::SEE_OTHER, "{role:?} signs out");
    }
    // A path under /admin that is in no grant is refused, not served.
    let unknown = staff_get(&server, None, "/admin/secret").await;
    assert_eq!(unknown.status(), 404);
}

async fn p22_instructor_reads_only_their_own_sessions_roster_with_minimal_fields(server: Server) {
    let admin = sign_in(&server, &set_up(&server, "admin", Role::Admin).await).await;
    let ida = sign_in(&server, &set_up(&server, "ida", Role::Instructor).await).await;
    let other = sign_in(&server, &set_up(&server, "ole", Role::Instructor).await).await;
    let coordinator = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let catalogue = with_instructor(pactum_policy::EXAMPLE_CATALOGUE, "ida");
    assert_eq!(staff_post(&server, Some(&admin), "/admin/catalogue", &[("catalogue", &catalogue)]).await.status(), 200);
    let session = first_session_id(&server).await;
    let enrolled = client()
        .post(format!("{}/api/v1/enrolments", server.base))
        .json(&serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": "lis@eksempel.dk", "phone": "+45 12 34 56 78"}, "certification": true, "notice_version": "2026.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);

    let before = audit_entries(&server, &admin).await;
    let roster = staff_get(&server, Some(&ida), &format!("/admin/sessions/{session}/roster")).await;
    assert_eq!(roster.status(), 200);
    let html = roster.text().await.unwrap();
    assert!(html.contains("Lis Lund"));
    assert!(!html.contains("lis@eksempel.dk") && !html.contains("+4512345678"), "an instructor sees names only");
    assert!(html.contains("<td>Ja</td>"), "and whether the participant takes the certification");
    assert_eq!(audit_entries(&server, &admin).await, before + 1, "the read of one person is audited");

    let sessions = staff_get(&server, Some(&other), "/admin/sessions").await.text().await.unwrap();
    assert!(!sessions.contains(&session), "another instructor is not shown the session");
    let refused = staff_get(&server, Some(&other), &format!("/admin/sessions/{session}/roster")).await;
    assert_eq!(refused.status(), 403, "nor can they open its roster");
    assert!(!refused.text().await.unwrap().contains("Lis Lund"));

    let full = staff_get(&server, Some(&coordinator), &format!("/admin/sessions/{session}/roster")).await;
    let html = full.text().await.unwrap();
    assert!(html.contains("lis@eksempel.dk") && html.contains("+4512345678"), "a coordinator sees contact details");
    let missing = staff_get(&server, Some(&coordinator), "/admin/sessions/not-a-uuid/roster").await;
    assert_eq!(missing.status(), 404);

    let unknown = with_instructor(pactum_policy::EXAMPLE_CATALOGUE, "nobody");
    let refused = staff_post(&server, Some(&admin), "/admin/catalogue", &[("catalogue", &unknown)]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("names no active instructor account"));
}

async fn audit_entries(server: &Server, admin: &Session) -> u64 {
    let html = staff_get(server, Some(admin), "/admin/audit").await.text().await.unwrap();
    assert!(html.contains("Kæden er kontrolleret og hel"), "{html}");
    between(&html, "<td>main</td><td>", "<").parse().unwrap()
}

async fn staff_usernames(server: &Server, admin: &Session) -> String {
    staff_get(server, Some(admin), "/admin/staff").await.text().await.unwrap()
}

async fn p22_staff_forms_refuse_missing_csrf_tokens_and_other_origins(server: Server) {
    let admin = sign_in(&server, &set_up(&server, "admin", Role::Admin).await).await;
    let no_token = client()
        .post(format!("{}/admin/staff", server.base))
        .header("cookie", &admin.cookie)
        .form(&[("username", "mallory"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let cross_site = client()
        .post(format!("{}/admin/staff", server.base))
        .header("cookie", &admin.cookie)
        .header("origin", "https://evil.example")
        .form(&[("username", "mallory"), ("role", "admin"), ("csrf", &admin.csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(!staff_usernames(&server, &admin).await.contains("mallory"), "nothing was created");

    let invalid =
        staff_post(&server, Some(&admin), "/admin/staff", &[("username", "Mallory Admin"), ("role", "admin")]).await;
    assert_eq!(invalid.status(), 400);
    assert!(invalid.text().await.unwrap().contains("små bogstaver"));
    let taken = staff_post(&server, Some(&admin), "/admin/staff", &[("username", "admin"), ("role", "dpo")]).await;
    assert_eq!(taken.status(), 400);
    let invited =
        staff_post(&server, Some(&admin), "/admin/staff", &[("username", "new.person"), ("role", "dpo")]).await;
    assert_eq!(invited.status(), 200);
    let html = invited.text().await.unwrap();
    assert!(between(&html, "id=\"one-time-secret\">", "<").contains("/admin/setup/"));
    for header in ["content-security-policy", "x-frame-options"] {
        assert!(staff_get(&server, Some(&admin), "/admin").await.headers().contains_key(header));
    }
}

async fn p22_sign_out_and_disabling_end_a_session_at_once(server: Server) {
    let admin_account = set_up(&server, "admin", Role::Admin).await;
    let admin = sign_in(&server, &admin_account).await;
    let kim_account = set_up(&server, "kim", Role::Coordinator).await;
    let kim = sign_in(&server, &kim_account).await;
    assert_eq!(staff_get(&server, Some(&kim), "/admin/catalogue").await.status(), 200);
    let html = staff_usernames(&server, &admin).await;
    let kim_id = between(between(&html, "<td>kim</td>", "</tr>"), "action=\"/admin/staff/", "/disable").to_string();
    let own = between(&html, "<td>admin</td>", "</tr>");
    assert!(!own.contains("disable"), "an admin cannot disable their own account");
    let disabled = staff_post(&server, Some(&admin), &format!("/admin/staff/{kim_id}/disable"), &[]).await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    let after = staff_get(&server, Some(&kim), "/admin/catalogue").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the disabled account's session stops working");
    let again = try_login(&server, "kim", PASSWORD, &code_at(&kim_account.secret, now(&server))).await;
    assert_eq!(again.status(), 401);

    let out = staff_post(&server, Some(&admin), "/admin/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(staff_get(&server, Some(&admin), "/admin").await.status(), StatusCode::SEE_OTHER);

    let fresh = sign_in(&server, &admin_account).await;
    server.clock.advance(time::Duration::hours(9));
    let expired = staff_get(&server, Some(&fresh), "/admin").await;
    assert_eq!(expired.status(), StatusCode::SEE_OTHER, "a session ends after eight hours however active");
}

async fn api_tokens_are_shown_once_scoped_and_revocable(server: Server) {
    let admin = sign_in(&server, &set_up(&server, "admin", Role::Admin).await).await;
    let no_scope = staff_post(&server, Some(&admin), "/admin/api-tokens", &[("name", "website")]).await;
    assert_eq!(no_scope.status(), 400);
    let created =
        staff_post(&server, Some(&admin), "/admin/api-tokens", &[("name", "website"), ("scope", "catalogue:write")])
            .await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let secret = between(&html, "id=\"one-time-secret\">", "<").to_string();
    assert!(secret.starts_with("pct_") && secret.len() == 68);
    let list = staff_get(&server, Some(&admin), "/admin/api-tokens").await.text().await.unwrap();
    assert!(list.contains("website") && !list.contains(&secret), "the list never shows the secret again");

    let put = |token: Option<String>, body: String| {
        let mut request = client().put(format!("{}/api/v1/catalogue?lang=en", server.base)).body(body);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        async move { request.send().await.unwrap() }
    };
    let anonymous = put(None, pactum_policy::EXAMPLE_CATALOGUE.to_string()).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<serde_json::Value>().await.unwrap()["error"], "missing_token");
    let forged = put(Some(format!("pct_{}", "0".repeat(64))), pactum_policy::EXAMPLE_CATALOGUE.to_string()).await;
    assert_eq!(forged.status(), 401);
    let stored = put(Some(secret.clone()), pactum_policy::EXAMPLE_CATALOGUE.to_string()).await;
    assert_eq!(stored.status(), 200);
    let body: serde_json::Value = stored.json().await.unwrap();
    assert_eq!((body["courses"].as_u64(), body["events"].as_u64()), (Some(2), Some(1)));
    let broken = put(Some(secret.clone()), "[[course]]\nslug = \"Ikke gyldig\"\n".to_string()).await;
    assert_eq!(broken.status(), 400);
    let body: serde_json::Value = broken.json().await.unwrap();
    assert_eq!(body["error"], "invalid_catalogue");
    assert!(!body["fields"].as_array().unwrap().is_empty());

    let id = between(&list, "action=\"/admin/api-tokens/", "/revoke").to_string();
    let revoked = staff_post(&server, Some(&admin), &format!("/admin/api-tokens/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(put(Some(secret), pactum_policy::EXAMPLE_CATALOGUE.to_string()).await.status(), 401);
}

async fn p16_the_dpo_sees_what_retention_will_delete_and_why(server: Server) {
    let dpo = set_up(&server, "dpo", Role::Dpo).await;
    let session = first_session_id(&server).await;
    let enrolled = client()
        .post(format!("{}/api/v1/enrolments", server.base))
        .json(&serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": "lis@eksempel.dk"}, "notice_version": "2026.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);
    let first = sign_in(&server, &dpo).await;
    let now = staff_get(&server, Some(&first), "/admin/retention").await;
    assert_eq!(now.status(), 200);
    let html = now.text().await.unwrap();
    assert!(!html.contains("course_enrolment: 1"), "the course has not even started: {html}");
    assert!(html.contains("<strong>Tilmelding til kurser</strong>: 30 dage efter endt kursus"), "the rules: {html}");

    // The session ends 2027-03-12 and the enrolment is kept 30 days after: until 2027-04-11.
    server.clock.advance(time::Duration::days(127)); // 2027-04-01
    let second = sign_in(&server, &dpo).await;
    let later = staff_get(&server, Some(&second), "/admin/retention").await.text().await.unwrap();
    let rows: Vec<&str> = later.split("<tr>").skip(2).collect();
    assert!(!rows[0].contains("course_enrolment"), "not within 7 days: {}", rows[0]);
    assert!(rows[1].contains("course_enrolment: 1"), "within 30 days: {}", rows[1]);
    assert!(rows[1].contains("<td>1</td>"), "one person erased completely: {}", rows[1]);
}

async fn l6_staff_list_invoices_download_peppol_documents_audited_and_cancel_with_a_credit_note(server: Server) {
    let admin = sign_in(&server, &set_up(&server, "admin", Role::Admin).await).await;
    let coordinator = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let instructor = sign_in(&server, &set_up(&server, "ida", Role::Instructor).await).await;
    place_order(&server, "indkob@eksempel.dk").await;
    let list = staff_get(&server, Some(&coordinator), "/admin/invoices").await;
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    assert!(html.contains("<td>1</td><td>Faktura</td>") && html.contains("18.687,50 kr."), "{html}");
    assert!(!html.contains("Karin Kontakt") && !html.contains("indkob@eksempel.dk"), "the list shows no buyer");
    let invoice = between(&html, "href=\"/admin/invoices/", "/peppol.xml").to_string();
    let order = between(&html, "action=\"/admin/orders/", "/cancel").to_string();

    // The order confirmation's delivery is audited too, by the mail worker: let it land first.
    server.smtp.wait_for(1, Duration::from_secs(5)).await;
    let mut before = audit_entries(&server, &admin).await;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = audit_entries(&server, &admin).await;
        if now == before {
            break;
        }
        before = now;
    }
    let xml = staff_get(&server, Some(&coordinator), &format!("/admin/invoices/{invoice}/peppol.xml")).await;
    assert_eq!(xml.status(), 200);
    assert_eq!(xml.headers()["content-type"], "application/xml; charset=utf-8");
    assert_eq!(xml.headers()["content-disposition"], "attachment; filename=\"faktura-1.xml\"");
    let body = xml.text().await.unwrap();
    assert!(
        body.contains(
            "<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
        )
    );
    assert!(body.contains("<cbc:RegistrationName>Eksempel A/S</cbc:RegistrationName>"), "{body}");
    assert!(body.contains("<cbc:PayableAmount currencyID=\"DKK\">18687.50</cbc:PayableAmount>"), "{body}");
    assert_eq!(audit_entries(&server, &admin).await, before + 1, "the download is a staff read, audited");
    let refused = staff_get(&server, Some(&instructor), &format!("/admin/invoices/{invoice}/peppol.xml")).await;
    assert_eq!(refused.status(), 403);
    let unknown = staff_get(&server, Some(&coordinator), "/admin/invoices/not-a-uuid/peppol.xml").await;
    assert_eq!(unknown.status(), 404);

    let cancelled = staff_post(&server, Some(&coordinator), &format!("/admin/orders/{order}/cancel"), &[]).await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let html = staff_get(&server, Some(&coordinator), "/admin/invoices").await.text().await.unwrap();
    assert!(html.contains("<td>2</td><td>Kreditnota</td>") && html.contains("-18.687,50 kr."), "{html}");
    assert!(!html.contains("/cancel"), "a credited invoice cannot be cancelled again");
    let credit = html.split("href=\"/admin/invoices/").nth(2).unwrap().split('/').next().unwrap();
    let xml = staff_get(&server, Some(&admin), &format!("/admin/invoices/{credit}/peppol.xml")).await;
    assert_eq!(xml.headers()["content-disposition"], "attachment; filename=\"kreditnota-2.xml\"");
    assert!(xml.text().await.unwrap().contains("<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"));
}
