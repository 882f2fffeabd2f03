//! The public pages over real HTTP: the notice rendered from the policy (P03, C1, C8), health,
//! security headers, no third-party resources (DESIGN invariant 7). SQLite always; PostgreSQL
//! where PACTUM_TEST_PG_URL is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pactum_policy::{BUNDLED_POLICY, parse_policy};
use pactum_store_sqlite::SqliteBackend;

on_both_backends!(
    danish_notice_shows_what_the_policy_says,
    english_notice_shows_what_the_policy_says,
    health_is_ok_when_the_database_answers,
    every_response_carries_the_security_headers,
    pages_load_nothing_from_other_origins,
    unknown_pages_get_a_helpful_404,
    consent_config_comes_from_the_policy_cookie_list,
    p28_l12_a_decision_gets_a_receipt_with_each_category,
    gpc_header_refuses_marketing_whatever_the_page_asks,
    consent_decisions_refuse_bad_input_with_a_clear_4xx,
    consent_endpoints_allow_other_sites_and_set_no_cookies,
    p07_newsletter_form_shows_an_unticked_box_and_the_notice,
    p01_p07_newsletter_form_refuses_what_it_must_not_store,
    p07_l11_sign_up_confirm_by_mailed_link_and_one_click_unsubscribe,
    p08_catalogue_names_the_delivering_partner_before_sign_up,
    p03_p07_p13_enrolment_form_shows_its_purposes_and_unticked_boxes,
    p07_enrolment_with_and_without_the_newsletter_box,
    an_enrolment_form_sent_twice_enrols_once,
    api_sign_ups_and_orders_with_an_idempotency_key_are_made_once,
    p09_c3_event_page_names_the_co_organiser_and_offers_a_separate_sponsor_box,
    api_catalogue_and_notice_for_headless_sites,
    p01_p07_api_enrolment_and_newsletter,
);

async fn get(server: &Server, path: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{}{path}", server.base)).send().await.unwrap()
}

