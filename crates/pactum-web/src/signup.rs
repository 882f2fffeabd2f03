//! The catalogue and its sign-up forms: courses with their sessions, the enrolment form, events and
//! the event sign-up form. Each form shows the notice for exactly the purposes it starts (P03),
//! names a delivering partner or co-organiser before sign-up (P08, P09), and offers certification,
//! sponsor sharing and the newsletter as separate, unticked boxes (P07, P09, P13, C3).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use pactum_core::catalogue::CourseListing;
use pactum_core::enrolment::{
    CERTIFICATION_PURPOSE, ENROLMENT_PURPOSE, EVENT_PURPOSE, EnrolmentRequest, EventSignupRequest, SPONSOR_PURPOSE,
};
use pactum_core::newsletter::{PURPOSE as NEWSLETTER, SubscribeOutcome};
use pactum_core::waiting::{WAITING_PURPOSE, WaitingRequest};
use pactum_core::{Clock, CoreError};
use pactum_policy::{Lang, Policy};
use pactum_store::{Backend, CourseSession, Event, SessionId, Uuid};

use crate::AppState;
use crate::forms::{Submitted, form_token, form_token_valid, repeat_key, same_origin};
use crate::notice::{Chrome, PurposeView, format_date, purpose_view_at};
use crate::pages::{html, other};
use crate::responses::{FieldInput, Words, failure, message, purpose_inputs, stale_form, undeclared_field, words};

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    Router::new()
        .route("/kurser", get(courses::<B, C>))
        .route("/en/courses", get(courses::<B, C>))
        .route("/kurser/{slug}", get(course::<B, C>))
        .route("/en/courses/{slug}", get(course::<B, C>))
        .route("/kurser/{slug}/tilmelding/{session}", get(enrol_form::<B, C>).post(enrol::<B, C>))
        .route("/en/courses/{slug}/enrol/{session}", get(enrol_form::<B, C>).post(enrol::<B, C>))
        .route("/kurser/{slug}/venteliste/{session}", get(waiting_form::<B, C>).post(join_waiting::<B, C>))
        .route("/en/courses/{slug}/waiting-list/{session}", get(waiting_form::<B, C>).post(join_waiting::<B, C>))
        .route("/arrangementer", get(events::<B, C>))
        .route("/en/events", get(events::<B, C>))
        .route("/arrangementer/{slug}", get(event_form::<B, C>).post(event_signup::<B, C>))
        .route("/en/events/{slug}", get(event_form::<B, C>).post(event_signup::<B, C>))
}

/// The language is the path's: English under `/en/`.
pub(crate) fn lang_of(uri: &axum::http::Uri) -> Lang {
    if uri.path().starts_with("/en/") { Lang::En } else { Lang::Da }
}

pub(crate) fn courses_path(lang: Lang) -> &'static str {
    if lang == Lang::Da { "/kurser" } else { "/en/courses" }
}

pub(crate) fn course_path(lang: Lang, slug: &str) -> String {
    format!("{}/{slug}", courses_path(lang))
}

fn enrol_path(lang: Lang, slug: &str, session: SessionId) -> String {
    match lang {
        Lang::Da => format!("/kurser/{slug}/tilmelding/{session}"),
        Lang::En => format!("/en/courses/{slug}/enrol/{session}"),
    }
}

fn waiting_path(lang: Lang, slug: &str, session: SessionId) -> String {
    match lang {
        Lang::Da => format!("/kurser/{slug}/venteliste/{session}"),
        Lang::En => format!("/en/courses/{slug}/waiting-list/{session}"),
    }
}

fn events_path(lang: Lang) -> &'static str {
    if lang == Lang::Da { "/arrangementer" } else { "/en/events" }
}

fn event_path(lang: Lang, slug: &str) -> String {
    format!("{}/{slug}", events_path(lang))
}

pub(crate) fn kroner(ore: i64, lang: Lang) -> String {
    let kr = ore / 100;
    let digits = kr.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(if lang == Lang::Da { '.' } else { ',' });
        }
        grouped.push(ch);
    }
    match lang {
        Lang::Da => format!("{grouped} kr. ekskl. moms"),
        Lang::En => format!("DKK {grouped} excl. VAT"),
    }
}

