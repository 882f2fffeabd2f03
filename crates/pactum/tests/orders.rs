//! Ordering seats over real HTTP, on both backends: the order form with the notice for every
//! purpose it starts (P03, P04), deny-by-default fields (P01), the issued invoice as the answer with
//! 25 % VAT and the bookkeeping date (L6), the confirmation mail on the SMTP wire, and an erasure
//! from "My data" that leaves the invoice restricted and says until when (P33, L6).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

on_both_backends!(
    p03_p04_the_order_form_shows_every_purpose_and_one_block_per_participant,
    p04_l6_a_company_orders_two_seats_and_gets_the_invoice_and_a_confirmation_mail,
    p01_an_order_with_an_undeclared_or_invalid_field_stores_nothing,
    p33_l6_erasing_the_buyer_keeps_the_invoice_restricted_and_says_until_when,
    p04_p01_the_json_api_orders_seats_and_names_every_bad_field,
    the_buyer_cancels_from_the_order_page_under_the_courses_terms,
    a_full_session_takes_a_waiting_list_that_is_told_when_seats_free_up,
);

/// The path of the order form of the first session of the first course, from the course page.
async fn order_form_path(server: &Server) -> String {
    let page = no_redirects().get(format!("{}/kurser/prince2-foundation", server.base)).send().await.unwrap();
    let html = page.text().await.unwrap();
    let href = html.split("href=\"").find(|s| s.contains("/bestil/")).expect("an order link").split('"').next();
    href.unwrap().to_string()
}