async fn body(server: &Server, path: &str) -> String {
    let response = get(server, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    response.text().await.unwrap()
}

async fn danish_notice_shows_what_the_policy_says(server: Server) {
    let html = body(&server, "/privatliv").await;
    assert!(html.contains("<html lang=\"da\">"));
    // P18 as the policy states it, under the certification record purpose.
    let record = html.split("id=\"purpose-certification_record\"").nth(1).expect("the certification record purpose");
    let record = record.split("</article>").next().unwrap();
    assert!(record.contains("5 år efter endt kursus"), "{record}");
    assert!(record.contains("Legitim interesse"));
    // C1: the controller and its contact, marked as example values.
    for needle in ["CVR-nr.", "12345678", "privacy@metier.example", "eksempelværdier"] {
        assert!(html.contains(needle), "missing {needle}");
    }
    // C8: what the published policy omits.
    for needle in [
        "databeskyttelsesrådgiver",
        "Datatilsynet",
        "Begrænsning",
        "Dataportabilitet",
        "Samtykke",
        "Opfyldelse af aftale",
        "GDPR art. 6(1)(c)",
        "Bogføringsloven",
        "Storbritannien (GB)",
        "EU-Kommissionens tilstrækkelighedsafgørelse",
        "standardkontraktbestemmelser",
        "Politikversion",
        "2026.1",
        "25. november 2026",
        "pactum_consent",
        "nederste venstre hjørne",
        "TLS",
        "ingen afgørelser",
    ] {
        assert!(html.contains(needle), "the Danish notice lacks {needle:?}");
    }
    // P16: the partner's messages go right after the course.
    assert!(html.contains("indtil umiddelbart efter endt kursus"));
    // P20: newsletter contact data 30 days after withdrawal.
    assert!(html.contains("30 dage efter du har trukket dit samtykke tilbage"));
}

async fn english_notice_shows_what_the_policy_says(server: Server) {
    let html = body(&server, "/en/privacy").await;
    assert!(html.contains("<html lang=\"en\">"));
    for needle in [
        "5 years after the course ends",
        "5 years after the end of the financial year",
        "Data protection officer",
        "Datatilsynet",
        "Restriction",
        "Data portability",
        "United States (US)",
        "EU Commission standard contractual clauses",
        "Policy version",
        "25 November 2026",
        "bottom left corner",
    ] {
        assert!(html.contains(needle), "the English notice lacks {needle:?}");
    }
    assert!(html.contains("href=\"/privatliv\""), "links to the Danish version");
}

async fn health_is_ok_when_the_database_answers(server: Server) {
    let response = get(&server, "/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok\n");
}

async fn every_response_carries_the_security_headers(server: Server) {
    for path in ["/", "/privatliv", "/en/privacy", "/healthz", "/static/pactum.css", "/no-such-page"] {
        let response = get(&server, path).await;
        let h = response.headers();
        let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP")).to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
}

async fn pages_load_nothing_from_other_origins(server: Server) {
    for path in ["/", "/en", "/privatliv", "/en/privacy"] {
        let html = body(&server, path).await;
        for attribute in ["src=\"", "href=\""] {
            for value in html.split(attribute).skip(1).map(|rest| rest.split('"').next().unwrap_or("")) {
                let local = value.starts_with('/') && !value.starts_with("//")
                    || value.starts_with('#')
                    || value.starts_with("mailto:");
                assert!(local, "{path} refers to another origin: {attribute}{value}");
            }
        }
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(!html.contains("style=\""), "{path}: no inline style");
    }
}

async fn unknown_pages_get_a_helpful_404(server: Server) {
    let response = get(&server, "/noget/der-ikke-findes").await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Siden findes ikke") && html.contains("gå til forsiden"));
    let response = get(&server, "/en/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn the_notice_follows_the_policy_file() {
    let changed = BUNDLED_POLICY.replacen(
        "retention = { after = \"course_end\", years = 5 }",
        "retention = { after = \"course_end\", years = 7 }",
        1,
    );
    assert_ne!(changed, BUNDLED_POLICY);
    let server = sqlite_server(parse_policy("changed.toml", &changed).unwrap()).await;
    let html = body(&server, "/privatliv").await;
    assert!(html.contains("7 år efter endt kursus"));
    assert!(!html.contains("5 år efter endt kursus"));
}

async fn config(server: &Server, lang: &str) -> serde_json::Value {
    let response = get(server, &format!("/consent/config?lang={lang}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn decision(version: &str, granted: &[&str]) -> serde_json::Value {
    serde_json::json!({"device_id": "dev_0123456789abcdefABCDEF", "granted": granted, "method": "click", "cookie_version": version})
}

async fn post_decision(server: &Server, body: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}/consent/decisions", server.base)).json(body).send().await.unwrap()
}

async fn consent_config_comes_from_the_policy_cookie_list(server: Server) {
    let policy = bundled();
    let da = config(&server, "da").await;
    assert_eq!(da["cookie_version"], policy.cookie_version);
    assert_eq!(da["policy_version"], "2026.1");
    assert_eq!(da["consent_cookie"], "pactum_consent");
    assert_eq!(da["texts"]["accept_all"], "Accepter alle");
    assert_eq!(da["texts"]["reject_all"], "Afvis alle");
    let keys: Vec<&str> = da["categories"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["necessary", "statistics", "marketing"]);
    let necessary = &da["categories"][0];
    assert_eq!(necessary["required"], true);
    let names: Vec<&str> =
        necessary["cookies"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["pactum_consent", "__Host-pactum_session"]);
    assert_eq!(da["categories"][2]["cookies"][0]["name"], "partner_ads");
    assert_eq!(da["categories"][2]["recipients"][0], "Eksempel Annoncenetværk Inc. (eksempelværdi)");
    assert!(da["privacy_url"].as_str().unwrap().ends_with("/privatliv"));
    let en = config(&server, "en").await;
    assert_eq!(en["texts"]["accept_all"], "Accept all");
    assert_eq!(en["categories"][1]["label"], "Statistics");
    assert!(en["privacy_url"].as_str().unwrap().ends_with("/en/privacy"));
}

async fn p28_l12_a_decision_gets_a_receipt_with_each_category(server: Server) {
    let version = config(&server, "da").await["cookie_version"].as_str().unwrap().to_string();
    let response = post_decision(&server, &decision(&version, &["statistics"])).await;
    assert_eq!(response.status(), 201);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["granted"], serde_json::json!(["necessary", "statistics"]));
    assert_eq!(answer["method"], "click");
    let receipt_id = answer["receipt_id"].as_str().unwrap();
    let receipt: serde_json::Value =
        get(&server, &format!("/consent/receipts/{receipt_id}?lang=en")).await.json().await.unwrap();
    assert_eq!(receipt["receipt_id"], receipt_id);
    assert_eq!(receipt["policy_version"], "2026.1");
    assert_eq!(receipt["cookie_version"], version.as_str());
    assert_eq!(receipt["collection_method"], "click");
    assert_eq!(receipt["controller"]["cvr"], "12345678");
    let purposes = receipt["purposes"].as_array().unwrap();
    let granted = |key: &str| purposes.iter().find(|p| p["category"] == key).unwrap()["granted"].as_bool().unwrap();
    assert!(granted("necessary") && granted("statistics") && !granted("marketing"));
    let state = |r: &serde_json::Value, key: &str| {
        r["purposes"].as_array().unwrap().iter().find(|p| p["category"] == key).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!((state(&receipt, "statistics"), state(&receipt, "marketing")), ("granted".into(), "declined".into()));
    assert_eq!(receipt["state"], "grant");
    assert!(receipt["consent_timestamp"].as_str().unwrap().starts_with("2026-11-25T10:00:00"));

    // A later GPC decision is its own receipt.
    let mut gpc_marketing = decision(&version, &["marketing"]);
    gpc_marketing["method"] = "gpc".into();
    assert_eq!(post_decision(&server, &gpc_marketing).await.status(), 400, "a GPC signal never grants marketing");
    let mut gpc = decision(&version, &[]);
    gpc["method"] = "gpc".into();
    let answer: serde_json::Value = post_decision(&server, &gpc).await.json().await.unwrap();
    assert_eq!(answer["granted"], serde_json::json!(["necessary"]));
    assert_eq!(answer["method"], "gpc");
    assert_ne!(answer["receipt_id"], receipt_id);
    // L12: the same device's later decision is a withdrawal of what it no longer grants.
    let later: serde_json::Value =
        get(&server, &format!("/consent/receipts/{}", answer["receipt_id"].as_str().unwrap()))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(later["state"], "withdrawal");
    assert_eq!(state(&later, "statistics"), "withdrawn");
    let missing = get(&server, "/consent/receipts/01990000-0000-7000-8000-000000000000").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(get(&server, "/consent/receipts/not-a-uuid").await.status(), 404);
}

async fn consent_decisions_refuse_bad_input_with_a_clear_4xx(server: Server) {
    let version = config(&server, "da").await["cookie_version"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let url = format!("{}/consent/decisions?lang=en", server.base);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (client.post(&url).json(&decision(&version, &["tracking"])), 400, "granted"),
        (client.post(&url).json(&decision("0000", &["statistics"])), 409, "changed"),
        (client.post(&url).json(&serde_json::json!({"device_id": "x", "granted": [], "method": "click", "cookie_version": version})), 400, "device_id"),
        (client.post(&url).json(&serde_json::json!({"device_id": "dev_0123456789abcdefABCDEF", "granted": [], "method": "scroll", "cookie_version": version})), 400, "method"),
        (client.post(&url).json(&serde_json::json!({"granted": []})), 400, "missing"),
        (client.post(&url).json(&serde_json::json!({"device_id": "dev_0123456789abcdefABCDEF", "granted": [], "method": "click", "cookie_version": version, "email": "a@b.dk"})), 400, "email"),
        (client.post(&url).header("content-type", "application/json").body("{not json"), 400, "not valid JSON"),
        (client.post(&url).body("device_id=x"), 415, "application/json"),
        (client.post(&url).header("content-type", "application/json").body(vec![b' '; 200_000]), 413, "larger than 64 KiB"),
    ];
    for (request, status, needle) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "expected {status} for a request about {needle}");
        let text = response.text().await.unwrap();
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON error body expected, got {text}"));
        assert!(
            body["message"].as_str().unwrap().contains(needle) || body["fields"].to_string().contains(needle),
            "{needle}: {body}"
        );
    }
    // A form too large for the limit: told in both languages, with the security headers all answers carry.
    let form = client
        .post(format!("{}/nyhedsbrev", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={}", "a".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 413);
    assert!(form.headers().contains_key("content-security-policy"));
    let text = form.text().await.unwrap();
    assert!(text.contains("større end 64 KiB") && text.contains("larger than 64 KiB"), "{text}");
}

async fn consent_endpoints_allow_other_sites_and_set_no_cookies(server: Server) {
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{}/consent/decisions", server.base))
        .header("origin", "http://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let version = config(&server, "da").await["cookie_version"].as_str().unwrap().to_string();
    for response in [
        client
            .get(format!("{}/consent/config", server.base))
            .header("origin", "http://shop.example")
            .send()
            .await
            .unwrap(),
        client
            .post(format!("{}/consent/decisions", server.base))
            .header("origin", "http://shop.example")
            .json(&decision(&version, &[]))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        assert!(response.headers().get("set-cookie").is_none(), "P29: Pactum sets no cookie here");
    }
}

#[tokio::test]
async fn consent_decisions_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("pactum.db").display())).await.unwrap();
    let server = serve_with(
        backend,
        bundled(),
        dir,
        pactum_web::WebOptions { consent_decisions_per_minute: 5, ..Default::default() },
    )
    .await;
    let version = config(&server, "da").await["cookie_version"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(post_decision(&server, &decision(&version, &[])).await.status().as_u16());
    }
    assert_eq!(statuses, vec![201, 201, 201, 201, 201, 429, 429]);
}

fn form_token(html: &str) -> String {
    let start = html.find("name=\"form_token\" value=\"").expect("a form token") + "name=\"form_token\" value=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn post_form(server: &Server, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", server.base))
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn p07_newsletter_form_shows_an_unticked_box_and_the_notice(server: Server) {
    let html = body(&server, "/nyhedsbrev").await;
    let checkbox = html.split("<input id=\"field-consent\"").nth(1).unwrap().split('>').next().unwrap();
    assert!(checkbox.contains("type=\"checkbox\"") && !checkbox.contains("checked"), "unticked by default: {checkbox}");
    assert!(
        html.contains("Ja tak, send mig nyhedsmails om kurser og arrangementer"),
        "the consent text from the policy"
    );
    // P03: the notice beside the form, rendered from the policy.
    let panel = html.split("class=\"notice-panel\"").nth(1).unwrap();
    for needle in [
        "Samtykke",
        "GDPR art. 6(1)(a)",
        "30 dage efter du har trukket dit samtykke tilbage",
        "Ingen – oplysningerne gives ikke videre",
        "CVR 12345678",
        "2026.1",
    ] {
        assert!(panel.contains(needle), "the notice panel lacks {needle:?}");
    }
    assert!(html.contains("name=\"notice_version\" value=\"2026.1\""));
    let en = body(&server, "/en/newsletter").await;
    assert!(en.contains("Yes, send me newsletters") && en.contains("30 days after you withdraw your consent"));
}

async fn p01_p07_newsletter_form_refuses_what_it_must_not_store(server: Server) {
    let token = form_token(&body(&server, "/nyhedsbrev").await);
    let base = [("form_token", token.as_str()), ("notice_version", "2026.1"), ("email", "nej@eksempel.dk")];
    // Unticked box: no consent, nothing stored, and the form says why.
    let response = post_form(&server, "/nyhedsbrev", &base).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Sæt kryds i boksen"));
    // Bytes that are not UTF-8 text are refused before anything reads them, not stored as `�`.
    let raw = format!("form_token={token}&notice_version=2026.1&consent=yes&name=%FF%FE&email=u8%40eksempel.dk");
    let response = reqwest::Client::new()
        .post(format!("{}/nyhedsbrev", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("ikke er gyldig tekst (UTF-8)") && !text.contains("not valid text"), "Danish only: {text}");
    let english = reqwest::Client::new()
        .post(format!("{}/en/newsletter", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%FF%FE")
        .send()
        .await
        .unwrap();
    assert_eq!(english.status(), 400);
    let text = english.text().await.unwrap();
    assert!(text.contains("not valid text (UTF-8)") && !text.contains("gyldig"), "English under /en/: {text}");
    // An undeclared field is named, whatever else is right.
    let mut with_cpr = base.to_vec();
    with_cpr.extend([("consent", "yes"), ("cpr", "010190-1234")]);
    let response = post_form(&server, "/nyhedsbrev", &with_cpr).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("«cpr»") && !text.contains("010190"), "{text}");
    // A bad e-mail address is named and the form comes back filled in.
    let response = post_form(
        &server,
        "/nyhedsbrev",
        &[
            ("form_token", token.as_str()),
            ("notice_version", "2026.1"),
            ("email", "not-an-address"),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("aria-invalid=\"true\"") && text.contains("value=\"not-an-address\""));
    // A forged token, or a post from another site, is refused.
    let response = post_form(
        &server,
        "/nyhedsbrev",
        &[("form_token", "1.00"), ("notice_version", "2026.1"), ("email", "a@eksempel.dk"), ("consent", "yes")],
    )
    .await;
    assert_eq!(response.status(), 403);
    let cross = reqwest::Client::new()
        .post(format!("{}/nyhedsbrev", server.base))
        .header("origin", "https://evil.example")
        .form(&[
            ("form_token", token.as_str()),
            ("notice_version", "2026.1"),
            ("email", "a@eksempel.dk"),
            ("consent", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    // A notice that changed since the form was shown is shown again first.
    let response = post_form(
        &server,
        "/nyhedsbrev",
        &[("form_token", token.as_str()), ("notice_version", "2025.1"), ("email", "a@eksempel.dk"), ("consent", "yes")],
    )
    .await;
    assert_eq!(response.status(), 409);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(server.smtp.messages().is_empty(), "nothing refused sent any mail");
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    format!("/{}", rest.split_once('/').map(|(_, p)| p).unwrap_or(""))
}

async fn p07_l11_sign_up_confirm_by_mailed_link_and_one_click_unsubscribe(server: Server) {
    let token = form_token(&body(&server, "/nyhedsbrev").await);
    let sign_up = |email: &'static str| {
        let token = token.clone();
        let server = &server;
        async move {
            post_form(
                server,
                "/nyhedsbrev",
                &[
                    ("form_token", token.as_str()),
                    ("notice_version", "2026.1"),
                    ("email", email),
                    ("name", "Ole Olsen"),
                    ("consent", "yes"),
                ],
            )
            .await
        }
    };
    let first = sign_up("ole@eksempel.dk").await;
    assert_eq!(first.status(), 200);
    let first_page = first.text().await.unwrap();
    assert!(first_page.contains("Tjek din indbakke"));
    let mails = server.smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["ole@eksempel.dk".to_string()]);
    let confirm = mail.body().lines().find(|l| l.contains("/nyhedsbrev/bekraeft/")).unwrap().trim().to_string();
    let confirmed = get(&server, &path_of(&confirm)).await;
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().contains("din tilmelding er bekræftet"));

    // Signing up a known address answers exactly as for a new one, and sends nothing more.
    let again = sign_up("ole@eksempel.dk").await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), first_page);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.smtp.messages().len(), 1);

    // The one-click target from the List-Unsubscribe header.
    let target = path_of(mail.header("List-Unsubscribe").unwrap().trim_matches(['<', '>']));
    let page = get(&server, &target).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("method=\"post\""), "a GET only asks");
    let one_click = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{target}", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200, "no redirect");
    assert!(one_click.headers().get("set-cookie").is_none());
    let text = one_click.text().await.unwrap();
    assert!(text.contains("Du er afmeldt") && text.contains("slettes senest"), "{text}");
    // A link Pactum never made is said to be invalid at once, not after the person confirms.
    assert_eq!(get(&server, "/nyhedsbrev/afmeld/not-a-token").await.status(), 404);
    assert_eq!(get(&server, "/en/newsletter/unsubscribe/not-a-token").await.status(), 404);
    let bad = post_form(&server, "/nyhedsbrev/afmeld/not-a-token", &[("List-Unsubscribe", "One-Click")]).await;
    assert_eq!(bad.status(), 404);
}