pub(crate) fn dates(from: time::Date, to: time::Date, lang: Lang) -> String {
    if from == to {
        format_date(from, lang)
    } else {
        format!("{} – {}", format_date(from, lang), format_date(to, lang))
    }
}

pub(crate) fn session_text(s: &CourseSession, lang: Lang) -> String {
    let language = match (s.language.as_str(), lang) {
        ("da", Lang::Da) => "på dansk",
        ("da", Lang::En) => "in Danish",
        ("en", Lang::Da) => "på engelsk",
        (_, Lang::En) => "in English",
        _ => "",
    };
    format!("{}, {}, {language}, {}", dates(s.starts_on, s.ends_on, lang), s.location, kroner(s.price_ore, lang))
}

/// What a recipient receives, from the policy's registry, in words.
fn recipient_categories(policy: &Policy, key: &str, lang: Lang) -> String {
    policy
        .recipient(key)
        .map(|r| {
            r.categories
                .iter()
                .map(|c| policy.category(c).map(|c| c.label.get(lang).to_lowercase()).unwrap_or_else(|| c.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub(crate) fn recipient_name(policy: &Policy, key: &str) -> String {
    policy.recipient(key).map(|r| r.name.clone()).unwrap_or_else(|| key.to_string())
}

struct Row {
    text: String,
    href: Option<String>,
    action: String,
    action_label: String,
    /// Seats bought by a person or a company, naming the participants (P04).
    order: Option<(String, String, String)>,
}

struct Entry {
    title: String,
    summary: String,
    href: Option<String>,
    notes: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CataloguePage<'a> {
    c: Chrome<'a>,
    heading: String,
    intro: String,
    empty: &'static str,
    entries: Vec<Entry>,
}

fn course_entry(policy: &Policy, listing: &CourseListing, lang: Lang, link_title: bool) -> Entry {
    let course = &listing.course;
    let title = if lang == Lang::Da { &course.title_da } else { &course.title_en };
    let mut notes = Vec::new();
    if let Some(partner) = &course.delivered_by {
        let received = recipient_categories(policy, partner, lang);
        notes.push(match lang {
            Lang::Da => {
                format!("Kurset afholdes af {}, som får deltagerlisten ({received}).", recipient_name(policy, partner))
            }
            Lang::En => format!(
                "The course is run by {}, who receives the participant list ({received}).",
                recipient_name(policy, partner)
            ),
        });
    }
    if course.certification {
        notes.push(match lang {
            Lang::Da => "Du kan vælge at tage certificeringen hos vores certificeringspartner.".into(),
            Lang::En => "You can choose to take the certification with our certification partner.".into(),
        });
    }
    let rows = listing
        .sessions
        .iter()
        .map(|s| {
            let text = session_text(&s.session, lang);
            let open = s.seats_left > 0;
            Row {
                order: open.then(|| {
                    let href = crate::orders::order_path(lang, &course.slug, s.session.id);
                    match lang {
                        Lang::Da => (href, "Bestil pladser".into(), format!("Bestil pladser på {title}, {text}")),
                        Lang::En => (href, "Order seats".into(), format!("Order seats on {title}, {text}")),
                    }
                }),
                href: Some(if open {
                    enrol_path(lang, &course.slug, s.session.id)
                } else {
                    waiting_path(lang, &course.slug, s.session.id)
                }),
                action: match (open, lang) {
                    (true, Lang::Da) => "Tilmeld".into(),
                    (true, Lang::En) => "Enrol".into(),
                    (false, Lang::Da) => "Udsolgt – skriv mig på ventelisten".into(),
                    (false, Lang::En) => "Fully booked – join the waiting list".into(),
                },
                action_label: match (open, lang) {
                    (true, Lang::Da) => format!("Tilmeld dig {title}, {text}"),
                    (true, Lang::En) => format!("Enrol on {title}, {text}"),
                    (false, Lang::Da) => format!("Udsolgt: skriv dig på ventelisten til {title}, {text}"),
                    (false, Lang::En) => format!("Fully booked: join the waiting list for {title}, {text}"),
                },
                text,
            }
        })
        .collect();
    Entry {
        title: title.clone(),
        summary: if lang == Lang::Da { course.summary_da.clone() } else { course.summary_en.clone() },
        href: link_title.then(|| course_path(lang, &course.slug)),
        notes,
        rows,
    }
}

async fn courses<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>, uri: axum::http::Uri) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let c = Chrome::new(policy, lang, courses_path(other(lang)));
    let listings = match state.pactum.course_listings().await {
        Ok(l) => l,
        Err(e) => return failure(c, lang, e),
    };
    let page = CataloguePage {
        heading: if lang == Lang::Da { "Kurser".into() } else { "Courses".into() },
        intro: String::new(),
        empty: if lang == Lang::Da {
            "Der er ingen kurser i kataloget lige nu."
        } else {
            "There are no courses in the catalogue right now."
        },
        entries: listings.iter().map(|l| course_entry(policy, l, lang, true)).collect(),
        c,
    };
    html(page.render())
}

async fn course<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path(slug): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let c = Chrome::new(policy, lang, course_path(other(lang), &slug));
    match state.pactum.course_listing(&slug).await {
        Ok(Some(listing)) => {
            let entry = course_entry(policy, &listing, lang, false);
            let page = CataloguePage {
                heading: entry.title.clone(),
                intro: String::new(),
                empty: "",
                entries: vec![Entry {
                    title: if lang == Lang::Da { "Hold".into() } else { "Sessions".into() },
                    ..entry
                }],
                c,
            };
            html(page.render())
        }
        Ok(None) => not_found(c, lang),
        Err(e) => failure(c, lang, e),
    }
}

pub(crate) fn not_found(c: Chrome<'_>, lang: Lang) -> Response {
    let (title, text) = match lang {
        Lang::Da => {
            ("Findes ikke", "Vi kan ikke finde det kursus, hold eller arrangement. Se kataloget for det, vi har nu.")
        }
        Lang::En => {
            ("Not found", "We cannot find that course, session or event. See the catalogue for what we offer now.")
        }
    };
    message(c, StatusCode::NOT_FOUND, title, vec![text.into()])
}

struct BoxInput {
    name: &'static str,
    label: String,
    hint: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    c: Chrome<'a>,
    w: &'static Words,
    heading: String,
    intro: Vec<String>,
    facts: Vec<(String, String)>,
    errors: Vec<String>,
    action: String,
    token: String,
    notice_version: String,
    fields: Vec<FieldInput>,
    boxes: Vec<BoxInput>,
    submit: &'static str,
    purposes: Vec<PurposeView>,
    notice_href: &'static str,
}

/// The optional boxes of a form: (field name, purpose key, label override).
struct Offer {
    name: &'static str,
    purpose: &'static str,
}

fn box_inputs(policy: &Policy, offers: &[Offer], lang: Lang, submitted: Option<&Submitted>) -> Vec<BoxInput> {
    offers
        .iter()
        .filter_map(|o| {
            let purpose = policy.purpose(o.purpose)?;
            let (label, hint) = match o.purpose {
                CERTIFICATION_PURPOSE => (
                    match lang {
                        Lang::Da => "Ja, jeg vil tage certificeringen hos certificeringspartneren".to_string(),
                        Lang::En => "Yes, I want to take the certification with the certification partner".to_string(),
                    },
                    purpose.requirement.as_ref().map(|t| t.get(lang).to_string()).unwrap_or_default(),
                ),
                _ => {
                    (purpose.consent_text.as_ref().map(|t| t.get(lang).to_string()).unwrap_or_default(), String::new())
                }
            };
            Some(BoxInput { name: o.name, label, hint, checked: submitted.and_then(|s| s.get(o.name)) == Some("yes") })
        })
        .collect()
}

struct FormSpec<'a> {
    heading: String,
    intro: Vec<String>,
    facts: Vec<(String, String)>,
    action: String,
    main_purpose: &'static str,
    offers: Vec<Offer>,
    /// The recipients this activity names (its course partner, co-organiser, sponsor): the only
    /// ones of their kind its notice lists.
    named: Vec<String>,
    other_href: String,
    lang: Lang,
    submitted: Option<&'a Submitted>,
    errors: Vec<(String, String)>,
}

fn signup_page<'a, B: Backend, C: Clock>(state: &'a AppState<B, C>, spec: FormSpec<'_>) -> SignupPage<'a> {
    let policy = &state.pactum.policy;
    let lang = spec.lang;
    let main = policy.purpose(spec.main_purpose);
    let purposes = main
        .into_iter()
        .chain(spec.offers.iter().filter_map(|o| policy.purpose(o.purpose)))
        .map(|p| purpose_view_at(policy, p, lang, &spec.named))
        .collect();
    SignupPage {
        c: Chrome::new(policy, lang, spec.other_href),
        w: words(lang),
        heading: spec.heading,
        intro: spec.intro,
        facts: spec.facts,
        errors: spec.errors.iter().map(|(_, m)| m.clone()).collect(),
        action: spec.action,
        token: form_token(&state.pactum.keys.blind_index, state.pactum.clock.now().unix_timestamp()),
        notice_version: policy.version.clone(),
        fields: main.map(|p| purpose_inputs(policy, p, lang, spec.submitted, &spec.errors)).unwrap_or_default(),
        boxes: box_inputs(policy, &spec.offers, lang, spec.submitted),
        submit: if lang == Lang::Da { "Tilmeld" } else { "Sign up" },
        purposes,
        notice_href: crate::notice::path(lang),
    }
}

fn render_with(page: SignupPage<'_>, status: StatusCode) -> Response {
    let mut response = html(page.render());
    *response.status_mut() = status;
    crate::headers::not_stored(&mut response);
    response
}

/// The course and session a form's address names, or the page to answer with (404, or a failure).
pub(crate) async fn session_or_answer<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    slug: &str,
    session: &str,
    lang: Lang,
) -> Result<(CourseListing, CourseSession), Response> {
    let chrome = || Chrome::new(&state.pactum.policy, lang, courses_path(other(lang)));
    match find_session(state, slug, session).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(not_found(chrome(), lang)),
        Err(e) => Err(failure(chrome(), lang, e)),
    }
}