async fn page(server: &Server, path: &str) -> (u16, String) {
    let response = no_redirects().get(format!("{}{path}", server.base)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn company_order(token: &str) -> Vec<(String, String)> {
    [
        ("form_token", token.to_string()),
        ("notice_version", "2026.1".into()),
        ("seats", "2".into()),
        ("ordered_as", "company".into()),
        ("buyer_name", "Karin Kontakt".into()),
        ("buyer_email", "indkob@eksempel.dk".into()),
        ("buyer_company", "Eksempel A/S".into()),
        ("buyer_address", "Vestergade 1, 8000 Aarhus C".into()),
        ("buyer_phone", "+45 31 41 59 26".into()),
        ("cvr", "1234 5678".into()),
        ("purchase_order", "PO-4711".into()),
        ("p1_name", "Anna Andersen".into()),
        ("p1_email", "anna@eksempel.dk".into()),
        ("p2_name", "Bo Bæk".into()),
        ("p2_email", "bo@eksempel.dk".into()),
    ]
    .into_iter()
    .map(|(k, v): (&str, String)| (k.to_string(), v))
    .collect()
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    fields.retain(|(k, _)| k != name);
    if let Some(value) = value {
        fields.push((name.to_string(), value.to_string()));
    }
}

async fn post_order(server: &Server, path: &str, fields: &[(String, String)]) -> (u16, String) {
    let response = no_redirects().post(format!("{}{path}", server.base)).form(fields).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn p03_p04_the_order_form_shows_every_purpose_and_one_block_per_participant(server: Server) {
    let path = order_form_path(&server).await;
    let (status, html) = page(&server, &format!("{path}?seats=3")).await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("<legend>Deltager ").count(), 3, "one block per participant");
    for field in ["buyer_name", "buyer_email", "buyer_address", "cvr", "purchase_order", "p3_email", "p3_name"] {
        assert!(html.contains(&format!("name=\"{field}\"")), "the form has {field}");
    }
    assert!(!html.contains("name=\"buyer_order\""), "the order record is Pactum's own, not a form field");
    assert!(!html.contains(" checked") || html.contains("value=\"person\" checked"), "only the buyer kind is preset");
    let panel = html.split("class=\"notice-panel\"").nth(1).unwrap();
    for needle in ["Behandling af din bestilling", "Tilmelding til kurser", "Bogføring", "Bogføringsloven", "5 år"] {
        assert!(panel.contains(needle), "the notice panel names {needle}");
    }
    // A count the form cannot offer shows the nearest it can.
    let (status, html) = page(&server, &format!("{path}?seats=999")).await;
    assert_eq!(status, 200);
    assert_eq!(html.matches("<legend>Deltager ").count(), 10);
    let (status, _) = page(&server, &format!("{path}?seats=x")).await;
    assert_eq!(status, 200);
    let (status, en) = page(&server, &path.replace("/kurser/", "/en/courses/").replace("/bestil/", "/order/")).await;
    assert_eq!(status, 200);
    assert!(en.contains("Participant 1") && en.contains("Bookkeeping"), "the English form");
}

async fn p04_l6_a_company_orders_two_seats_and_gets_the_invoice_and_a_confirmation_mail(server: Server) {
    let path = order_form_path(&server).await;
    let (_, form) = page(&server, &format!("{path}?seats=2")).await;
    let (status, html) = post_order(&server, &path, &company_order(&hidden_form_token(&form))).await;
    assert_eq!(status, 201, "{html}");
    for needle in [
        "Faktura 1",
        "Eksempel A/S",
        "Att. Karin Kontakt",
        "CVR 12345678",
        "Jeres reference: PO-4711",
        "29.900,00 kr.",
        "7.475,00 kr.",
        "37.375,00 kr.",
        "9. december 2026",
        "til og med 31. december 2031",
    ] {
        assert!(html.contains(needle), "the invoice shows {needle}");
    }
    let mails = server.smtp.wait_for(1, Duration::from_secs(5)).await;
    let mail = mails.iter().find(|m| m.body().contains("Tak for din bestilling")).expect("the order confirmation");
    assert_eq!(mail.to, vec!["indkob@eksempel.dk".to_string()], "to the buyer");
    assert!(mail.body().contains("37.375,00 kr."), "{}", mail.body());
    assert!(!mail.body().contains("Anna Andersen"), "the mail repeats no participant");
    // The mail leads to the order's own page, which shows the invoice with its number.
    let body = mail.body();
    let link = body.split("finder du her:").nth(1).and_then(|s| s.split_whitespace().next()).expect("a link");
    let status_page = no_redirects().get(link).send().await.unwrap();
    assert_eq!(status_page.status(), 200, "{link}");
    assert!(status_page.text().await.unwrap().contains("Faktura 1"), "the order page shows the invoice number");
    // The seats are taken: a second order for more than is left is refused whole.
    let (_, form) = page(&server, &format!("{path}?seats=10")).await;
    let mut many = company_order(&hidden_form_token(&form));
    set(&mut many, "seats", Some("10"));
    for n in 1..=10 {
        set(&mut many, &format!("p{n}_name"), Some("Deltager"));
        set(&mut many, &format!("p{n}_email"), Some(&format!("d{n}@eksempel.dk")));
    }
    let (status, _) = post_order(&server, &path, &many).await;
    assert_eq!(status, 201, "16 seats, 2 taken: 10 more fit");
    // The same form sent again (a double click) is the same order, not ten more seats.
    let (status, html) = post_order(&server, &path, &many).await;
    assert_eq!(status, 201, "{html}");
    // A new form for another ten people.
    let (_, form) = page(&server, &format!("{path}?seats=10")).await;
    set(&mut many, "form_token", Some(&hidden_form_token(&form)));
    for n in 1..=10 {
        set(&mut many, &format!("p{n}_email"), Some(&format!("e{n}@eksempel.dk")));
    }
    let (status, html) = post_order(&server, &path, &many).await;
    assert_eq!(status, 409, "4 left: another 10 do not");
    assert!(html.contains("ikke pladser nok"), "{html}");
    let (_, form) = page(&server, &format!("{path}?seats=10")).await;
    assert_eq!(form.matches("<legend>Deltager ").count(), 4, "the form offers what is left");
    // Someone already enrolled, ordered for again: named on the form, in Danish, and no seat taken.
    let mut again = company_order(&hidden_form_token(&form));
    set(&mut again, "seats", Some("1"));
    set(&mut again, "p1_email", Some("d3@eksempel.dk"));
    set(&mut again, "p2_name", None);
    set(&mut again, "p2_email", None);
    let (status, html) = post_order(&server, &path, &again).await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("allerede tilmeldt dette hold"), "{html}");
    let (_, form) = page(&server, &format!("{path}?seats=10")).await;
    assert_eq!(form.matches("<legend>Deltager ").count(), 4, "still four seats left");
}

async fn p01_an_order_with_an_undeclared_or_invalid_field_stores_nothing(server: Server) {
    let path = order_form_path(&server).await;
    let (_, form) = page(&server, &format!("{path}?seats=2")).await;
    let token = hidden_form_token(&form);
    let mut undeclared = company_order(&token);
    set(&mut undeclared, "p1_cpr", Some("010190-1234"));
    let (status, html) = post_order(&server, &path, &undeclared).await;
    assert_eq!(status, 400);
    assert!(html.contains("p1_cpr"), "the answer names the field: {html}");
    let mut third = company_order(&token);
    set(&mut third, "p3_name", Some("Not offered"));
    let (status, html) = post_order(&server, &path, &third).await;
    assert_eq!(status, 400, "a participant beyond the seats is undeclared too");
    assert!(html.contains("p3_name"));

    let mut no_cvr = company_order(&token);
    set(&mut no_cvr, "cvr", None);
    let (status, html) = post_order(&server, &path, &no_cvr).await;
    assert_eq!(status, 400);
    assert!(html.contains("Feltet «CVR-nummer» skal udfyldes"), "{html}");
    assert!(html.contains("value=\"Karin Kontakt\""), "what was typed is kept");
    let mut bad_email = company_order(&token);
    set(&mut bad_email, "p2_email", Some("not-an-address"));
    let (status, html) = post_order(&server, &path, &bad_email).await;
    assert_eq!(status, 400);
    assert!(html.contains("Feltet «Deltager 2: E-mailadresse» skal være en e-mailadresse"), "{html}");
    assert!(html.contains("aria-describedby=\"error-p2_email\""), "the error sits at its field");

    let forged = post_order(&server, &path, &company_order("forged")).await;
    assert_eq!(forged.0, 403, "a form without a valid token is refused");
    // Nothing of the refused orders was stored: the first that succeeds gets invoice number 1.
    let (status, html) = post_order(&server, &path, &company_order(&token)).await;
    assert_eq!(status, 201);
    assert!(html.contains("Faktura 1"));
    assert_eq!(server.smtp.wait_for(1, Duration::from_secs(5)).await.len(), 1, "one order, one mail");
}

async fn p33_l6_erasing_the_buyer_keeps_the_invoice_restricted_and_says_until_when(server: Server) {
    let path = order_form_path(&server).await;
    let (_, form) = page(&server, &format!("{path}?seats=2")).await;
    let (status, _) = post_order(&server, &path, &company_order(&hidden_form_token(&form))).await;
    assert_eq!(status, 201);
    server.smtp.wait_for(1, Duration::from_secs(5)).await;
    ask_for_link(&server, "indkob@eksempel.dk").await;
    let portal = open(&server, &mailed_link(&server, 2).await).await;
    let html = no_redirects().get(format!("{}{portal}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Bogføring"), "the access report shows the bookkeeping hold: {html}");
    let token = hidden_form_token(&html);
    let erase = || async {
        let erased = no_redirects()
            .post(format!("{}{portal}/slet", server.base))
            .form(&[("form_token", token.as_str()), ("confirm", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(erased.status(), 200);
        erased.text().await.unwrap()
    };
    let html = erase().await;
    assert!(html.contains("Dine data er slettet") && html.contains("Sletningsbevis"), "{html}");
    assert!(html.contains("Loven kræver, at vi gemmer følgende"), "{html}");
    assert!(html.contains("Bogføring (Bogføringsloven"), "{html}");
    assert!(html.contains("slettes 31. december 2031"), "{html}");
    // The same form sent again (a double click): the same answer, one request on record.
    let proof = |html: &str| html.split("Sletningsbevis: ").nth(1).unwrap().split('.').next().unwrap().to_string();
    let again = erase().await;
    assert_eq!(proof(&again), proof(&html), "{again}");
    let report: serde_json::Value =
        no_redirects().get(format!("{}{portal}/data.json", server.base)).send().await.unwrap().json().await.unwrap();
    let erasures = report["requests"].as_array().unwrap().iter().filter(|r| r["kind"] == "erasure").count();
    assert_eq!(erasures, 1, "{report}");
}

async fn api_order(server: &Server, query: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response =
        no_redirects().post(format!("{}/api/v1/orders{query}", server.base)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn p04_p01_the_json_api_orders_seats_and_names_every_bad_field(server: Server) {
    let courses: serde_json::Value =
        no_redirects().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let prince2 = |courses: &serde_json::Value| {
        courses.as_array().unwrap().iter().find(|c| c["slug"] == "prince2-foundation").unwrap()["sessions"][0].clone()
    };
    let session = prince2(&courses)["id"].as_str().unwrap().to_string();
    let order = |buyer: serde_json::Value, cvr: Option<&str>, participants: serde_json::Value| {
        serde_json::json!({
            "session_id": session, "buyer_kind": "company", "buyer": buyer, "cvr": cvr,
            "purchase_order": "PO-1", "participants": participants, "notice_version": "2026.1",
        })
    };
    let buyer = serde_json::json!({"name": "Karin Kontakt", "email": "indkob@eksempel.dk", "company": "Eksempel A/S", "address": "Vestergade 1, 8000 Aarhus C"});
    let two = serde_json::json!([{"name": "Anna Andersen", "email": "anna@eksempel.dk"}, {"name": "Bo Bæk", "email": "bo@eksempel.dk"}]);

    let (status, answer) = api_order(&server, "", order(buyer.clone(), Some("12345678"), two.clone())).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["invoice"]["number"], 1);
    assert_eq!(answer["invoice"]["total_ore"], 3_737_500);
    assert_eq!(answer["invoice"]["vat_ore"], 747_500);
    assert_eq!(answer["invoice"]["kept_until"], "2031-12-31");
    assert_eq!(answer["participants"].as_array().unwrap().len(), 2);
    assert_eq!(answer["payment_status"], "pending");

    let (status, answer) = api_order(&server, "", order(buyer.clone(), None, two.clone())).await;
    assert_eq!(status, 400);
    assert_eq!(answer["fields"][0]["field"], "cvr", "{answer}");
    let mut with_record = buyer.clone();
    with_record["order"] = "free text".into();
    let (status, answer) = api_order(&server, "", order(with_record, Some("12345678"), two.clone())).await;
    assert_eq!(status, 400);
    assert_eq!(answer["fields"][0]["field"], "buyer.order", "the order record is not the caller's to write: {answer}");
    let mut bad_buyer = buyer.clone();
    bad_buyer["email"] = "nope".into();
    let (status, answer) = api_order(&server, "?lang=en", order(bad_buyer, Some("12345678"), two.clone())).await;
    assert_eq!(status, 400);
    assert_eq!(answer["fields"][0]["field"], "buyer.email");
    assert!(answer["message"].as_str().unwrap().contains("must be an e-mail address"), "{answer}");
    let undeclared = serde_json::json!([{"name": "Anna", "email": "anna@eksempel.dk", "cpr": "010190-1234"}]);
    let (status, answer) = api_order(&server, "", order(buyer.clone(), Some("12345678"), undeclared)).await;
    assert_eq!(status, 400);
    assert_eq!(answer["fields"][0]["field"], "participants[0].cpr", "{answer}");
    let (status, answer) = api_order(&server, "", order(buyer.clone(), Some("12345678"), serde_json::json!([]))).await;
    assert_eq!((status, answer["fields"][0]["field"].as_str()), (400, Some("participants")));
    let mut unknown = order(buyer.clone(), Some("12345678"), two.clone());
    unknown["session_id"] = "0199a000-0000-7000-8000-000000000000".into();
    assert_eq!(api_order(&server, "", unknown).await.0, 404);
    let mut extra = order(buyer, Some("12345678"), two);
    extra["discount"] = 100.into();
    let (status, answer) = api_order(&server, "", extra).await;
    assert_eq!(status, 400, "an unknown member is refused: {answer}");
    // None of the refused orders took a seat or a number.
    let courses: serde_json::Value =
        no_redirects().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(prince2(&courses)["seats_left"], 14, "{}", prince2(&courses));
}

async fn the_buyer_cancels_from_the_order_page_under_the_courses_terms(server: Server) {
    let html = place_order(&server, "indkob@eksempel.dk").await;
    let order_page = html.split("href=\"").find(|s| s.starts_with("/bestilling/")).unwrap().split('"').next().unwrap();
    let (status, page_html) = page(&server, order_page).await;
    assert_eq!(status, 200);
    assert!(page_html.contains("Du kan annullere gratis til og med 24. februar 2027"), "{page_html}");
    assert!(page_html.contains("krediterer vi hele beløbet, 18.687,50 kr."), "{page_html}");
    let cancel = format!("{}{order_page}/annuller", server.base);
    let unconfirmed = no_redirects().post(&cancel).form(&[("x", "")]).send().await.unwrap();
    assert_eq!(unconfirmed.status(), 400, "an unknown field is refused");
    let unconfirmed = no_redirects().post(&cancel).form(&[("confirm", "no")]).send().await.unwrap();
    assert_eq!(unconfirmed.status(), 400, "the box must be ticked");
    let cancelled = no_redirects().post(&cancel).form(&[("confirm", "yes")]).send().await.unwrap();
    assert_eq!(cancelled.status(), 200);
    let text = cancelled.text().await.unwrap();
    assert!(text.contains("Vi har udstedt en kreditnota på 18.687,50 kr."), "{text}");
    let (_, after) = page(&server, order_page).await;
    assert!(after.contains("Ordren er annulleret.") && !after.contains("Annuller bestillingen"), "{after}");
    let again = no_redirects().post(&cancel).form(&[("confirm", "yes")]).send().await.unwrap();
    assert_eq!(again.status(), 409, "a cancelled order is not cancelled twice");
    let courses: serde_json::Value =
        no_redirects().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let prince2 = courses.as_array().unwrap().iter().find(|c| c["slug"] == "prince2-foundation").unwrap();
    assert_eq!(prince2["sessions"][0]["seats_left"], 16, "the seat is free again");
    let forged = format!("{}{}/annuller", server.base, order_page.rsplit_once('/').unwrap().0.to_string() + "/0000");
    assert_eq!(no_redirects().post(forged).form(&[("confirm", "yes")]).send().await.unwrap().status(), 404);
}

async fn join_waiting(server: &Server, path: &str, name: &str, email: &str) -> (u16, String) {
    let (_, form) = page(server, path).await;
    let fields = vec![
        ("form_token".to_string(), hidden_form_token(&form)),
        ("notice_version".to_string(), "2026.1".to_string()),
        ("name".to_string(), name.to_string()),
        ("email".to_string(), email.to_string()),
    ];
    post_order(server, path, &fields).await
}

async fn a_full_session_takes_a_waiting_list_that_is_told_when_seats_free_up(server: Server) {
    // Ten seats through the order form, the other six through the API: the session is full.
    let path = order_form_path(&server).await;
    let (_, form) = page(&server, &format!("{path}?seats=10")).await;
    let mut ten = company_order(&hidden_form_token(&form));
    set(&mut ten, "seats", Some("10"));
    for n in 1..=10 {
        set(&mut ten, &format!("p{n}_name"), Some("Deltager"));
        set(&mut ten, &format!("p{n}_email"), Some(&format!("d{n}@eksempel.dk")));
    }
    let (status, invoice) = post_order(&server, &path, &ten).await;
    assert_eq!(status, 201);
    let courses: serde_json::Value =
        no_redirects().get(format!("{}/api/v1/courses", server.base)).send().await.unwrap().json().await.unwrap();
    let prince2 = courses.as_array().unwrap().iter().find(|c| c["slug"] == "prince2-foundation").unwrap().clone();
    // Six seats are still free: the waiting list's address leads to the enrolment form instead.
    let session = prince2["sessions"][0]["id"].as_str().unwrap().to_string();
    let early = no_redirects()
        .get(format!("{}/kurser/prince2-foundation/venteliste/{session}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 303);
    let location = early.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("/kurser/prince2-foundation/tilmelding/{session}"));
    let six: Vec<serde_json::Value> =
        (1..=6).map(|n| serde_json::json!({"name": "Deltager", "email": format!("e{n}@eksempel.dk")})).collect();
    let (status, _) = api_order(
        &server,
        "",
        serde_json::json!({"session_id": prince2["sessions"][0]["id"], "buyer_kind": "person",
            "buyer": {"name": "Ib Isaksen", "email": "ib@eksempel.dk", "address": "Gade 1, 1000 København"},
            "participants": six, "notice_version": "2026.1"}),
    )
    .await;
    assert_eq!(status, 201);

    let (_, course) = page(&server, "/kurser/prince2-foundation").await;
    let waiting = course.split("href=\"").find(|s| s.contains("/venteliste/")).expect("a waiting-list link");
    let waiting = waiting.split('"').next().unwrap().to_string();
    assert!(course.contains("Udsolgt – skriv mig på ventelisten"));
    let (status, form) = page(&server, &waiting).await;
    assert_eq!(status, 200);
    assert!(form.contains("Venteliste til fulde hold"), "the notice for the waiting list beside the form");
    let (status, answer) = join_waiting(&server, &waiting, "Lis Lund", "lis@eksempel.dk").await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Du står som nr. 1 på ventelisten"), "{answer}");
    let (_, answer) = join_waiting(&server, &waiting, "Mads Mikkelsen", "mads@eksempel.dk").await;
    assert!(answer.contains("nr. 2"), "{answer}");
    let (_, answer) = join_waiting(&server, &waiting, "Lis Lund", "lis@eksempel.dk").await;
    assert!(answer.contains("nr. 1"), "on the list once: {answer}");

    // The first buyer cancels: the freed seats go to the waiting list, by mail, in order.
    let order_page =
        invoice.split("href=\"").find(|s| s.starts_with("/bestilling/")).unwrap().split('"').next().unwrap();
    let cancelled = no_redirects()
        .post(format!("{}{order_page}/annuller", server.base))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mails = loop {
        let mails = server.smtp.messages();
        if mails.iter().filter(|m| m.body().contains("Der er blevet en plads ledig")).count() >= 2
            || std::time::Instant::now() > deadline
        {
            break mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let told: Vec<&pactum_testkit::ReceivedMail> =
        mails.iter().filter(|m| m.body().contains("Der er blevet en plads ledig")).collect();
    assert_eq!(told.len(), 2, "both on the list are told");
    assert_eq!(told[0].to, vec!["lis@eksempel.dk".to_string()]);
    assert_eq!(told[1].to, vec!["mads@eksempel.dk".to_string()]);
    assert!(told[0].body().contains(&format!("{}/kurser/prince2-foundation", server.base)), "{}", told[0].body());
    // With seats free, the waiting list's address leads to the enrolment form, and the list takes no
    // names: the person books instead.
    let freed = no_redirects().get(format!("{}{waiting}", server.base)).send().await.unwrap();
    assert_eq!(freed.status(), 303);
    let (_, enrol_form) = page(&server, freed.headers()["location"].to_str().unwrap()).await;
    let fields = vec![
        ("form_token".to_string(), hidden_form_token(&enrol_form)),
        ("notice_version".to_string(), "2026.1".to_string()),
        ("name".to_string(), "Nina Nørby".to_string()),
        ("email".to_string(), "nina@eksempel.dk".to_string()),
    ];
    let (status, answer) = post_order(&server, &waiting, &fields).await;
    assert_eq!(status, 409, "{answer}");
}