async fn enrol_link(server: &Server, course: &str) -> String {
    let html = body(server, &format!("/kurser/{course}")).await;
    let start = html.find(&format!("href=\"/kurser/{course}/tilmelding/")).expect("an enrolment link") + 6;
    html[start..].split('"').next().unwrap().to_string()
}

async fn p08_catalogue_names_the_delivering_partner_before_sign_up(server: Server) {
    let html = body(&server, "/kurser").await;
    assert!(html.contains("PRINCE2® Foundation med certificering") && html.contains("Agil projektledelse"));
    assert!(html.contains("14.950 kr. ekskl. moms"));
    let agile = body(&server, "/kurser/agil-projektledelse").await;
    assert!(agile.contains("Kurset afholdes af Eksempel Kursuspartner ApS (eksempelværdi), som får deltagerlisten"));
    let form = body(&server, &enrol_link(&server, "agil-projektledelse").await).await;
    assert!(form.contains("Afholdes af") && form.contains("Eksempel Kursuspartner ApS"), "named on the form too");
    // The form's notice lists the partner among the enrolment's recipients here, and only where
    // the course names it (P03): the provider's own course passes no roster to a partner.
    let listed = "Eksempel Kursuspartner ApS (eksempelværdi) (";
    assert!(form.contains(listed), "{form}");
    let own = body(&server, &enrol_link(&server, "prince2-foundation").await).await;
    assert!(own.contains("Modtagere") && !own.contains(listed), "{own}");
    assert!(!form.contains("name=\"certification\""), "no certification box where none is offered");
    let en = body(&server, "/en/courses").await;
    assert!(en.contains("DKK 14,950"), "prices in English, written the English way");
    assert_eq!(get(&server, "/kurser/findes-ikke").await.status(), 404);
}