async fn find_session<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    slug: &str,
    session: &str,
) -> Result<Option<(CourseListing, CourseSession)>, CoreError> {
    let Ok(id) = Uuid::parse_str(session) else { return Ok(None) };
    let Some(listing) = state.pactum.course_listing(slug).await? else { return Ok(None) };
    let found = listing.sessions.iter().find(|s| s.session.id.0 == id).map(|s| s.session.clone());
    Ok(found.map(|s| (listing, s)))
}

fn enrol_spec<'a>(
    policy: &Policy,
    listing: &CourseListing,
    session: &CourseSession,
    lang: Lang,
    submitted: Option<&'a Submitted>,
    errors: Vec<(String, String)>,
) -> FormSpec<'a> {
    let course = &listing.course;
    let title = if lang == Lang::Da { course.title_da.clone() } else { course.title_en.clone() };
    let mut offers = Vec::new();
    if course.certification {
        offers.push(Offer { name: "certification", purpose: CERTIFICATION_PURPOSE });
    }
    offers.push(Offer { name: "newsletter", purpose: NEWSLETTER });
    let mut facts = vec![(if lang == Lang::Da { "Hold" } else { "Session" }.to_string(), session_text(session, lang))];
    if let Some(partner) = &course.delivered_by {
        facts.push((
            if lang == Lang::Da { "Afholdes af" } else { "Run by" }.to_string(),
            recipient_name(policy, partner),
        ));
    }
    FormSpec {
        heading: match lang {
            Lang::Da => format!("Tilmelding: {title}"),
            Lang::En => format!("Enrolment: {title}"),
        },
        intro: vec![if lang == Lang::Da { course.summary_da.clone() } else { course.summary_en.clone() }],
        facts,
        action: enrol_path(lang, &course.slug, session.id),
        main_purpose: ENROLMENT_PURPOSE,
        offers,
        named: course.delivered_by.iter().cloned().collect(),
        other_href: enrol_path(other(lang), &course.slug, session.id),
        lang,
        submitted,
        errors,
    }
}

