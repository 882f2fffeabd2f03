//! "My data" over real HTTP with mail over real SMTP: the identity check by a single-use link that
//! answers the same for unknown addresses (L1), the report with purposes, bases and deletion dates
//! (P30), a copy as JSON, withdrawal of a consent in one step (P21) and erasure (P33).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

on_both_backends!(
    l1_p30_a_mailed_single_use_link_opens_everything_held,
    p21_p33_withdraw_a_consent_and_erase_everything_from_the_portal,
);

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn form_token(html: &str) -> String {
    html.split("name=\"form_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

async fn enrol(server: &Server, email: &str, newsletter: bool) {
    let courses: serde_json::Value =
        client().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let session = courses[0]["sessions"][0]["id"].as_str().unwrap().to_string();
    let enrolled = client()
        .post(format!("{}/api/v1/enrolments", server.base))
        .json(&serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": email, "phone": "+45 12 34 56 78"}, "newsletter": newsletter, "notice_version": "2026.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);
}

async fn l1_p30_a_mailed_single_use_link_opens_everything_held(server: Server) {
    enrol(&server, "lis@eksempel.dk", false).await;
    let unknown = ask_for_link(&server, "nobody@eksempel.dk").await;
    assert_eq!(unknown.status(), 200);
    let unknown_text = unknown.text().await.unwrap();
    let known = ask_for_link(&server, "Lis@Eksempel.dk").await;
    assert_eq!(known.status(), 200);
    assert_eq!(known.text().await.unwrap(), unknown_text, "the answer never tells whether the address is known");

    let link = mailed_link(&server, 1).await;
    assert_eq!(server.smtp.wait_for(1, Duration::from_millis(300)).await.len(), 1, "no mail for the unknown address");
    let portal = open(&server, &link).await;
    let again = client().post(format!("{}{link}", server.base)).send().await.unwrap();
    assert_eq!(again.status(), 404, "the mailed link works once");

    let page = client().get(format!("{}{portal}", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers().get("set-cookie").is_none(), "the portal sets no cookie");
    let html = page.text().await.unwrap();
    for needle in [
        "Lis Lund",
        "lis@eksempel.dk",
        "+4512345678",
        "Tilmelding til kurser (Opfyldelse af aftale)",
        "slettes efter 21. maj 2027",
        "ingen afgørelser om dig alene ved automatisk behandling",
    ] {
        assert!(html.contains(needle), "the report shows {needle}: {html}");
    }
    let json: serde_json::Value =
        client().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    let categories: Vec<&str> =
        json["items"].as_array().unwrap().iter().map(|i| i["category"].as_str().unwrap()).collect();
    assert!(categories.contains(&"email") && categories.contains(&"phone"), "{json}");
    // P30: the export itself holds the consent history (none given here) and the statement.
    assert_eq!(json["consents"], serde_json::json!([]), "{json}");
    assert!(json["automated_decisions"].as_str().unwrap().contains("ingen afgørelser om dig alene"), "{json}");

    server.clock.advance(time::Duration::minutes(31));
    assert_eq!(
        client().get(format!("{}{portal}", server.base)).send().await.unwrap().status(),
        410,
        "a visit lasts 30 minutes"
    );
    let forged = client().get(format!("{}/mine-data/s/{}", server.base, "0".repeat(64))).send().await.unwrap();
    assert_eq!(forged.status(), 404);
}

async fn p21_p33_withdraw_a_consent_and_erase_everything_from_the_portal(server: Server) {
    enrol(&server, "lis@eksempel.dk", true).await;
    enrol(&server, "other@eksempel.dk", true).await;
    server.smtp.wait_for(2, Duration::from_secs(5)).await;
    ask_for_link(&server, "lis@eksempel.dk").await;
    let portal = open(&server, &mailed_link(&server, 3).await).await;
    let html = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Nyhedsmails</strong>: afventer din bekræftelse"), "{html}");
    let action =
        html.split("action=\"").find(|s| s.contains("/tilbagekald")).unwrap().split('"').next().unwrap().to_string();
    let token = form_token(&html);

    // Someone else's consent id in the same form is refused.
    let other_consent = "0199a000-0000-7000-8000-000000000000";
    let idor = client()
        .post(format!("{}{portal}/samtykker/{other_consent}/tilbagekald", server.base))
        .form(&[("form_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(idor.status(), 404);

    let withdrawn =
        client().post(format!("{}{action}", server.base)).form(&[("form_token", token.as_str())]).send().await.unwrap();
    assert_eq!(withdrawn.status(), 200);
    let html = withdrawn.text().await.unwrap();
    assert!(html.contains("trukket tilbage med virkning fra nu"), "{html}");
    assert!(html.contains("Dette beholder vi på et andet grundlag: Tilmelding til kurser"), "{html}");
    assert!(html.contains("Nyhedsmails</strong>: trukket tilbage"));
    // P30: the export holds the consent's history: the exact text asked, how and when.
    let json: serde_json::Value =
        client().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    let consents = json["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 1, "{json}");
    let consent = &consents[0];
    assert_eq!(consent["purpose"], "newsletter");
    assert_eq!(consent["state"], "withdrawn");
    assert_eq!(consent["policy_version"], "2026.1");
    assert!(consent["text"].as_str().unwrap().starts_with("Ja tak, send mig nyhedsmails"), "{consent}");
    assert_eq!(consent["method"], "api", "given through the API");
    assert_eq!(consent["text_hash"].as_str().unwrap().len(), 64, "{consent}");
    assert!(consent["requested_at"].as_i64().unwrap() > 0);
    assert!(consent["confirmed_at"].is_null(), "never confirmed: {consent}");
    assert!(consent["withdrawn_at"].as_i64().unwrap() >= consent["requested_at"].as_i64().unwrap());
    assert!(consent["withdraw_method"].as_str().is_some(), "{consent}");

    let erase = format!("{}{portal}/slet", server.base);
    let unconfirmed = client().post(&erase).form(&[("form_token", token.as_str())]).send().await.unwrap();
    assert_eq!(unconfirmed.status(), 400, "erasure needs the box ticked");
    let erased =
        client().post(&erase).form(&[("form_token", token.as_str()), ("confirm", "yes")]).send().await.unwrap();
    assert_eq!(erased.status(), 200);
    let html = erased.text().await.unwrap();
    assert!(html.contains("Dine data er slettet") && html.contains("Sletningsbevis"), "{html}");
    assert_eq!(client().get(format!("{}{portal}", server.base)).send().await.unwrap().status(), 404);
    ask_for_link(&server, "lis@eksempel.dk").await;
    assert_eq!(server.smtp.wait_for(4, Duration::from_millis(500)).await.len(), 3, "an erased address gets no link");
}