async fn p03_p07_p13_enrolment_form_shows_its_purposes_and_unticked_boxes(server: Server) {
    let form = body(&server, &enrol_link(&server, "prince2-foundation").await).await;
    for name in ["certification", "newsletter"] {
        let input = form
            .split(&format!("name=\"{name}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("a {name} box"))
            .split('>')
            .next()
            .unwrap();
        assert!(!input.contains("checked"), "{name} is unticked by default");
    }
    let panel = form.split("class=\"notice-panel\"").nth(1).unwrap();
    for needle in [
        "Tilmelding til kurser",
        "30 dage efter endt kursus",
        "Certificering hos vores certificeringspartner",
        "Videregivelsen er en forudsætning for at tage certificeringen",
        "Eksempel Certificeringspartner Ltd",
        "Nyhedsmails",
        "Samtykke",
    ] {
        assert!(panel.contains(needle), "the notice panel lacks {needle:?}");
    }
    assert!(form.contains("autocomplete=\"email\"") && form.contains("type=\"tel\""));
}

async fn enrol_post(server: &Server, link: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let token = form_token(&body(server, link).await);
    let mut fields =
        vec![("form_token", token.as_str()), ("notice_version", "2026.1"), ("name", "Karen Kruse"), ("phone", "")];
    fields.extend_from_slice(extra);
    post_form(server, link, &fields).await
}

async fn p07_enrolment_with_and_without_the_newsletter_box(server: Server) {
    let link = enrol_link(&server, "prince2-foundation").await;
    let plain = enrol_post(&server, &link, &[("email", "karen@eksempel.dk")]).await;
    assert_eq!(plain.status(), 200);
    let text = plain.text().await.unwrap();
    assert!(text.contains("Du er tilmeldt") && !text.contains("tjek din indbakke"), "{text}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(server.smtp.messages().is_empty(), "no newsletter box, no mail");

    let with_news =
        enrol_post(&server, &link, &[("email", "karen2@eksempel.dk"), ("newsletter", "yes"), ("certification", "yes")])
            .await;
    assert_eq!(with_news.status(), 200);
    assert!(with_news.text().await.unwrap().contains("tjek din indbakke"));
    let mails = server.smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["karen2@eksempel.dk".to_string()]);

    let refused = enrol_post(&server, &link, &[("email", "k3@eksempel.dk"), ("allergies", "nødder")]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("«allergies»"));
    let missing = enrol_post(&server, &link, &[("email", "")]).await;
    assert_eq!(missing.status(), 400);
    assert!(missing.text().await.unwrap().contains("«email» skal udfyldes"));
}

/// A course's first session as the catalogue API lists it.
async fn first_session(server: &Server, course: &str) -> serde_json::Value {
    let courses: serde_json::Value = get(server, "/api/v1/courses").await.json().await.unwrap();
    let course = courses.as_array().unwrap().iter().find(|c| c["slug"] == course).unwrap();
    course["sessions"][0].clone()
}

async fn first_session_id(server: &Server, course: &str) -> String {
    first_session(server, course).await["id"].as_str().unwrap().to_string()
}

async fn seats_left(server: &Server, course: &str) -> u64 {
    first_session(server, course).await["seats_left"].as_u64().unwrap()
}

/// A double click on "send" (two POSTs of one rendered form): one enrolment, one seat, one mail,
/// and the confirmation page both times. The form sent back with other details asks to send again.
async fn an_enrolment_form_sent_twice_enrols_once(server: Server) {
    let link = enrol_link(&server, "prince2-foundation").await;
    let before = seats_left(&server, "prince2-foundation").await;
    let page = get(&server, &link).await;
    assert_eq!(page.headers()["cache-control"], "no-store", "no cache hands one form's key to two visitors");
    let token = form_token(&page.text().await.unwrap());
    let fields = |email: &'static str| {
        vec![
            ("form_token", token.clone()),
            ("notice_version", "2026.1".to_string()),
            ("name", "Dorte Dobbelt".to_string()),
            ("email", email.to_string()),
            ("newsletter", "yes".to_string()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let server = &server;
        let link = link.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(server, &link, &fields).await
        }
    };
    let (first, second) = tokio::join!(send(fields("dorte@eksempel.dk")), send(fields("dorte@eksempel.dk")));
    for answer in [first, second] {
        assert_eq!(answer.status(), 200);
        assert!(answer.text().await.unwrap().contains("Du er tilmeldt"));
    }
    let again = send(fields("dorte@eksempel.dk")).await;
    assert_eq!(again.status(), 200, "a third time, later, too");
    assert_eq!(seats_left(&server, "prince2-foundation").await, before - 1, "one seat taken, not three");
    let mails = server.smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.smtp.messages().len(), 1, "one confirmation mail: {:?}", mails.len());

    let reused = send(fields("kollega@eksempel.dk")).await;
    assert_eq!(reused.status(), 409);
    let page = reused.text().await.unwrap();
    assert!(page.contains("Denne formular er allerede brugt til en tilmelding"), "{page}");
    let fresh = form_token(&page);
    assert_ne!(fresh, token, "the form comes back with a token of its own");
    let mut resent = fields("kollega@eksempel.dk");
    resent[0].1 = fresh;
    assert_eq!(send(resent).await.status(), 200);
    assert_eq!(seats_left(&server, "prince2-foundation").await, before - 2);
}

async fn p09_c3_event_page_names_the_co_organiser_and_offers_a_separate_sponsor_box(server: Server) {
    let html = body(&server, "/arrangementer").await;
    assert!(html.contains("Projektlederdagen 2027"));
    let page = body(&server, "/arrangementer/projektlederdagen-2027").await;
    assert!(page.contains("Medarrangør (får deltagerlisten)") && page.contains("Eksempel Medarrangør A/S"));
    let sponsor_box = page.split("name=\"sponsor_sharing\"").nth(1).expect("a sponsor box").split('>').next().unwrap();
    assert!(!sponsor_box.contains("checked"));
    assert!(
        page.contains("Ja tak, I må give mit navn, min e-mailadresse, titel og virksomhed videre til eventets sponsor")
    );
    let token = form_token(&page);
    let response = post_form(
        &server,
        "/arrangementer/projektlederdagen-2027",
        &[
            ("form_token", token.as_str()),
            ("notice_version", "2026.1"),
            ("name", "Per Poulsen"),
            ("email", "per@eksempel.dk"),
            ("sponsor_sharing", "yes"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Projektlederdagen 2027"));
}

async fn api_catalogue_and_notice_for_headless_sites(server: Server) {
    let courses: serde_json::Value = get(&server, "/api/v1/courses").await.json().await.unwrap();
    let prince = courses.as_array().unwrap().iter().find(|c| c["slug"] == "prince2-foundation").unwrap();
    assert_eq!(prince["certification"], true);
    assert_eq!(prince["sessions"][0]["price_dkk"], 14950);
    let agile = courses.as_array().unwrap().iter().find(|c| c["slug"] == "agil-projektledelse").unwrap();
    assert_eq!(agile["delivered_by"]["key"], "course_partner");
    let events: serde_json::Value = get(&server, "/api/v1/events").await.json().await.unwrap();
    assert_eq!(events[0]["sponsor"]["key"], "sponsor");
    let notice: serde_json::Value =
        get(&server, "/api/v1/notice?purposes=course_enrolment,newsletter&lang=en").await.json().await.unwrap();
    assert_eq!(notice["policy_version"], "2026.1");
    assert_eq!(notice["purposes"][0]["retention"], "30 days after the course ends");
    assert_eq!(notice["purposes"][1]["basis"], "consent");
    assert!(notice["purposes"][1]["consent_text"].as_str().unwrap().starts_with("Yes, send me newsletters"));
    let bad = get(&server, "/api/v1/notice?purposes=tracking").await;
    assert_eq!(bad.status(), 400);
    let spec: serde_json::Value = get(&server, "/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/api/v1/enrolments"]["post"].is_object());
}

async fn api_post(server: &Server, path: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}{path}", server.base)).json(&body).send().await.unwrap()
}

async fn p01_p07_api_enrolment_and_newsletter(server: Server) {
    let session = first_session_id(&server, "prince2-foundation").await;
    let refused = api_post(&server, "/api/v1/enrolments?lang=en", serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": "lis@eksempel.dk", "cpr": "010190-1234"}, "notice_version": "2026.1"})).await;
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "cpr");
    assert!(body["fields"][0]["message"].as_str().unwrap().contains("is not collected for this purpose"));
    assert!(!body.to_string().contains("010190"));

    let enrolled = api_post(&server, "/api/v1/enrolments", serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": "lis@eksempel.dk"}, "notice_version": "2026.1"})).await;
    assert_eq!(enrolled.status(), 201);
    let body: serde_json::Value = enrolled.json().await.unwrap();
    assert!(body["newsletter"].is_null(), "no box, no newsletter");

    // A body of the wrong shape: the answer names the field and what it must be, in the caller's
    // language, and never repeats what was sent in it.
    let misshapen = api_post(
        &server,
        "/api/v1/enrolments",
        serde_json::json!({"session_id": session, "fields": "Lis Lund lis@eksempel.dk", "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(misshapen.status(), 400);
    let body: serde_json::Value = misshapen.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json_fields");
    assert_eq!(body["fields"][0]["field"], "fields");
    assert_eq!(body["message"], "Feltet «fields» skal være et JSON-objekt.");
    assert!(!body.to_string().contains("Lis Lund") && !body.to_string().contains("lis@"), "{body}");

    // A field given twice (which of the two would be stored?): refused, naming it, nothing stored.
    let seats_before = seats_left(&server, "prince2-foundation").await;
    let twice = reqwest::Client::new()
        .post(format!("{}/api/v1/enrolments?lang=en", server.base))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"session_id":"{session}","fields":{{"name":"Lis Lund","email":"lis4@eksempel.dk","email":"mo@eksempel.dk"}},"notice_version":"2026.1"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    let body: serde_json::Value = twice.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "fields.email", "{body}");
    assert_eq!(body["message"], "The field «fields.email» is given twice. Send it once.");
    assert!(!body.to_string().contains("lis4@") && !body.to_string().contains("mo@"), "{body}");
    assert_eq!(seats_left(&server, "prince2-foundation").await, seats_before, "no seat taken");

    // A made-up field whose name is personal data, or huge: refused, and the name is not repeated.
    let odd = api_post(&server, "/api/v1/enrolments?lang=en", serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": "lis5@eksempel.dk", "secret@pii.dk": "v", "x".repeat(60_000): "v"}, "notice_version": "2026.1"})).await;
    assert_eq!(odd.status(), 400);
    let body = odd.text().await.unwrap();
    assert!(!body.contains("secret@pii") && !body.contains(&"x".repeat(100)), "{body}");
    assert!(body.len() < 2_000, "the answer does not grow with what was sent: {} bytes", body.len());
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["fields"][0]["field"], "…", "{body}");
    assert!(body["fields"][0]["message"].as_str().unwrap().contains("is not collected for this purpose"), "{body}");

    // Certification on a course that does not offer it: refused, naming the option, seat kept.
    let agile_session = first_session_id(&server, "agil-projektledelse").await;
    let seats_before = seats_left(&server, "agil-projektledelse").await;
    let not_offered = api_post(&server, "/api/v1/enrolments?lang=en", serde_json::json!({"session_id": agile_session, "fields": {"name": "Lis Lund", "email": "lis3@eksempel.dk"}, "certification": true, "notice_version": "2026.1"})).await;
    assert_eq!(not_offered.status(), 400);
    let body: serde_json::Value = not_offered.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "certification", "{body}");
    assert!(body["fields"][0]["message"].as_str().unwrap().contains("is not offered here"), "{body}");
    assert_eq!(seats_left(&server, "agil-projektledelse").await, seats_before, "no seat taken");

    let stale = api_post(&server, "/api/v1/enrolments", serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": "lis2@eksempel.dk"}, "notice_version": "2020.1"})).await;
    assert_eq!(stale.status(), 409);
    let missing = api_post(&server, "/api/v1/enrolments", serde_json::json!({"session_id": "01990000-0000-7000-8000-000000000000", "fields": {}, "notice_version": "2026.1"})).await;
    assert_eq!(missing.status(), 404);
    // An address the API does not have: a JSON error too.
    let nowhere = reqwest::get(format!("{}/api/v1/findes-ikke?lang=en", server.base)).await.unwrap();
    assert_eq!(nowhere.status(), 404);
    let body: serde_json::Value = nowhere.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().contains("/api/v1/openapi.json"), "{body}");
    // A method an address does not take: a JSON error that says which it takes.
    let deleted =
        reqwest::Client::new().delete(format!("{}/api/v1/enrolments?lang=en", server.base)).send().await.unwrap();
    assert_eq!(deleted.status(), 405);
    assert_eq!(deleted.headers()["allow"], "POST");
    let body: serde_json::Value = deleted.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
    assert!(body["message"].as_str().unwrap().contains("/api/v1/openapi.json"), "{body}");
    // Not an id at all: a 400 that names the field, not a session that is gone.
    let typo = api_post(
        &server,
        "/api/v1/enrolments?lang=en",
        serde_json::json!({"session_id": "not-a-uuid", "fields": {}, "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(typo.status(), 400);
    let body: serde_json::Value = typo.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "session_id");
    assert!(body["message"].as_str().unwrap().contains("must be an id from the catalogue"), "{body}");

    let long_interests = api_post(
        &server,
        "/api/v1/newsletter/subscriptions?lang=en",
        serde_json::json!({"email": "lis@eksempel.dk", "consent": true, "interests": "x".repeat(5000), "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(long_interests.status(), 400);
    let body: serde_json::Value = long_interests.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "interests", "named as the body names it: {body}");
    let no_consent = api_post(
        &server,
        "/api/v1/newsletter/subscriptions",
        serde_json::json!({"email": "lis@eksempel.dk", "consent": false, "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(no_consent.status(), 400);
    let accepted = api_post(
        &server,
        "/api/v1/newsletter/subscriptions",
        serde_json::json!({"email": "lis@eksempel.dk", "consent": true, "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(accepted.status(), 202);
    let mails = server.smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
    let token = mails[0]
        .body()
        .lines()
        .find(|l| l.contains("/nyhedsbrev/bekraeft/"))
        .unwrap()
        .trim()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let confirmed = api_post(&server, "/api/v1/newsletter/confirmations", serde_json::json!({"token": token})).await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(confirmed.json::<serde_json::Value>().await.unwrap()["state"], "active");
    let again = api_post(
        &server,
        "/api/v1/newsletter/subscriptions",
        serde_json::json!({"email": "lis@eksempel.dk", "consent": true, "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(again.status(), 202, "the same answer for a known address");
    let unsubscribe_token =
        mails[0].header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).rsplit('/').next().unwrap().to_string();
    let gone =
        api_post(&server, "/api/v1/newsletter/unsubscriptions", serde_json::json!({"token": unsubscribe_token})).await;
    assert_eq!(gone.status(), 200);
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["withdrawn_now"], true);
    assert_eq!(body["kept"][0]["purpose"], "course_enrolment");
    let bogus = api_post(&server, "/api/v1/newsletter/confirmations", serde_json::json!({"token": "nope"})).await;
    assert_eq!(bogus.status(), 404);
}

/// A website's retry after a lost answer, with the same `Idempotency-Key`: the same answer, and
/// nothing made twice. The same key for another request is a 422; a key that is no key, a 400.
async fn api_sign_ups_and_orders_with_an_idempotency_key_are_made_once(server: Server) {
    let session = first_session_id(&server, "prince2-foundation").await;
    let keyed = |path: &str, key: &str, body: serde_json::Value| {
        reqwest::Client::new().post(format!("{}{path}", server.base)).header("Idempotency-Key", key).json(&body).send()
    };
    let enrolment = |email: &str| serde_json::json!({"session_id": session, "fields": {"name": "Ida Igen", "email": email}, "notice_version": "2026.1"});
    // Another site's page may send the header from the browser: the preflight allows it.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/enrolments", server.base))
        .header("Origin", "https://kursus-site.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type,idempotency-key")
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    let before = seats_left(&server, "prince2-foundation").await;
    let first = keyed("/api/v1/enrolments", "5b1f0c2e-retry", enrolment("ida@eksempel.dk")).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = keyed("/api/v1/enrolments", "5b1f0c2e-retry", enrolment("ida@eksempel.dk")).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first, "the same answer");
    assert_eq!(seats_left(&server, "prince2-foundation").await, before - 1);

    let reused = keyed("/api/v1/enrolments?lang=en", "5b1f0c2e-retry", enrolment("other@eksempel.dk")).await.unwrap();
    assert_eq!(reused.status(), 422);
    let body: serde_json::Value = reused.json().await.unwrap();
    assert_eq!(body["error"], "idempotency_key_reused");
    assert!(body["message"].as_str().unwrap().contains("Use a new key for a new request"), "{body}");
    let bad_key = keyed("/api/v1/enrolments?lang=en", &"k".repeat(300), enrolment("ida2@eksempel.dk")).await.unwrap();
    assert_eq!(bad_key.status(), 400);
    let body: serde_json::Value = bad_key.json().await.unwrap();
    assert_eq!(body["error"], "invalid_idempotency_key");
    assert!(body["message"].as_str().unwrap().contains("1 to 255 visible ASCII characters"), "{body}");
    assert_eq!(seats_left(&server, "prince2-foundation").await, before - 1, "nothing stored for either");

    let order = serde_json::json!({
        "session_id": session,
        "buyer_kind": "person",
        "buyer": {"name": "Ole Ordre", "email": "ole@eksempel.dk", "address": "Torvet 1, 8000 Aarhus C"},
        "participants": [{"name": "Ole Ordre", "email": "ole@eksempel.dk"}],
        "notice_version": "2026.1",
    });
    let placed = keyed("/api/v1/orders", "order-1", order.clone()).await.unwrap();
    assert_eq!(placed.status(), 201);
    let placed: serde_json::Value = placed.json().await.unwrap();
    let replayed = keyed("/api/v1/orders", "order-1", order).await.unwrap();
    assert_eq!(replayed.status(), 201);
    let replayed: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(replayed, placed, "the same order and invoice, answered again");
    assert!(placed["invoice"]["number"].as_u64().is_some(), "{placed}");
    assert_eq!(seats_left(&server, "prince2-foundation").await, before - 2, "one more seat, not two");

    // Without a key, someone already enrolled enrolled again: the enrolment held answers it.
    let unkeyed = reqwest::Client::new()
        .post(format!("{}/api/v1/enrolments", server.base))
        .json(&enrolment("ida@eksempel.dk"))
        .send()
        .await
        .unwrap();
    assert_eq!(unkeyed.status(), 201);
    assert_eq!(unkeyed.json::<serde_json::Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(seats_left(&server, "prince2-foundation").await, before - 2, "no second seat");
}

async fn gpc_header_refuses_marketing_whatever_the_page_asks(server: Server) {
    let version = config(&server, "da").await["cookie_version"].as_str().unwrap().to_string();
    let with_gpc = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(format!("{}/consent/decisions", server.base))
            .header("sec-gpc", "1")
            .json(&body)
            .send()
    };
    let answer: serde_json::Value =
        with_gpc(decision(&version, &["statistics", "marketing"])).await.unwrap().json().await.unwrap();
    assert_eq!(answer["granted"], serde_json::json!(["necessary", "statistics"]), "marketing is dropped");
    assert_eq!(answer["method"], "gpc", "and the decision says GPC made it");
    let receipt: serde_json::Value =
        get(&server, &format!("/consent/receipts/{}", answer["receipt_id"].as_str().unwrap()))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(receipt["collection_method"], "gpc");

    let plain: serde_json::Value = with_gpc(decision(&version, &["statistics"])).await.unwrap().json().await.unwrap();
    assert_eq!(plain["method"], "click", "a choice without marketing is the visitor's own click");
}