async fn enrol_form<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path((slug, session)): Path<(String, String)>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    match session_or_answer(&state, &slug, &session, lang).await {
        Ok((listing, s)) => {
            render_with(signup_page(&state, enrol_spec(policy, &listing, &s, lang, None, Vec::new())), StatusCode::OK)
        }
        Err(answer) => answer,
    }
}

/// Checks token, origin and field names; returns the purpose values or the answer to send.
fn accept<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    headers: &HeaderMap,
    submitted: &Submitted,
    main_purpose: &str,
    boxes: &[&str],
    lang: Lang,
    other_href: &str,
) -> Result<Vec<(String, String)>, Box<Response>> {
    let policy = &state.pactum.policy;
    let chrome = || Chrome::new(policy, lang, other_href.to_string());
    let now = state.pactum.clock.now().unix_timestamp();
    if !same_origin(headers)
        || !form_token_valid(&state.pactum.keys.blind_index, submitted.get("form_token").unwrap_or(""), now)
    {
        return Err(Box::new(stale_form(chrome(), lang)));
    }
    let Some(purpose) = policy.purpose(main_purpose) else {
        return Err(Box::new(failure(chrome(), lang, CoreError::UnknownPurpose(main_purpose.into()))));
    };
    let allowed: Vec<&str> = purpose
        .fields
        .iter()
        .map(|f| f.category.as_str())
        .chain(["form_token", "notice_version"])
        .chain(boxes.iter().copied())
        .collect();
    if let Some(field) = submitted.unexpected(&allowed) {
        return Err(Box::new(undeclared_field(chrome(), lang, &field)));
    }
    Ok(submitted.0.iter().filter(|(k, v)| purpose.uses(k) && !v.trim().is_empty()).cloned().collect())
}

