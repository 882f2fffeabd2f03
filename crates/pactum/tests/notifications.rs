//! Art. 19 over the wire (L4, P33): after a person erases their data from the portal, every
//! recipient the disclosure ledger shows received it is told, by e-mail on a real SMTP listener and
//! by a signed webhook to a real HTTP server, naming the person only by the export's reference; the
//! DPO sees each delivery. SQLite always; PostgreSQL where PACTUM_TEST_PG_URL is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::staff::*;
use common::*;
use pactum_core::staff::Role;
use pactum_store::Backend;
use pactum_testkit::webhook::WebhookServer;

const SECRET: &str = "the co-organiser's webhook key";
const SECRET_ENV: &str = "PACTUM_NOTIFY_SECRET_CO_ORGANISER";

async fn with_webhook<B: Backend>(backend: B, dir: tempfile::TempDir) -> (Server, WebhookServer) {
    let hook = WebhookServer::start(SECRET).await.unwrap();
    let text = pactum_policy::BUNDLED_POLICY.replace(
        "notify = { email = \"privacy@medarrangor.example\" }",
        &format!("notify = {{ webhook = \"{}\", secret_env = \"{SECRET_ENV}\" }}", hook.url),
    );
    let policy = pactum_policy::parse_policy("metier.toml", &text).unwrap();
    let settings = pactum_core::Settings {
        notify_secrets: pactum_core::NotifySecrets([(SECRET_ENV.to_string(), SECRET.to_string())].into()),
        ..Default::default()
    };
    (serve_with_settings(backend, policy, dir, Default::default(), settings).await, hook)
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("pactum.db").display());
    let backend = pactum_store_sqlite::SqliteBackend::connect(&url).await.unwrap();
    let (server, hook) = with_webhook(backend, dir).await;
    l4_after_an_erasure_every_recipient_is_notified_on_the_wire(server, hook).await;
}

#[tokio::test]
async fn postgres_backend() {
    let Some(backend) = fresh_postgres().await else { return };
    let (server, hook) = with_webhook(backend, tempfile::tempdir().unwrap()).await;
    l4_after_an_erasure_every_recipient_is_notified_on_the_wire(server, hook).await;
}

async fn session_of(server: &Server, slug: &str) -> String {
    let courses: serde_json::Value =
        client().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let course = courses.as_array().unwrap().iter().find(|c| c["slug"] == slug).unwrap();
    course["sessions"][0]["id"].as_str().unwrap().to_string()
}

async fn l4_after_an_erasure_every_recipient_is_notified_on_the_wire(server: Server, hook: WebhookServer) {
    let kim = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let dpo = sign_in(&server, &set_up(&server, "dpo", Role::Dpo).await).await;
    let agile = session_of(&server, "agil-projektledelse").await;
    enrol_by_api(&server, &agile, "Nina Nørgaard", "nina@eksempel.dk", false).await;
    let signed_up = client()
        .post(format!("{}/api/v1/events/projektlederdagen-2027/signups", server.base))
        .json(&serde_json::json!({"fields": {"name": "Nina Nørgaard", "email": "nina@eksempel.dk"}, "notice_version": "2026.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);
    let offers = staff_get(&server, Some(&kim), "/admin/disclosures").await.text().await.unwrap();
    let event = between(&offers, "value=\"event:", "\"").to_string();

    // The course partner and the co-organiser receive their lists; the sponsor nobody (no box ticked).
    let mut references = Vec::new();
    for (recipient, purpose, scope) in [
        ("course_partner", "course_enrolment", format!("session:{agile}")),
        ("co_organiser", "event_signup", format!("event:{event}")),
    ] {
        let export = staff_post(
            &server,
            Some(&kim),
            "/admin/disclosures",
            &[("recipient", recipient), ("purpose", purpose), ("scope", &scope), ("format", "json")],
        )
        .await;
        assert_eq!(export.status(), 200);
        let body: serde_json::Value = export.json().await.unwrap();
        assert_eq!(body["people"].as_array().unwrap().len(), 1);
        references.push(body["people"][0]["reference"].as_str().unwrap().to_string());
    }

    // Nina erases everything from the portal.
    let before = server.smtp.messages().len();
    assert_eq!(ask_for_link(&server, "nina@eksempel.dk").await.status(), 200);
    let portal = open(&server, &mailed_link(&server, before + 1).await).await;
    let page = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    let token = hidden_form_token(&page);

    // A correction first: every recipient of the name is told, and the log says what it was (L4).
    let corrected = client()
        .post(format!("{}{portal}/ret", server.base))
        .form(&[("form_token", token.as_str()), ("name", "Nina N. Nørgaard")])
        .send()
        .await
        .unwrap();
    assert_eq!(corrected.status(), 200);
    let rectified = hook.wait_for(1, Duration::from_secs(10)).await;
    let json: serde_json::Value = serde_json::from_slice(&rectified[0].body).unwrap();
    assert_eq!(json["kind"].as_str(), Some("rectification"));
    let mut log = String::new();
    for _ in 0..50 {
        log = staff_get(&server, Some(&dpo), "/admin/notifications").await.text().await.unwrap();
        if log.matches("Leveret").count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log.matches("<td>Berigtigelse</td>").count(), 2, "{log}");
    assert!(!log.contains("<td>Sletning</td>"), "{log}");
    let before = server.smtp.messages().len();

    let erased = client()
        .post(format!("{}{portal}/slet", server.base))
        .form(&[("form_token", token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);

    // The course partner gets an e-mail naming the reference it got, and nothing personal.
    let mails = server.smtp.wait_for(before + 1, Duration::from_secs(10)).await;
    let notice = mails[before..]
        .iter()
        .find(|m| m.to.iter().any(|t| t == "privacy@kursuspartner.example"))
        .expect("the course partner is notified by e-mail");
    let body = notice.body();
    assert!(body.contains(&references[0]) && body.contains("art. 19") && body.contains("skal slettes"), "{body}");
    assert!(!notice.data.contains("Nina") && !notice.data.contains("nina@eksempel.dk"), "no personal value");

    // The co-organiser's webhook gets a signed JSON notification.
    let deliveries = hook.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries[1].signature_valid, "signed with the co-organiser's key: {:?}", deliveries[1].signature);
    let json: serde_json::Value = serde_json::from_slice(&deliveries[1].body).unwrap();
    assert_eq!((json["kind"].as_str(), json["recipient"].as_str()), (Some("erasure"), Some("co_organiser")));
    assert_eq!(json["reference"].as_str(), Some(references[1].as_str()));

    // The DPO's delivery log shows both as delivered.
    for _ in 0..50 {
        log = staff_get(&server, Some(&dpo), "/admin/notifications").await.text().await.unwrap();
        if log.matches("Leveret").count() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log.matches("Leveret").count(), 4, "{log}");
    assert_eq!(log.matches("<td>Sletning</td>").count(), 2, "{log}");
    assert!(log.contains("Eksempel Kursuspartner ApS") && log.contains("Webhook") && log.contains(&references[1]));
}
