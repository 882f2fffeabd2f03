//! Rights requests over real HTTP with mail over real SMTP (P34, P35, L1, L3): the DPO's queue
//! with its month-end deadline, an extension with reasons mailed within the first month, the
//! overdue alarm and the reminder to the privacy contact, a refusal that states the right to
//! complain, and from "My data" a marketing objection that takes effect at once and an objection
//! that restricts the person's data until it is decided.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::staff::*;
use common::*;
use pactum_core::staff::Role;
use reqwest::StatusCode;
use time::macros::datetime;

on_both_backends!(
    p34_l1_a_letter_is_due_a_month_later_extended_with_reasons_and_refused_with_the_right_to_complain,
    p35_l3_from_my_data_a_marketing_objection_is_immediate_and_another_objection_restricts_until_decided,
    p25_p32_l4_a_correction_applies_at_once_tells_the_recipients_and_a_new_address_waits_for_its_link,
    p30_p31_l5_a_printable_report_masks_other_people_and_only_what_the_person_gave_is_portable,
    l1_p30_p35_the_rights_api_offers_the_portal_to_another_website,
    p33_l1_requests_by_letter_for_erasure_and_access_are_carried_out_from_the_queue,
);

async fn enrol(server: &Server, email: &str, newsletter: bool) {
    let courses: serde_json::Value =
        client().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let session = courses[0]["sessions"][0]["id"].as_str().unwrap().to_string();
    let enrolled = client()
        .post(format!("{}/api/v1/enrolments", server.base))
        .json(&serde_json::json!({"session_id": session, "fields": {"name": "Lis Lund", "email": email}, "newsletter": newsletter, "notice_version": "2026.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enrolled.status(), 201);
}

async fn session_of(server: &Server, slug: &str) -> String {
    let courses: serde_json::Value =
        client().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let course = courses.as_array().unwrap().iter().find(|c| c["slug"] == slug).unwrap();
    course["sessions"][0]["id"].as_str().unwrap().to_string()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

async fn text(server: &Server, session: &Session, path: &str) -> String {
    let page = staff_get(server, Some(session), path).await;
    assert_eq!(page.status(), 200, "GET {path}");
    page.text().await.unwrap()
}

async fn p34_l1_a_letter_is_due_a_month_later_extended_with_reasons_and_refused_with_the_right_to_complain(
    server: Server,
) {
    server.clock.set(datetime!(2027-01-31 09:00 UTC));
    enrol(&server, "lis@eksempel.dk", false).await;
    let account = set_up(&server, "dpo", Role::Dpo).await;
    let dpo = sign_in(&server, &account).await;

    let empty = staff_post(&server, Some(&dpo), "/admin/requests", &[("email", "lis@eksempel.dk")]).await;
    assert_eq!(empty.status(), 400, "a request needs its kind, channel, date and text");
    let html = empty.text().await.unwrap();
    assert!(html.contains("«kind»") && html.contains("«details»"), "every problem is named: {html}");
    let future = staff_post(
        &server,
        Some(&dpo),
        "/admin/requests",
        &[
            ("email", "lis@eksempel.dk"),
            ("kind", "access"),
            ("channel", "letter"),
            ("received_on", "2027-02-01"),
            ("details", "x"),
        ],
    )
    .await;
    assert_eq!(future.status(), 400, "a request cannot be received tomorrow");

    // Received by letter on 31 January: due on the last day of February (P34).
    let registered = staff_post(
        &server,
        Some(&dpo),
        "/admin/requests",
        &[
            ("email", "lis@eksempel.dk"),
            ("kind", "access"),
            ("channel", "letter"),
            ("received_on", "2027-01-31"),
            ("details", "Jeg vil gerne have indsigt i alt, I har om mig."),
        ],
    )
    .await;
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    let request = location(&registered);
    let mails = server.smtp.wait_for(1, Duration::from_secs(5)).await;
    let receipt = &mails[0];
    assert_eq!(receipt.to, vec!["lis@eksempel.dk".to_string()]);
    assert!(receipt.body().contains("Vi svarer senest 28. februar 2027"), "{}", receipt.body());

    let html = text(&server, &dpo, &request).await;
    assert!(html.contains("id=\"due\">28. februar 2027"), "{html}");
    assert!(html.contains("Jeg vil gerne have indsigt i alt, I har om mig."), "the DPO reads the person's words");
    let queue = text(&server, &dpo, "/admin/requests").await;
    assert!(queue.contains("Indsigt (art. 15)") && queue.contains("28. februar 2027"), "{queue}");
    assert!(!queue.contains("overdue-alarm"));

    // Extended by two months within the first month, with the reasons mailed at once (L1).
    server.clock.set(datetime!(2027-02-20 09:00 UTC));
    let dpo = sign_in(&server, &account).await;
    let extended = staff_post(
        &server,
        Some(&dpo),
        &format!("{request}/extend"),
        &[("months", "2"), ("reason", "Vi har modtaget usædvanligt mange anmodninger.")],
    )
    .await;
    assert_eq!(extended.status(), StatusCode::SEE_OTHER);
    let mails = server.smtp.wait_for(2, Duration::from_secs(5)).await;
    let extension = mails[1].body();
    assert!(extension.contains("senest 30. april 2027"), "{extension}");
    assert!(extension.contains("usædvanligt mange anmodninger"), "{extension}");
    let again =
        staff_post(&server, Some(&dpo), &format!("{request}/extend"), &[("months", "1"), ("reason", "Igen.")]).await;
    assert_eq!(again.status(), 409, "only one extension");
    assert!(text(&server, &dpo, &request).await.contains("id=\"extended-to\">30. april 2027"));

    // Past the extended deadline the alarm sounds on the queue and the home page, and the privacy
    // contact gets the day's reminder, naming the request only by id.
    server.clock.set(datetime!(2027-05-01 09:00 UTC));
    let dpo = sign_in(&server, &account).await;
    assert!(text(&server, &dpo, "/admin/requests").await.contains("id=\"overdue-alarm\""));
    assert!(text(&server, &dpo, "/admin").await.contains("id=\"overdue-alarm\""));
    let request_id = request.trim_start_matches("/admin/requests/");
    let mails = server.smtp.wait_for(3, Duration::from_secs(10)).await;
    let reminder = &mails[2];
    assert_eq!(reminder.to, vec!["privacy@metier.example".to_string()]);
    assert!(reminder.body().contains(request_id) && reminder.body().contains("OVERSKREDET"), "{}", reminder.body());
    assert!(!reminder.body().contains("lis@eksempel.dk") && !reminder.body().contains("Lis"), "no personal data");

    // A refusal states the reason and the right to complain to Datatilsynet (L1).
    let decided = staff_post(
        &server,
        Some(&dpo),
        &format!("{request}/decide"),
        &[("outcome", "rejected"), ("reason", "Vi kunne ikke bekræfte, at anmodningen kom fra dig.")],
    )
    .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    let mails = server.smtp.wait_for(4, Duration::from_secs(5)).await;
    let refusal = mails[3].body();
    assert!(refusal.contains("Vi kunne ikke bekræfte") && refusal.contains("Datatilsynet"), "{refusal}");
    let html = text(&server, &dpo, &request).await;
    assert!(html.contains("id=\"standing\">afvist"), "{html}");
    let twice =
        staff_post(&server, Some(&dpo), &format!("{request}/decide"), &[("outcome", "done"), ("reason", "x")]).await;
    assert_eq!(twice.status(), 409, "a closed request stays closed");
    assert!(!text(&server, &dpo, "/admin").await.contains("overdue-alarm"), "the alarm stops once answered");

    // The person sees the request, its deadline and the answer in "My data" (P30).
    ask_for_link(&server, "lis@eksempel.dk").await;
    let portal = open(&server, &mailed_link(&server, 5).await).await;
    let html = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Indsigt (art. 15): modtaget 31. januar 2027, svar senest 30. april 2027 – afvist"),
        "{html}"
    );
    let json: serde_json::Value =
        client().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    let requests = json["requests"].as_array().unwrap();
    assert_eq!(requests[0]["due_on"], "2027-02-28");
    assert_eq!(requests[0]["extended_to"], "2027-04-30");
    assert_eq!(requests[0]["standing"], "rejected");

    let unknown = staff_get(&server, Some(&dpo), "/admin/requests/0199a000-0000-7000-8000-000000000000").await;
    assert_eq!(unknown.status(), 404);
    let malformed = staff_get(&server, Some(&dpo), "/admin/requests/not-an-id").await;
    assert_eq!(malformed.status(), 404);
}

async fn p35_l3_from_my_data_a_marketing_objection_is_immediate_and_another_objection_restricts_until_decided(
    server: Server,
) {
    enrol(&server, "lis@eksempel.dk", true).await;
    server.smtp.wait_for(1, Duration::from_secs(5)).await;
    ask_for_link(&server, "lis@eksempel.dk").await;
    let portal = open(&server, &mailed_link(&server, 2).await).await;
    let html = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    let token = hidden_form_token(&html);

    // Marketing: at once, unconditionally, in this request (P35, C2).
    let object = || async {
        let objected = client()
            .post(format!("{}{portal}/markedsfoering/indsigelse", server.base))
            .form(&[("form_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(objected.status(), 200);
        objected.text().await.unwrap()
    };
    let html = object().await;
    assert!(html.contains("Din indsigelse mod markedsføring er registreret med virkning fra nu"), "{html}");
    assert!(html.contains("Nyhedsmails</strong>: trukket tilbage"), "{html}");
    assert!(html.contains("Indsigelse (art. 21): modtaget"), "the objection is on record: {html}");
    // The same form sent again (a double click): the same answer, and the objection on record once.
    let html = object().await;
    assert!(html.contains("Din indsigelse mod markedsføring er registreret med virkning fra nu"), "{html}");
    assert_eq!(html.matches("Indsigelse (art. 21): modtaget").count(), 1, "{html}");

    // Any other objection goes to the DPO, with the data restricted meanwhile (P35, L3).
    let missing = client()
        .post(format!("{}{portal}/anmodning", server.base))
        .form(&[("form_token", token.as_str()), ("kind", "objection"), ("details", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400, "the request needs its text");
    let odd = client()
        .post(format!("{}{portal}/anmodning", server.base))
        .form(&[("form_token", token.as_str()), ("kind", "erasure"), ("details", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 400, "erasure has its own button");
    let sent = client()
        .post(format!("{}{portal}/anmodning", server.base))
        .form(&[
            ("form_token", token.as_str()),
            ("kind", "objection"),
            ("details", "Jeg gør indsigelse mod brugen af min kursusevaluering."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let html = sent.text().await.unwrap();
    assert!(html.contains("id=\"restricted\""), "the person is told the data is restricted: {html}");
    let mails = server.smtp.wait_for(3, Duration::from_secs(5)).await;
    assert!(mails[2].body().contains("Vi svarer senest 25. december 2026"), "{}", mails[2].body());

    let dpo = sign_in(&server, &set_up(&server, "dpo", Role::Dpo).await).await;
    let queue = text(&server, &dpo, "/admin/requests").await;
    let request = format!("/admin/requests/{}", between(&queue, "href=\"/admin/requests/", "\""));
    let html = text(&server, &dpo, &request).await;
    assert!(html.contains("id=\"restricted\"") && html.contains("kursusevaluering"), "{html}");

    // Decided: the person is told when the restriction will be lifted, before it is (L3).
    let decided = staff_post(
        &server,
        Some(&dpo),
        &format!("{request}/decide"),
        &[("outcome", "done"), ("reason", "Dine svar indgår ikke længere i evalueringen.")],
    )
    .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    let mails = server.smtp.wait_for(4, Duration::from_secs(5)).await;
    assert!(mails[3].body().contains("ophæves den 2. december 2026"), "{}", mails[3].body());
    let still = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(still.contains("id=\"restricted\""), "restricted until the announced day");
    server.clock.advance(time::Duration::days(7));
    ask_for_link(&server, "lis@eksempel.dk").await;
    let portal = open(&server, &mailed_link(&server, 5).await).await;
    let lifted = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(!lifted.contains("id=\"restricted\""), "{lifted}");
    assert!(lifted.contains("Dine svar indgår ikke længere i evalueringen."), "the answer is in the report");
}

async fn p25_p32_l4_a_correction_applies_at_once_tells_the_recipients_and_a_new_address_waits_for_its_link(
    server: Server,
) {
    let kim = sign_in(&server, &set_up(&server, "kim", Role::Coordinator).await).await;
    let agile = session_of(&server, "agil-projektledelse").await;
    enrol_by_api(&server, &agile, "Nina Nørgaard", "nina@eksempel.dk", false).await;
    let export = staff_post(
        &server,
        Some(&kim),
        "/admin/disclosures",
        &[
            ("recipient", "course_partner"),
            ("purpose", "course_enrolment"),
            ("scope", &format!("session:{agile}")),
            ("format", "json"),
        ],
    )
    .await;
    assert_eq!(export.status(), 200);
    let reference =
        export.json::<serde_json::Value>().await.unwrap()["people"][0]["reference"].as_str().unwrap().to_string();

    let before = server.smtp.messages().len();
    ask_for_link(&server, "nina@eksempel.dk").await;
    let portal = open(&server, &mailed_link(&server, before + 1).await).await;
    let html = client().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("name=\"name\" type=\"text\" value=\"Nina Nørgaard\""),
        "the form shows the value held: {html}"
    );
    let token = hidden_form_token(&html);
    let correct = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![("form_token", token.clone())];
        form.extend(fields);
        client().post(format!("{}{portal}/ret", server.base)).form(&form).send()
    };

    // Bad input changes nothing and names the problem.
    let long = correct(vec![("name", "N".repeat(1000))]).await.unwrap();
    assert_eq!(long.status(), 400);
    assert!(long.text().await.unwrap().contains("«name»"));
    let undeclared = correct(vec![("participation", "bestået".into())]).await.unwrap();
    assert_eq!(undeclared.status(), 400, "a category the person cannot edit is not a field of the form");

    // A new name applies at once; the course partner that received the old one is told (L4).
    let corrected =
        correct(vec![("name", "Nina Nørgaard-Holm".into()), ("email", "nina@eksempel.dk".into())]).await.unwrap();
    assert_eq!(corrected.status(), 200);
    let html = corrected.text().await.unwrap();
    assert!(html.contains("Dine rettelser er gemt: Navn."), "{html}");
    assert!(html.contains("value=\"Nina Nørgaard-Holm\"") && !html.contains("value=\"Nina Nørgaard\""), "{html}");
    assert!(html.contains("Berigtigelse (art. 16): modtaget"), "the change history (P25): {html}");
    let mails = server.smtp.wait_for(before + 2, Duration::from_secs(10)).await;
    let notice =
        mails.iter().find(|m| m.to.iter().any(|t| t == "privacy@kursuspartner.example")).expect("partner told");
    assert!(notice.body().contains(&reference) && notice.body().contains("rettet"), "{}", notice.body());
    assert!(!notice.data.contains("Nina"), "the notice carries no personal value");
    let json: serde_json::Value =
        client().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    let rectification = json["requests"].as_array().unwrap().iter().find(|r| r["kind"] == "rectification").unwrap();
    assert_eq!(rectification["scope"], "name");
    assert_eq!(rectification["standing"], "done", "self-service completes within the request (P34)");

    // A new address is used only once the link mailed to it is followed (P25).
    let changed = correct(vec![("email", "nina.ny@eksempel.dk".into())]).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert!(changed.text().await.unwrap().contains("Vi har sendt et link til din nye e-mailadresse"));
    let mails = server.smtp.wait_for(before + 3, Duration::from_secs(5)).await;
    let confirmation = mails.last().unwrap();
    assert_eq!(confirmation.to, vec!["nina.ny@eksempel.dk".to_string()]);
    let body = confirmation.body();
    let url = body.lines().find(|l| l.contains("/mine-data/ny-email/")).unwrap().trim();
    let link = format!("/{}", url.split_once("://").unwrap().1.split_once('/').unwrap().1);
    ask_for_link(&server, "nina.ny@eksempel.dk").await;
    assert_eq!(server.smtp.wait_for(before + 4, Duration::from_millis(500)).await.len(), before + 3, "not used yet");

    let forged = client().post(format!("{}{}x", server.base, link)).send().await.unwrap();
    assert_eq!(forged.status(), 404, "a tampered link does nothing");
    let page = client().get(format!("{}{link}", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200, "looking at the link does not use it");
    let confirmed = client().post(format!("{}{link}", server.base)).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    assert!(confirmed.text().await.unwrap().contains("Din nye e-mailadresse er bekræftet"));
    let mails = server.smtp.wait_for(before + 5, Duration::from_secs(10)).await;
    let told: Vec<&str> = mails[before + 3..].iter().map(|m| m.to[0].as_str()).collect();
    assert!(told.contains(&"nina@eksempel.dk"), "the old address is told: {told:?}");
    assert!(told.contains(&"privacy@kursuspartner.example"), "so is the partner that had the old one: {told:?}");
    let again = client().post(format!("{}{link}", server.base)).send().await.unwrap();
    assert_eq!(again.status(), 404, "the link works once");

    ask_for_link(&server, "nina@eksempel.dk").await;
    ask_for_link(&server, "nina.ny@eksempel.dk").await;
    let mails = server.smtp.wait_for(before + 7, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), before + 6, "only the new address gets a link now");
    assert_eq!(mails.last().unwrap().to, vec!["nina.ny@eksempel.dk".to_string()]);
}

async fn portal_of(server: &Server, email: &str) -> String {
    let before = server.smtp.messages().len();
    assert_eq!(ask_for_link(server, email).await.status(), 200);
    open(server, &mailed_link(server, before + 1).await).await
}

async fn p30_p31_l5_a_printable_report_masks_other_people_and_only_what_the_person_gave_is_portable(server: Server) {
    // Karin orders a seat for her colleague Anna.
    place_order(&server, "karin@eksempel.dk").await;
    server.smtp.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let portal = portal_of(&server, "karin@eksempel.dk").await;

    let report = client().get(format!("{}{portal}/rapport", server.base)).send().await.unwrap();
    assert_eq!(report.status(), 200);
    assert_eq!(report.headers()["cache-control"], "no-store");
    let html = report.text().await.unwrap();
    assert!(html.contains("<h1>Indsigtsrapport</h1>") && html.contains("Karin Kontakt"), "{html}");
    assert!(html.contains("Rapporten er lavet"), "{html}");
    assert!(!html.contains("name=\"form_token\""), "the printable report has no forms");
    assert!(
        html.contains("navn og e-mailadresse på 1 andre deltagere")
            && html.contains("databeskyttelsesforordningen art. 15, stk. 4"),
        "another person is masked with the reason, not dropped (P31): {html}"
    );
    assert!(!html.contains("Anna"), "the colleague's name is not in the buyer's report");
    let json: serde_json::Value =
        client().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(json["redactions"].as_array().unwrap().len(), 1, "{json}");

    // Portability (L5): what Karin gave, under contract, as CSV and JSON.
    let csv = client().get(format!("{}{portal}/portabilitet.csv", server.base)).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("category,label,value,source,collected_at,bases\r\n"), "{csv}");
    assert!(csv.contains("\"name\",\"Navn\",\"Karin Kontakt\""), "{csv}");
    assert!(csv.contains("\"contract\""), "{csv}");
    let portable: serde_json::Value =
        client().get(format!("{}{portal}/portabilitet.json", server.base)).send().await.unwrap().json().await.unwrap();
    let categories: Vec<&str> =
        portable["items"].as_array().unwrap().iter().map(|i| i["category"].as_str().unwrap()).collect();
    assert!(categories.contains(&"name") && categories.contains(&"address"), "{portable}");

    // Anna did not give her data herself: Karin did. She sees it all, but none of it is portable.
    let anna = portal_of(&server, "anna@eksempel.dk").await;
    let html = client().get(format!("{}{anna}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Anna Andersen"), "{html}");
    let portable: serde_json::Value =
        client().get(format!("{}{anna}/portabilitet.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(portable["items"], serde_json::json!([]), "{portable}");
    let english = client()
        .get(format!("{}/en/my-data/s/{}/portability.csv", server.base, anna.rsplit('/').next().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(english.status(), 200);
    assert_eq!(english.text().await.unwrap(), "category,label,value,source,collected_at,bases\r\n");
}

/// The token at the end of the "My data" link in the newest mail.
async fn mailed_token(server: &Server, expected_total: usize) -> String {
    mailed_link(server, expected_total).await.rsplit('/').next().unwrap().to_string()
}

async fn l1_p30_p35_the_rights_api_offers_the_portal_to_another_website(server: Server) {
    enrol(&server, "lis@eksempel.dk", true).await;
    server.smtp.wait_for(1, Duration::from_secs(5)).await;
    let api = |path: &str| format!("{}/api/v1/rights/{path}", server.base);

    // The same answer for a known and an unknown address (L1).
    let known =
        client().post(api("access-links")).json(&serde_json::json!({"email": "lis@eksempel.dk"})).send().await.unwrap();
    let unknown = client()
        .post(api("access-links"))
        .json(&serde_json::json!({"email": "nobody@eksempel.dk"}))
        .send()
        .await
        .unwrap();
    assert_eq!((known.status(), unknown.status()), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(known.headers()["content-type"], unknown.headers()["content-type"]);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    let bad =
        client().post(api("access-links")).json(&serde_json::json!({"email": "not an address"})).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let token = mailed_token(&server, 2).await;
    let visit = client().post(api("sessions")).json(&serde_json::json!({"token": token})).send().await.unwrap();
    assert_eq!(visit.status(), 201);
    let visit: serde_json::Value = visit.json().await.unwrap();
    let bearer = format!("Bearer {}", visit["token"].as_str().unwrap());
    let reused = client().post(api("sessions")).json(&serde_json::json!({"token": token})).send().await.unwrap();
    assert_eq!(reused.status(), 404, "the mailed token works once");

    let anonymous = client().get(api("report")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let forged = client().get(api("report")).header("authorization", "Bearer 00").send().await.unwrap();
    assert_eq!(forged.status(), 401);
    let report = client().get(api("report")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(report.status(), 200);
    assert_eq!(report.headers()["cache-control"], "no-store");
    let report: serde_json::Value = report.json().await.unwrap();
    let email = report["items"].as_array().unwrap().iter().find(|i| i["category"] == "email").unwrap();
    assert_eq!(email["value"], "lis@eksempel.dk");
    assert!(email["held_by"][0]["retain_until"].is_string() || email["held_by"][0]["rule"].is_string(), "{report}");

    let portable: serde_json::Value =
        client().get(api("portability")).header("authorization", &bearer).send().await.unwrap().json().await.unwrap();
    assert!(portable["items"].as_array().unwrap().iter().any(|i| i["value"] == "Lis Lund"), "{portable}");

    // Marketing objection at once (P35), then the newsletter consent reads withdrawn.
    let objected = client().post(api("objections/marketing")).header("authorization", &bearer).send().await.unwrap();
    assert_eq!(objected.status(), 200);
    assert_eq!(objected.json::<serde_json::Value>().await.unwrap()["withdrawn"], serde_json::json!(["newsletter"]));
    let someone_elses = client()
        .post(api("consents/0199a000-0000-7000-8000-000000000000/withdrawal"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(someone_elses.status(), 404);

    let corrected = client()
        .post(api("rectifications"))
        .header("authorization", &bearer)
        .json(&serde_json::json!({"values": {"name": "Lis Lund-Berg"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(corrected.status(), 200);
    assert_eq!(corrected.json::<serde_json::Value>().await.unwrap()["changed"], serde_json::json!(["name"]));
    let invalid = client()
        .post(api("rectifications"))
        .header("authorization", &bearer)
        .json(&serde_json::json!({"values": {"participation": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    assert_eq!(invalid.json::<serde_json::Value>().await.unwrap()["fields"][0]["field"], "participation");

    let requested = client()
        .post(api("requests"))
        .header("authorization", &bearer)
        .json(&serde_json::json!({"kind": "objection", "details": "Jeg gør indsigelse mod evalueringen."}))
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), 201);
    let requested: serde_json::Value = requested.json().await.unwrap();
    assert_eq!(requested["due_on"], "2026-12-25");
    assert_eq!(requested["restricted"], true);

    let unconfirmed = client()
        .post(api("erasure"))
        .header("authorization", &bearer)
        .json(&serde_json::json!({"confirm": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(unconfirmed.status(), 400);
    let body: serde_json::Value = unconfirmed.json().await.unwrap();
    assert_eq!(body["message"], "Feltet «confirm» skal være true, som bekræftelse. Intet er ændret.");
    let erase = || async {
        let erased = client()
            .post(api("erasure"))
            .header("authorization", &bearer)
            .header("idempotency-key", "erase-once-7f3a")
            .json(&serde_json::json!({"confirm": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(erased.status(), 200);
        erased.json::<serde_json::Value>().await.unwrap()
    };
    let erased = erase().await;
    assert!(erased["proof"].is_string(), "{erased}");
    // Sent again under the same Idempotency-Key: the first erasure's answer, one request on record.
    assert_eq!(erase().await, erased);
    // The open objection is a legal hold (Art. 12, 5(2)): its record stays until it is answered,
    // and is listed with the rule instead of a date; everything else is gone (P33).
    assert_eq!(erased["kept"][0]["purpose"], "rights_requests", "{erased}");
    assert_eq!(erased["kept"][0]["retain_until"], serde_json::Value::Null, "{erased}");
    let after: serde_json::Value =
        client().get(api("report")).header("authorization", &bearer).send().await.unwrap().json().await.unwrap();
    for item in after["items"].as_array().unwrap() {
        let holders: Vec<&str> = item["held_by"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["live"] == true)
            .map(|h| h["purpose"].as_str().unwrap())
            .collect();
        assert_eq!(holders, vec!["rights_requests"], "only the request's hold is left: {after}");
    }
    let erasures = after["requests"].as_array().unwrap().iter().filter(|r| r["kind"] == "erasure").count();
    assert_eq!(erasures, 1, "{after}");
}

async fn p33_l1_requests_by_letter_for_erasure_and_access_are_carried_out_from_the_queue(server: Server) {
    enrol(&server, "lis@eksempel.dk", false).await;
    let dpo = sign_in(&server, &set_up(&server, "dpo", Role::Dpo).await).await;
    let register = async |kind: &str, email: &str| {
        let fields = [
            ("email", email),
            ("kind", kind),
            ("channel", "letter"),
            ("received_on", "2026-11-25"),
            ("details", "Se brevet af 24. november."),
        ];
        let registered = staff_post(&server, Some(&dpo), "/admin/requests", &fields).await;
        assert_eq!(registered.status(), StatusCode::SEE_OTHER);
        location(&registered)
    };

    // Access by letter: the person is mailed a link to "My data".
    let access = register("access", "lis@eksempel.dk").await;
    server.smtp.wait_for(1, Duration::from_secs(5)).await;
    let wrong = staff_post(&server, Some(&dpo), &format!("{access}/erase"), &[]).await;
    assert_eq!(wrong.status(), 409, "erasure is not what this request asked for");
    let sent = staff_post(&server, Some(&dpo), &format!("{access}/send-link"), &[]).await;
    assert_eq!(sent.status(), 200);
    let link = mailed_link(&server, 2).await;
    assert!(link.starts_with("/mine-data/adgang/"), "{link}");

    // Erasure by letter: carried out from the queue, then answered by mail.
    let erasure = register("erasure", "lis@eksempel.dk").await;
    server.smtp.wait_for(3, Duration::from_secs(5)).await;
    let html = text(&server, &dpo, &erasure).await;
    assert!(html.contains("Slet personens oplysninger nu") && !html.contains("Send et link"), "{html}");
    let erased = staff_post(&server, Some(&dpo), &format!("{erasure}/erase"), &[]).await;
    assert_eq!(erased.status(), 200);
    let html = erased.text().await.unwrap();
    assert!(html.contains("oplysninger er slettet (sletningsbevis"), "{html}");
    assert!(html.contains("Bevaret efter lovkrav: rights_requests"), "the requests' own record is kept: {html}");
    let decided = staff_post(
        &server,
        Some(&dpo),
        &format!("{erasure}/decide"),
        &[("outcome", "done"), ("reason", "Vi har slettet dine oplysninger.")],
    )
    .await;
    assert_eq!(decided.status(), StatusCode::SEE_OTHER);
    let mails = server.smtp.wait_for(4, Duration::from_secs(5)).await;
    assert_eq!(mails[3].to, vec!["lis@eksempel.dk".to_string()], "the answer reaches the person after the erasure");
    assert!(mails[3].body().contains("Vi har slettet dine oplysninger."), "{}", mails[3].body());

    // What is left is the requests' record, until three years after they were answered.
    let portal = portal_of(&server, "lis@eksempel.dk").await;
    let json: serde_json::Value =
        client().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    for item in json["items"].as_array().unwrap() {
        let live: Vec<&serde_json::Value> =
            item["held_by"].as_array().unwrap().iter().filter(|h| h["live"] == true).collect();
        assert!(live.iter().all(|h| h["purpose"] == "rights_requests"), "{json}");
    }
    assert!(!json["items"].as_array().unwrap().is_empty(), "the request's contact is kept: {json}");
}