fn done_page(c: Chrome<'_>, lang: Lang, what: String, newsletter: Option<SubscribeOutcome>) -> Response {
    let mut paragraphs = vec![match lang {
        Lang::Da => format!("Tak! Vi har modtaget din tilmelding til {what}."),
        Lang::En => format!("Thank you! We have received your sign-up for {what}."),
    }];
    if newsletter.is_some() {
        paragraphs.push(match lang {
            Lang::Da => "Du har bedt om nyhedsmails: tjek din indbakke og bekræft via linket, vi har sendt. Først derefter får du nyhedsmails.".into(),
            Lang::En => "You asked for newsletters: check your inbox and confirm through the link we sent. Only then will you receive newsletters.".into(),
        });
    }
    message(c, StatusCode::OK, if lang == Lang::Da { "Du er tilmeldt" } else { "You are signed up" }, paragraphs)
}

fn core_error_answer<B: Backend, C: Clock>(state: &AppState<B, C>, spec: FormSpec<'_>, e: CoreError) -> Response {
    let lang = spec.lang;
    match e {
        CoreError::KeyReused => {
            // Sent again from a form already used for a sign-up, with other details (the browser's
            // back button): shown again with a form of its own, so that sending it makes a new one.
            let text = match lang {
                Lang::Da => {
                    "Denne formular er allerede brugt til en tilmelding. Tjek oplysningerne, og send igen for at lave en ny tilmelding."
                }
                Lang::En => {
                    "This form was already used for a sign-up. Check the details, and send again to make a new one."
                }
            };
            render_with(
                signup_page(state, FormSpec { errors: vec![("form".into(), text.into())], ..spec }),
                StatusCode::CONFLICT,
            )
        }
        CoreError::Invalid(problems) => {
            let errors = problems.iter().map(|p| (p.field.clone(), p.message(lang))).collect();
            render_with(signup_page(state, FormSpec { errors, ..spec }), StatusCode::BAD_REQUEST)
        }
        CoreError::NoticeChanged => {
            let text = match lang {
                Lang::Da => {
                    "Vores privatlivspolitik er ændret, siden du åbnede siden. Læs den nye tekst, og send formularen igen."
                }
                Lang::En => {
                    "Our privacy notice changed after you opened the page. Read the new text and send the form again."
                }
            };
            render_with(
                signup_page(state, FormSpec { errors: vec![("notice".into(), text.into())], ..spec }),
                StatusCode::CONFLICT,
            )
        }
        CoreError::Full => {
            let text = match lang {
                Lang::Da => "Der er desværre ikke flere pladser. Vælg et andet hold.",
                Lang::En => "Sorry, there are no seats left. Choose another session.",
            };
            render_with(
                signup_page(state, FormSpec { errors: vec![("seats".into(), text.into())], ..spec }),
                StatusCode::CONFLICT,
            )
        }
        other => failure(Chrome::new(&state.pactum.policy, lang, spec.other_href), lang, other),
    }
}

