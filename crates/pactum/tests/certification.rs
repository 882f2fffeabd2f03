//! Certification and disclosures over real HTTP: the partner's API, the proctor's pages and the
//! staff's exports. P08, P09, P10, P12, P13, P15, P16, C3. SQLite always; PostgreSQL where
//! PACTUM_TEST_PG_URL is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::staff::*;
use common::*;
use pactum_core::staff::Role;
use reqwest::StatusCode;

on_both_backends!(
    p15_p16_partner_messages_reach_only_the_proctor_and_are_gone_after_the_course,
    p08_p10_p12_staff_export_what_the_policy_allows_and_nothing_else,
    p14_c4_an_objection_cancels_the_certification_and_tells_the_partner,
    l9_an_incident_has_a_72_hour_deadline_the_people_affected_and_a_prefilled_report,
);

async fn session_of(server: &Server, slug: &str) -> String {
    let courses: serde_json::Value =
        client().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let course = courses.as_array().unwrap().iter().find(|c| c["slug"] == slug).unwrap();
    course["sessions"][0]["id"].as_str().unwrap().to_string()
}

async fn p15_p16_partner_messages_reach_only_the_proctor_and_are_gone_after_the_course(server: Server) {
    let admin = sign_in(&server, &set_up(&server, "admin", Role::Admin).await).await;
    let ida_account = set_up(&server, "ida", Role::Instructor).await;
    let ida = sign_in(&server, &ida_account).await;
    let ole = sign_in(&server, &set_up(&server, "ole", Role::Instructor).await).await;
    let kim = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let catalogue = with_instructor(pactum_policy::EXAMPLE_CATALOGUE, "ida");
    assert_eq!(staff_post(&server, Some(&admin), "/admin/catalogue", &[("catalogue", &catalogue)]).await.status(), 200);
    let session = first_session_id(&server).await;
    enrol_by_api(&server, &session, "Karen Kjær", "karen@eksempel.dk", true).await;
    enrol_by_api(&server, &session, "Lars Lund", "lars@eksempel.dk", false).await;
    let website = issue_token(&server, &admin, "website", &["catalogue:write"]).await;
    let partner = issue_token(&server, &admin, "partner", &["certification"]).await;

    // P13: the partner gets only the participant who chose certification, name and e-mail only.
    let refused = certification_participants(&server, &website, &session).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"], "insufficient_scope");
    let export = certification_participants(&server, &partner, &session).await;
    assert_eq!(export.status(), 200);
    let export: serde_json::Value = export.json().await.unwrap();
    assert_eq!(export["recipient"], "certification_partner");
    assert_eq!(export["categories"], serde_json::json!(["name", "email"]));
    let people = export["people"].as_array().unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(
        (people[0]["name"].as_str(), people[0]["email"].as_str()),
        (Some("Karen Kjær"), Some("karen@eksempel.dk"))
    );
    let karen = people[0]["reference"].as_str().unwrap().to_string();

    // Bad input is named; someone who did not choose certification is refused.
    let message = |kind: &str, passed: Option<bool>, subject: &str| {
        let mut body = serde_json::json!({"session_id": session, "participant": karen, "kind": kind,
                                          "subject": subject, "body": "Eksamen kl. 13.00 i lokale 2."});
        if let Some(passed) = passed {
            body["passed"] = passed.into();
        }
        body
    };
    let no_result = deliver_message(&server, &partner, message("result", None, "Resultat")).await;
    assert_eq!(no_result.status(), 400);
    assert_eq!(no_result.json::<serde_json::Value>().await.unwrap()["fields"][0]["field"], "passed");
    let roster =
        staff_get(&server, Some(&kim), &format!("/admin/sessions/{session}/roster")).await.text().await.unwrap();
    assert!(roster.contains("Registrér en besked fra certificeringspartneren"), "coordinators may upload");
    let offered = between(&roster, "<select id=\"participant\" name=\"participant\">", "</select>");
    assert!(offered.contains(&karen) && offered.contains("Karen Kjær") && !offered.contains("Lars Lund"), "{offered}");
    let mut unknown = message("registration", None, "Registrering");
    unknown["participant"] = "0199a000-0000-7000-8000-000000000000".into();
    assert_eq!(deliver_message(&server, &partner, unknown).await.status(), 404);

    let registration = deliver_message(&server, &partner, message("registration", None, "Registrering: PRINCE2")).await;
    assert_eq!(registration.status(), 201);
    let registration = registration.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let result = deliver_message(&server, &partner, message("result", Some(true), "Resultat: bestået")).await;
    assert_eq!(result.status(), 201);
    let result = result.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    // P15: the assigned instructor reads them; every other role and instructor gets 403.
    let page = staff_get(&server, Some(&ida), &format!("/admin/sessions/{session}/certification")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Registrering: Registrering: PRINCE2") && html.contains("Resultat: Resultat: bestået"),
        "{html}"
    );
    assert!(html.contains("Deltager: Karen Kjær") && html.contains("Eksamen kl. 13.00 i lokale 2."));
    let list = staff_get(&server, Some(&ida), "/admin/sessions").await.text().await.unwrap();
    assert!(list.contains(&format!("/admin/sessions/{session}/certification")));
    for id in [&registration, &result] {
        let one = staff_get(&server, Some(&ida), &format!("/admin/certification/messages/{id}")).await;
        assert_eq!(one.status(), 200);
        for other in [&ole, &admin, &kim] {
            let refused = staff_get(&server, Some(other), &format!("/admin/certification/messages/{id}")).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        }
    }
    let other_list = staff_get(&server, Some(&ole), &format!("/admin/sessions/{session}/certification")).await;
    assert_eq!(other_list.status(), StatusCode::FORBIDDEN);

    // P08, P18, P30: Karen's access report lists the disclosure with recipient, country and
    // safeguard, the record kept until five years after the course end, and the messages.
    let before = server.smtp.messages().len();
    assert_eq!(ask_for_link(&server, "karen@eksempel.dk").await.status(), 200);
    let link = mailed_link(&server, before + 1).await;
    let portal = open(&server, &link).await;
    let report = no_redirects().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    let disclosures = between(&report, "<ul id=\"disclosures\">", "</ul>");
    assert!(
        disclosures.contains("Eksempel Certificeringspartner Ltd (eksempelværdi) (GB, EU-Kommissionens tilstrækkelighedsafgørelse (art. 45))")
            && disclosures.contains("Navn, E-mailadresse"),
        "{disclosures}"
    );
    let records = between(&report, "<ul id=\"participations\">", "</ul>");
    assert!(records.contains("kurset sluttede 12. marts 2027: bestået"), "{records}");
    assert!(records.contains("slettes efter 12. marts 2032"), "P18: {records}");
    let messages = between(&report, "<ul id=\"certification-messages\">", "</ul>");
    assert!(
        messages.contains("«Registrering: PRINCE2»") && messages.contains("slettes efter 12. marts 2027"),
        "{messages}"
    );
    let copy: serde_json::Value =
        no_redirects().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(copy["disclosures"][0]["recipient"], "certification_partner");
    assert_eq!(copy["participations"][0]["retain_until"], "2032-03-12");
    let name = copy["items"].as_array().unwrap().iter().find(|i| i["category"] == "name").unwrap();
    assert_eq!(name["received_by"][0]["country"], "GB");

    // P16: the session ends 12 March 2027. On that day they are still there; the sweep on the
    // night after deletes both, and their pages answer 404.
    server.clock.set(time::macros::datetime!(2027-03-12 20:00 UTC));
    (server.sweep)().await;
    let ida = sign_in(&server, &ida_account).await;
    let still = staff_get(&server, Some(&ida), &format!("/admin/certification/messages/{registration}")).await;
    assert_eq!(still.status(), 200, "kept through the course's last day");
    server.clock.set(time::macros::datetime!(2027-03-13 00:30 UTC));
    (server.sweep)().await;
    let ida = sign_in(&server, &ida_account).await;
    for id in [&registration, &result] {
        let gone = staff_get(&server, Some(&ida), &format!("/admin/certification/messages/{id}")).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    }
}