async fn enrol<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path((slug, session)): Path<(String, String)>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let submitted = Submitted(fields);
    let (listing, s) = match session_or_answer(&state, &slug, &session, lang).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let other_href = enrol_path(other(lang), &slug, s.id);
    let boxes: &[&str] = if listing.course.certification { &["certification", "newsletter"] } else { &["newsletter"] };
    let values = match accept(&state, &headers, &submitted, ENROLMENT_PURPOSE, boxes, lang, &other_href) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let request = EnrolmentRequest {
        session: s.id,
        values,
        certification: submitted.get("certification") == Some("yes"),
        newsletter: submitted.get("newsletter") == Some("yes"),
        lang,
        method: "form:course_enrolment".into(),
        notice_version: submitted.get("notice_version").unwrap_or("").to_string(),
        repeat_key: repeat_key(&submitted),
    };
    match state.pactum.enrol(request).await {
        Ok(done) => {
            let title = if lang == Lang::Da { &listing.course.title_da } else { &listing.course.title_en };
            done_page(
                Chrome::new(policy, lang, other_href),
                lang,
                format!("{title}, {}", session_text(&s, lang)),
                done.newsletter,
            )
        }
        Err(e) => core_error_answer(&state, enrol_spec(policy, &listing, &s, lang, Some(&submitted), Vec::new()), e),
    }
}

fn waiting_spec<'a>(
    listing: &CourseListing,
    session: &CourseSession,
    lang: Lang,
    submitted: Option<&'a Submitted>,
    errors: Vec<(String, String)>,
) -> FormSpec<'a> {
    let course = &listing.course;
    let title = if lang == Lang::Da { course.title_da.clone() } else { course.title_en.clone() };
    FormSpec {
        heading: match lang {
            Lang::Da => format!("Venteliste: {title}"),
            Lang::En => format!("Waiting list: {title}"),
        },
        intro: vec![match lang {
            Lang::Da => {
                "Holdet er fuldt. Skriv dig på ventelisten, så skriver vi til dig, hvis en plads bliver ledig.".into()
            }
            Lang::En => {
                "The session is full. Join the waiting list and we will write to you if a seat becomes free.".into()
            }
        }],
        facts: vec![(if lang == Lang::Da { "Hold" } else { "Session" }.to_string(), session_text(session, lang))],
        action: waiting_path(lang, &course.slug, session.id),
        main_purpose: WAITING_PURPOSE,
        offers: Vec::new(),
        named: course.delivered_by.iter().cloned().collect(),
        other_href: waiting_path(other(lang), &course.slug, session.id),
        lang,
        submitted,
        errors,
    }
}