async fn p08_p10_p12_staff_export_what_the_policy_allows_and_nothing_else(server: Server) {
    let kim = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let agile = session_of(&server, "agil-projektledelse").await;
    let prince = session_of(&server, "prince2-foundation").await;
    enrol_by_api(&server, &agile, "=Anna Andersen", "anna@eksempel.dk", false).await;

    let page = staff_get(&server, Some(&kim), "/admin/disclosures").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("til Eksempel Kursuspartner ApS"), "the course partner's roster is offered: {html}");
    assert!(html.contains("til sponsoren Eksempel Sponsor A/S"));
    assert!(html.contains("Skatteforvaltningen"));

    // P08: the partner that delivers the course gets the roster as CSV, formula-safe.
    let export = staff_post(
        &server,
        Some(&kim),
        "/admin/disclosures",
        &[("recipient", "course_partner"), ("purpose", "course_enrolment"), ("scope", &format!("session:{agile}"))],
    )
    .await;
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = export.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"videregivelse-course_partner-"), "{disposition}");
    let csv = export.text().await.unwrap();
    assert!(csv.starts_with("\"reference\",\"name\",\"email\",\"phone\",\"title\",\"company\"\r\n"), "{csv}");
    assert!(csv.contains("\"'=Anna Andersen\",\"anna@eksempel.dk\""), "a leading = is defused: {csv}");

    // L7: the record of processing shows the recipient with what the ledger holds.
    let dpo = sign_in(&server, &set_up(&server, "dpo", Role::Dpo).await).await;
    let ropa = staff_get(&server, Some(&dpo), "/admin/ropa").await;
    assert_eq!(ropa.status(), 200);
    let ropa = ropa.text().await.unwrap();
    let enrolment = between(&ropa, "id=\"activity-course_enrolment\"", "</section>");
    assert!(enrolment.contains("Kontrakt (art. 6, stk. 1, litra b)") || enrolment.contains("art. 6"), "{enrolment}");
    assert!(
        enrolment.contains("Eksempel Kursuspartner ApS (eksempelværdi) (")
            && enrolment.contains("i videregivelsesloggen: 1 person"),
        "{enrolment}"
    );
    let certification = between(&ropa, "id=\"activity-certification\"", "</section>");
    assert!(
        certification.contains("overførsel til tredjeland: EU-Kommissionens tilstrækkelighedsafgørelse (art. 45)"),
        "{certification}"
    );
    assert!(ropa.contains("Ingen databeskyttelsesrådgiver er udpeget."));

    // P10: the same roster to a partner that does not deliver that course is refused, 403.
    let refused = staff_post(
        &server,
        Some(&kim),
        "/admin/disclosures",
        &[("recipient", "course_partner"), ("purpose", "course_enrolment"), ("scope", &format!("session:{prince}"))],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Afvist: «course_partner» har ingen rolle i dette hold. Intet er videregivet."), "{html}");

    // P12: an authority's request needs its statute; with it, the invoice's buyer goes as JSON.
    place_order(&server, "indkob@eksempel.dk").await;
    let authority = |statute: &'static str| {
        let kim = &kim;
        let server = &server;
        async move {
            staff_post(
                server,
                Some(kim),
                "/admin/disclosures",
                &[
                    ("recipient", "tax_authority"),
                    ("purpose", "bookkeeping"),
                    ("scope", "invoice"),
                    ("invoice", "1"),
                    ("statute", statute),
                    ("format", "json"),
                ],
            )
            .await
        }
    };
    let no_statute = authority("").await;
    assert_eq!(no_statute.status(), StatusCode::FORBIDDEN);
    assert!(no_statute.text().await.unwrap().contains("skal angive den lovhjemmel"));
    let given = authority("Skattekontrolloven § 50, j.nr. 26-1234567").await;
    assert_eq!(given.status(), 200);
    let body: serde_json::Value = given.json().await.unwrap();
    assert_eq!(body["statute"], "Skattekontrolloven § 50, j.nr. 26-1234567");
    assert_eq!(body["basis"], "legal_obligation");
    assert_eq!(body["people"][0]["reference"], "1");
    assert_eq!(body["people"][0]["name"], "Karin Kontakt");

    // Bad input gets a 400 that names it, never a 500.
    let bad = staff_post(&server, Some(&kim), "/admin/disclosures", &[("scope", "session:not-an-id")]).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let undeclared = staff_post(&server, Some(&kim), "/admin/disclosures", &[("cpr", "010101-1234")]).await;
    assert_eq!(undeclared.status(), StatusCode::BAD_REQUEST);
    assert!(undeclared.text().await.unwrap().contains("«cpr»"));
}