async fn waiting_form<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path((slug, session)): Path<(String, String)>,
) -> Response {
    let lang = lang_of(&uri);
    match session_or_answer(&state, &slug, &session, lang).await {
        // Seats are free (again): the enrolment form, not a waiting list that says the session is full.
        Ok((listing, s)) if listing.sessions.iter().any(|l| l.session.id == s.id && l.seats_left > 0) => {
            axum::response::IntoResponse::into_response(axum::response::Redirect::to(&enrol_path(
                lang,
                &listing.course.slug,
                s.id,
            )))
        }
        Ok((listing, s)) => {
            render_with(signup_page(&state, waiting_spec(&listing, &s, lang, None, Vec::new())), StatusCode::OK)
        }
        Err(answer) => answer,
    }
}

async fn join_waiting<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path((slug, session)): Path<(String, String)>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let submitted = Submitted(fields);
    let (listing, s) = match session_or_answer(&state, &slug, &session, lang).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let other_href = waiting_path(other(lang), &slug, s.id);
    let values = match accept(&state, &headers, &submitted, WAITING_PURPOSE, &[], lang, &other_href) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let request = WaitingRequest {
        session: s.id,
        values,
        lang,
        method: "form:waiting_list".into(),
        notice_version: submitted.get("notice_version").unwrap_or("").to_string(),
    };
    match state.pactum.join_waiting_list(request).await {
        Ok(waiting) => {
            let title = if lang == Lang::Da { &listing.course.title_da } else { &listing.course.title_en };
            let text = match lang {
                Lang::Da => format!(
                    "Du står som nr. {} på ventelisten til {title}, {}. Bliver en plads ledig, skriver vi til dig.",
                    waiting.position,
                    session_text(&s, lang)
                ),
                Lang::En => format!(
                    "You are number {} on the waiting list for {title}, {}. If a seat becomes free, we will write to you.",
                    waiting.position,
                    session_text(&s, lang)
                ),
            };
            let heading = if lang == Lang::Da { "Du er på ventelisten" } else { "You are on the waiting list" };
            message(Chrome::new(policy, lang, other_href), StatusCode::OK, heading, vec![text])
        }
        Err(CoreError::Invalid(problems)) if problems.iter().any(|p| p.field == "session") => {
            let text = match lang {
                Lang::Da => "Der er ledige pladser på holdet igen. Tilmeld dig i stedet.",
                Lang::En => "There are free seats on the session again. Enrol instead.",
            };
            let heading = if lang == Lang::Da { "Holdet har ledige pladser" } else { "The session has free seats" };
            message(Chrome::new(policy, lang, other_href), StatusCode::CONFLICT, heading, vec![text.into()])
        }
        Err(e) => core_error_answer(&state, waiting_spec(&listing, &s, lang, Some(&submitted), Vec::new()), e),
    }
}

fn event_title(e: &Event, lang: Lang) -> String {
    if lang == Lang::Da { e.title_da.clone() } else { e.title_en.clone() }
}

async fn events<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>, uri: axum::http::Uri) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let c = Chrome::new(policy, lang, events_path(other(lang)));
    let listings = match state.pactum.event_listings().await {
        Ok(l) => l,
        Err(e) => return failure(c, lang, e),
    };
    let entries = listings
        .iter()
        .map(|(e, left)| Entry {
            title: event_title(e, lang),
            summary: if lang == Lang::Da { e.summary_da.clone() } else { e.summary_en.clone() },
            href: Some(event_path(lang, &e.slug)),
            notes: Vec::new(),
            rows: vec![Row {
                order: None,
                text: format!("{}, {}", dates(e.starts_on, e.ends_on, lang), e.location),
                href: (*left > 0).then(|| event_path(lang, &e.slug)),
                action: match (*left > 0, lang) {
                    (true, Lang::Da) => "Tilmeld".into(),
                    (true, Lang::En) => "Sign up".into(),
                    (false, Lang::Da) => "Udsolgt".into(),
                    (false, Lang::En) => "Fully booked".into(),
                },
                action_label: format!(
                    "{} – {}",
                    event_title(e, lang),
                    if lang == Lang::Da { "tilmelding" } else { "sign-up" }
                ),
            }],
        })
        .collect();
    let page = CataloguePage {
        heading: if lang == Lang::Da { "Konferencer og arrangementer".into() } else { "Conferences and events".into() },
        intro: String::new(),
        empty: if lang == Lang::Da { "Der er ingen arrangementer lige nu." } else { "There are no events right now." },
        entries,
        c,
    };
    html(page.render())
}