async fn p14_c4_an_objection_cancels_the_certification_and_tells_the_partner(server: Server) {
    let admin = sign_in(&server, &set_up(&server, "admin", Role::Admin).await).await;
    let session = first_session_id(&server).await;
    enrol_by_api(&server, &session, "Karen Kjær", "karen@eksempel.dk", true).await;
    let partner = issue_token(&server, &admin, "partner", &["certification"]).await;
    let export: serde_json::Value = certification_participants(&server, &partner, &session).await.json().await.unwrap();
    let karen = export["people"][0]["reference"].as_str().unwrap().to_string();

    let before = server.smtp.messages().len();
    assert_eq!(ask_for_link(&server, "karen@eksempel.dk").await.status(), 200);
    let portal = open(&server, &mailed_link(&server, before + 1).await).await;
    let page = no_redirects().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    // The consequence is stated before the person confirms (P13, P14).
    let section = between(&page, "Indsigelse mod videregivelse til certificeringspartneren</h2>", "<h2>");
    assert!(
        section.contains("Du kan gøre indsigelse når som helst, men så kan du ikke tage certificeringen."),
        "{section}"
    );
    let action = between(section, "action=\"", "\"").to_string();
    let token = hidden_form_token(&page);
    let unconfirmed = no_redirects()
        .post(format!("{}{action}", server.base))
        .form(&[("form_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unconfirmed.status(), 400);
    assert!(unconfirmed.text().await.unwrap().contains("Intet er ændret."));
    let objected = no_redirects()
        .post(format!("{}{action}", server.base))
        .form(&[("form_token", token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(objected.status(), 200);
    let html = objected.text().await.unwrap();
    assert!(html.contains("Din indsigelse er registreret, og certificeringen er annulleret."), "{html}");
    assert!(
        !html.contains("Indsigelse mod videregivelse til certificeringspartneren</h2>"),
        "nothing left to object to"
    );

    // Effective at once: nothing more goes to the partner or comes from it.
    let after: serde_json::Value = certification_participants(&server, &partner, &session).await.json().await.unwrap();
    assert!(after["people"].as_array().unwrap().is_empty(), "{after}");
    let refused = deliver_message(
        &server,
        &partner,
        serde_json::json!({"session_id": session, "participant": karen, "kind": "registration", "subject": "R", "body": "B"}),
    )
    .await;
    assert_eq!(refused.status(), 409);
    // The partner is told, by the reference it got.
    let mails = server.smtp.wait_for(before + 2, std::time::Duration::from_secs(10)).await;
    let notice = mails
        .iter()
        .find(|m| m.to.iter().any(|t| t == "privacy@certificeringspartner.example"))
        .expect("the certification partner is notified");
    let body = notice.body();
    assert!(body.contains(&karen) && body.contains("gjort indsigelse"), "{body}");
    // A second objection (or one to someone else's enrolment) changes nothing and says so.
    let again = no_redirects()
        .post(format!("{}{action}", server.base))
        .form(&[("form_token", token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_ne!(again.status(), 200);
    assert_ne!(again.status(), 500);
}

async fn l9_an_incident_has_a_72_hour_deadline_the_people_affected_and_a_prefilled_report(server: Server) {
    let kim = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let dpo_account = set_up(&server, "dpo", Role::Dpo).await;
    let dpo = sign_in(&server, &dpo_account).await;
    let agile = session_of(&server, "agil-projektledelse").await;
    enrol_by_api(&server, &agile, "Anna Andersen", "anna@eksempel.dk", false).await;
    enrol_by_api(&server, &agile, "Bo Bæk", "bo@eksempel.dk", false).await;
    let export = staff_post(
        &server,
        Some(&kim),
        "/admin/disclosures",
        &[("recipient", "course_partner"), ("purpose", "course_enrolment"), ("scope", &format!("session:{agile}"))],
    )
    .await;
    assert_eq!(export.status(), 200);
    // The clock stands at 25 November 2026 10:00 UTC (plus sign-in steps).
    let fields = |aware: &'static str, risk: &'static str| {
        vec![
            ("title", "Kursuspartnerens deltagerliste sendt til forkert modtager"),
            ("description", "Partneren sendte deltagerlisten til en forkert e-mailadresse."),
            ("aware_at", aware),
            ("occurred_from", "2026-11-25T00:00"),
            ("occurred_to", "2026-11-25T23:59"),
            ("recipient", "course_partner"),
            ("category", "name"),
            ("category", "email"),
            ("consequences", "Uønskede henvendelser."),
            ("measures", "Modtageren har slettet mailen."),
            ("risk", risk),
        ]
    };
    // Bad input is named and nothing is stored.
    let future = staff_post(&server, Some(&dpo), "/admin/incidents", &fields("2030-01-01T00:00", "high")).await;
    assert_eq!(future.status(), 400);
    let bad_risk = staff_post(&server, Some(&dpo), "/admin/incidents", &fields("2026-11-25T08:00", "enorm")).await;
    assert_eq!(bad_risk.status(), 400);
    assert!(bad_risk.text().await.unwrap().contains("«risk»"));
    let recorded = staff_post(&server, Some(&dpo), "/admin/incidents", &fields("2026-11-25T08:00", "high")).await;
    assert_eq!(recorded.status(), reqwest::StatusCode::SEE_OTHER);
    let path = recorded.headers()["location"].to_str().unwrap().to_string();

    let page = staff_get(&server, Some(&dpo), &path).await.text().await.unwrap();
    assert!(page.contains("<dd id=\"deadline\">28.11.2026 08:00 UTC</dd>"), "72 hours after awareness: {page}");
    assert!(page.contains("<dd id=\"affected-count\">2</dd>"), "both people on the disclosed list");
    let report = between(&page, "<dl id=\"report\">", "</dl>");
    assert!(
        report.contains("Oplysninger: Navn, E-mailadresse. Omtrent 2 registrerede og 2 registreringer."),
        "{report}"
    );
    assert!(report.contains("Metier (eksempelværdi – udskift før drift) &#60;privacy@metier.example&#62;"), "{report}");
    let notice = between(&page, "<pre id=\"notice\">", "</pre>");
    assert!(
        notice.contains("Modtageren har slettet mailen.") && notice.contains("Datatilsynet"),
        "Art. 34 draft: {notice}"
    );
    assert!(!page.contains("Anna") && !page.contains("anna@eksempel.dk"), "pseudonymous ids only");

    assert_eq!(staff_get(&server, Some(&kim), "/admin/incidents").await.status(), 403, "coordinators do not see it");

    // Past the deadline without a report: the page and the list raise the alarm.
    server.clock.advance(time::Duration::hours(73));
    let dpo = sign_in(&server, &dpo_account).await;
    let late = staff_get(&server, Some(&dpo), &path).await.text().await.unwrap();
    assert!(late.contains("Fristen for anmeldelse til Datatilsynet er overskredet"), "{late}");
    let list = staff_get(&server, Some(&dpo), "/admin/incidents").await.text().await.unwrap();
    assert!(list.contains("Fristen er overskredet"));
    let reported = staff_post(&server, Some(&dpo), &format!("{path}/reported"), &[]).await;
    assert_eq!(reported.status(), reqwest::StatusCode::SEE_OTHER);
    let list = staff_get(&server, Some(&dpo), "/admin/incidents").await.text().await.unwrap();
    assert!(list.contains("Anmeldt") && !list.contains("Fristen er overskredet"), "{list}");
}