fn event_spec<'a>(
    policy: &Policy,
    e: &Event,
    lang: Lang,
    submitted: Option<&'a Submitted>,
    errors: Vec<(String, String)>,
) -> FormSpec<'a> {
    let mut offers = Vec::new();
    if e.sponsor.is_some() {
        offers.push(Offer { name: "sponsor_sharing", purpose: SPONSOR_PURPOSE });
    }
    offers.push(Offer { name: "newsletter", purpose: NEWSLETTER });
    let mut facts = vec![
        (if lang == Lang::Da { "Dato" } else { "Date" }.to_string(), dates(e.starts_on, e.ends_on, lang)),
        (if lang == Lang::Da { "Sted" } else { "Place" }.to_string(), e.location.clone()),
    ];
    if let Some(co) = &e.co_organiser {
        facts.push((
            if lang == Lang::Da {
                "Medarrangør (får deltagerlisten)"
            } else {
                "Co-organiser (receives the attendee list)"
            }
            .to_string(),
            recipient_name(policy, co),
        ));
    }
    if let Some(sponsor) = &e.sponsor {
        facts.push((
            if lang == Lang::Da { "Sponsor (kun hvis du sætter kryds)" } else { "Sponsor (only if you tick the box)" }
                .to_string(),
            recipient_name(policy, sponsor),
        ));
    }
    FormSpec {
        heading: event_title(e, lang),
        intro: vec![if lang == Lang::Da { e.summary_da.clone() } else { e.summary_en.clone() }],
        facts,
        action: event_path(lang, &e.slug),
        main_purpose: EVENT_PURPOSE,
        offers,
        named: e.co_organiser.iter().chain(&e.sponsor).cloned().collect(),
        other_href: event_path(other(lang), &e.slug),
        lang,
        submitted,
        errors,
    }
}

async fn find_event<B: Backend, C: Clock>(state: &AppState<B, C>, slug: &str) -> Result<Option<Event>, CoreError> {
    Ok(state.pactum.event_listings().await?.into_iter().map(|(e, _)| e).find(|e| e.slug == slug))
}

async fn event_form<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path(slug): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    match find_event(&state, &slug).await {
        Ok(Some(e)) => render_with(signup_page(&state, event_spec(policy, &e, lang, None, Vec::new())), StatusCode::OK),
        Ok(None) => not_found(Chrome::new(policy, lang, events_path(other(lang))), lang),
        Err(e) => failure(Chrome::new(policy, lang, events_path(other(lang))), lang, e),
    }
}

async fn event_signup<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let submitted = Submitted(fields);
    let event = match find_event(&state, &slug).await {
        Ok(Some(e)) => e,
        Ok(None) => return not_found(Chrome::new(policy, lang, events_path(other(lang))), lang),
        Err(e) => return failure(Chrome::new(policy, lang, events_path(other(lang))), lang, e),
    };
    let other_href = event_path(other(lang), &slug);
    let boxes: &[&str] = if event.sponsor.is_some() { &["sponsor_sharing", "newsletter"] } else { &["newsletter"] };
    let values = match accept(&state, &headers, &submitted, EVENT_PURPOSE, boxes, lang, &other_href) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    let request = EventSignupRequest {
        event: event.id.0,
        values,
        sponsor_sharing: submitted.get("sponsor_sharing") == Some("yes"),
        newsletter: submitted.get("newsletter") == Some("yes"),
        lang,
        method: "form:event_signup".into(),
        notice_version: submitted.get("notice_version").unwrap_or("").to_string(),
        repeat_key: repeat_key(&submitted),
    };
    match state.pactum.sign_up_for_event(request).await {
        Ok(done) => done_page(Chrome::new(policy, lang, other_href), lang, event_title(&event, lang), done.newsletter),
        Err(e) => core_error_answer(&state, event_spec(policy, &event, lang, Some(&submitted), Vec::new()), e),
    }
}
