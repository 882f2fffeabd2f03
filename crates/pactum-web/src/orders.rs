//! The order form (P04): seats on a course session bought by a person or a company, one block of
//! fields per named participant, paid by invoice. The page shows the notice for the three purposes
//! an order starts (the order, each participant's enrolment, bookkeeping; P03); the form takes only
//! the fields those purposes declare (P01), and the answer is the issued invoice.
//!
//! The number of participants is chosen first with a plain GET form, so the page works without
//! JavaScript.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use pactum_core::catalogue::CourseListing;
use pactum_core::enrolment::ENROLMENT_PURPOSE;
use pactum_core::orders::{
    BOOKKEEPING_PURPOSE, BuyerKind, InvoiceDocument, ORDER_PURPOSE, OrderRequest, status_path, status_token,
};
use pactum_core::values::FieldError;
use pactum_core::{Clock, CoreError};
use pactum_policy::{Lang, Policy};
use pactum_store::{Backend, CourseSession, OrderId, SessionId};

use crate::AppState;
use crate::forms::{Submitted, form_token, form_token_valid, repeat_key, same_origin};
use crate::notice::{Chrome, PurposeView, format_date, purpose_view_at};
use crate::pages::{html, other};
use crate::responses::{FieldInput, Words, failure, prefixed_inputs, stale_form, undeclared_field, words};
use crate::signup::{course_path, courses_path, lang_of, not_found, recipient_name, session_or_answer, session_text};

/// The most seats one order form offers (the core allows more through the API).
pub const MAX_SEATS_PER_FORM: u32 = 10;
const BUYER_PREFIX: &str = "buyer_";

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    Router::new()
        .route("/kurser/{slug}/bestil/{session}", get(order_form::<B, C>).post(order::<B, C>))
        .route("/en/courses/{slug}/order/{session}", get(order_form::<B, C>).post(order::<B, C>))
        .route("/bestilling/{order}/{token}", get(status_page::<B, C>))
        .route("/en/order/{order}/{token}", get(status_page::<B, C>))
        .route("/bestilling/{order}/{token}/betal", axum::routing::post(pay_again::<B, C>))
        .route("/en/order/{order}/{token}/pay", axum::routing::post(pay_again::<B, C>))
        .route("/bestilling/{order}/{token}/annuller", axum::routing::post(cancel::<B, C>))
        .route("/en/order/{order}/{token}/cancel", axum::routing::post(cancel::<B, C>))
        .route("/payments/stripe/webhook", axum::routing::post(stripe_webhook::<B, C>))
}

pub fn order_path(lang: Lang, slug: &str, session: SessionId) -> String {
    match lang {
        Lang::Da => format!("/kurser/{slug}/bestil/{session}"),
        Lang::En => format!("/en/courses/{slug}/order/{session}"),
    }
}

struct Texts {
    heading: &'static str,
    seats_label: &'static str,
    seats_update: &'static str,
    buyer_legend: &'static str,
    buyer_kind: &'static str,
    person: &'static str,
    company: &'static str,
    cvr: &'static str,
    cvr_hint: &'static str,
    purchase_order: &'static str,
    participant: &'static str,
    participants_hint: &'static str,
    submit: &'static str,
    payment: &'static str,
    full: &'static str,
    too_few: &'static str,
    payment_legend: &'static str,
    pay_card: &'static str,
    pay_invoice: &'static str,
    notice_changed: &'static str,
    /// The form was sent before with other details (the browser's back button).
    form_used: &'static str,
}

const DA: Texts = Texts {
    heading: "Bestil pladser",
    seats_label: "Antal deltagere",
    seats_update: "Vis felter",
    buyer_legend: "Køber",
    buyer_kind: "Jeg køber som",
    person: "Privatperson",
    company: "Virksomhed",
    cvr: "CVR-nummer",
    cvr_hint: "8 cifre; skal udfyldes, når en virksomhed køber",
    purchase_order: "Jeres indkøbsordre- eller referencenummer",
    participant: "Deltager",
    participants_hint: "Hver deltager får sin egen tilmelding. Køberen kan selv være deltager.",
    submit: "Bestil og modtag faktura",
    payment: "Mod faktura (bankoverførsel) eller, hvor det tilbydes, med kort hos vores betalingsudbyder. Kortoplysninger indtastes aldrig her.",
    full: "Der er ikke pladser nok på holdet til så mange deltagere. Vælg færre eller et andet hold.",
    too_few: "Angiv mindst én deltager.",
    payment_legend: "Betaling",
    pay_card: "Med kort hos vores betalingsudbyder (du sendes videre til deres side)",
    pay_invoice: "Mod faktura (bankoverførsel)",
    notice_changed: "Vores privatlivspolitik er ændret, siden du åbnede siden. Læs den nye tekst, og send formularen igen.",
    form_used: "Denne formular er allerede brugt til en bestilling. Tjek oplysningerne, og send igen for at lave en ny bestilling.",
};

const EN: Texts = Texts {
    heading: "Order seats",
    seats_label: "Number of participants",
    seats_update: "Show fields",
    buyer_legend: "Buyer",
    buyer_kind: "I am buying as",
    person: "A private person",
    company: "A company",
    cvr: "CVR number",
    cvr_hint: "8 digits; required when a company buys",
    purchase_order: "Your purchase order or reference number",
    participant: "Participant",
    participants_hint: "Each participant gets an enrolment of their own. The buyer may be a participant too.",
    submit: "Order and receive the invoice",
    payment: "By invoice (bank transfer) or, where offered, by card with our payment provider. Card details are never entered here.",
    full: "There are not enough seats on this session for that many participants. Choose fewer or another session.",
    too_few: "Name at least one participant.",
    payment_legend: "Payment",
    pay_card: "By card with our payment provider (you are taken to their page)",
    pay_invoice: "By invoice (bank transfer)",
    notice_changed: "Our privacy notice changed after you opened the page. Read the new text and send the form again.",
    form_used: "This form was already used for an order. Check the details, and send again to place a new one.",
};

fn texts(lang: Lang) -> &'static Texts {
    if lang == Lang::Da { &DA } else { &EN }
}

struct ParticipantBlock {
    legend: String,
    fields: Vec<FieldInput>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage<'a> {
    c: Chrome<'a>,
    w: &'static Words,
    t: &'static Texts,
    heading: String,
    facts: Vec<(String, String)>,
    action: String,
    seats: u32,
    seat_choices: Vec<u32>,
    errors: Vec<String>,
    token: String,
    notice_version: String,
    company: bool,
    buyer_fields: Vec<FieldInput>,
    cvr: String,
    cvr_error: Option<String>,
    purchase_order: String,
    participants: Vec<ParticipantBlock>,
    /// Whether card payment is offered, and whether it is the choice.
    card: Option<bool>,
    purposes: Vec<PurposeView>,
    notice_href: &'static str,
}

struct OrderForm<'s> {
    listing: &'s CourseListing,
    session: &'s CourseSession,
    seats_left: u32,
    seats: u32,
    lang: Lang,
    submitted: Option<&'s Submitted>,
    errors: Vec<(String, String)>,
}

fn order_page<'a, B: Backend, C: Clock>(state: &'a AppState<B, C>, form: OrderForm<'_>) -> OrderPage<'a> {
    let policy = &state.pactum.policy;
    let (lang, t) = (form.lang, texts(form.lang));
    let course = &form.listing.course;
    let title = if lang == Lang::Da { &course.title_da } else { &course.title_en };
    let mut facts =
        vec![(if lang == Lang::Da { "Hold" } else { "Session" }.to_string(), session_text(form.session, lang))];
    if let Some(partner) = &course.delivered_by {
        facts.push((
            if lang == Lang::Da { "Afholdes af" } else { "Run by" }.to_string(),
            recipient_name(policy, partner),
        ));
    }
    facts.push((if lang == Lang::Da { "Betaling" } else { "Payment" }.to_string(), t.payment.to_string()));
    let buyer_fields = policy
        .purpose(ORDER_PURPOSE)
        .map(|p| prefixed_inputs(policy, p, lang, form.submitted, &form.errors, BUYER_PREFIX))
        .unwrap_or_default();
    let participants = policy
        .purpose(ENROLMENT_PURPOSE)
        .map(|p| {
            (1..=form.seats)
                .map(|n| ParticipantBlock {
                    legend: format!("{} {n}", t.participant),
                    fields: prefixed_inputs(policy, p, lang, form.submitted, &form.errors, &format!("p{n}_")),
                })
                .collect()
        })
        .unwrap_or_default();
    let named: Vec<String> = course.delivered_by.iter().cloned().collect();
    let purposes = [ORDER_PURPOSE, ENROLMENT_PURPOSE, BOOKKEEPING_PURPOSE]
        .iter()
        .filter_map(|k| policy.purpose(k))
        .map(|p| purpose_view_at(policy, p, lang, &named))
        .collect();
    let submitted = |name: &str| form.submitted.and_then(|s| s.get(name)).unwrap_or("").to_string();
    OrderPage {
        c: Chrome::new(policy, lang, order_path(other(lang), &course.slug, form.session.id)),
        w: words(lang),
        t,
        heading: format!("{}: {title}", t.heading),
        facts,
        action: order_path(lang, &course.slug, form.session.id),
        seats: form.seats,
        seat_choices: (1..=form.seats_left.clamp(1, MAX_SEATS_PER_FORM)).collect(),
        errors: form.errors.iter().map(|(_, m)| m.clone()).collect(),
        token: form_token(&state.pactum.keys.blind_index, state.pactum.clock.now().unix_timestamp()),
        notice_version: policy.version.clone(),
        company: form.submitted.and_then(|s| s.get("ordered_as")) == Some("company"),
        buyer_fields,
        cvr: submitted("cvr"),
        cvr_error: form.errors.iter().find(|(f, _)| f == "cvr").map(|(_, m)| m.clone()),
        purchase_order: submitted("purchase_order"),
        participants,
        card: state.pactum.payments.as_ref().map(|_| form.submitted.and_then(|s| s.get("payment")) != Some("invoice")),
        purposes,
        notice_href: crate::notice::path(lang),
    }
}

fn render<B: Backend, C: Clock>(state: &AppState<B, C>, page: OrderPage<'_>, status: StatusCode) -> Response {
    let mut response = html(page.render());
    *response.status_mut() = status;
    allow_checkout(state, &mut response);
    crate::headers::not_stored(&mut response);
    response
}

/// With card payment on, the page's forms may lead to the provider's hosted payment page.
fn allow_checkout<B: Backend, C: Clock>(state: &AppState<B, C>, response: &mut Response) {
    if let Some(stripe) = &state.pactum.settings.card_payments {
        crate::headers::with_form_target(response, &stripe.checkout_origin());
    }
}

#[derive(serde::Deserialize)]
struct SeatsQuery {
    seats: Option<String>,
}

async fn seats_left<B: Backend, C: Clock>(state: &AppState<B, C>, session: &CourseSession) -> Result<u32, CoreError> {
    let taken = state.pactum.store.backend().seats_taken(session.id.0).await?;
    Ok(session.seats.saturating_sub(taken))
}

async fn order_form<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path((slug, session)): Path<(String, String)>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let (listing, s) = match session_or_answer(&state, &slug, &session, lang).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let left = match seats_left(&state, &s).await {
        Ok(left) => left,
        Err(e) => return failure(Chrome::new(policy, lang, course_path(other(lang), &slug)), lang, e),
    };
    // An unreadable or out-of-range count shows the nearest sensible form rather than an error.
    let query: SeatsQuery = serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or(SeatsQuery { seats: None });
    let wanted = query.seats.and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(1);
    let seats = wanted.clamp(1, left.clamp(1, MAX_SEATS_PER_FORM));
    let form = OrderForm {
        listing: &listing,
        session: &s,
        seats_left: left,
        seats,
        lang,
        submitted: None,
        errors: Vec::new(),
    };
    render(&state, order_page(&state, form), StatusCode::OK)
}

/// The form name of a field the core names: `name` → `buyer_name`, `participants[1].email` → `p2_email`.
fn form_field(core_field: &str) -> String {
    if let Some(rest) = core_field.strip_prefix("participants[") {
        if let Some((index, field)) = rest.split_once("].")
            && let Ok(i) = index.parse::<u32>()
        {
            return format!("p{}_{field}", i + 1);
        }
        return "participants".into();
    }
    match core_field {
        "cvr" | "purchase_order" | "participants" => core_field.to_string(),
        other => format!("{BUYER_PREFIX}{other}"),
    }
}

/// A message that names the field the way the form labels it: «Deltager 2: E-mailadresse».
fn labelled(policy: &Policy, lang: Lang, error: &FieldError) -> (String, String) {
    let t = texts(lang);
    let name = form_field(&error.field);
    let category_label = |key: &str| policy.category(key).map(|c| c.label.get(lang).to_string());
    let label = if let Some(field) = name.strip_prefix(BUYER_PREFIX) {
        format!("{}: {}", t.buyer_legend, category_label(field).unwrap_or_else(|| field.to_string()))
    } else if name == "cvr" {
        t.cvr.to_string()
    } else if name == "purchase_order" {
        t.purchase_order.to_string()
    } else if let Some((n, field)) = name.strip_prefix('p').and_then(|r| r.split_once('_')) {
        format!("{} {n}: {}", t.participant, category_label(field).unwrap_or_else(|| field.to_string()))
    } else {
        name.clone()
    };
    let message = if name == "participants" {
        t.too_few.to_string()
    } else {
        FieldError { field: label, problem: error.problem }.message(lang)
    };
    (name, message)
}

async fn order<B: Backend, C: Clock>(
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
    let other_href = order_path(other(lang), &slug, s.id);
    let chrome = || Chrome::new(policy, lang, other_href.clone());
    let now = state.pactum.clock.now().unix_timestamp();
    if !same_origin(&headers)
        || !form_token_valid(&state.pactum.keys.blind_index, submitted.get("form_token").unwrap_or(""), now)
    {
        return stale_form(chrome(), lang);
    }
    let seats = submitted.get("seats").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0).min(MAX_SEATS_PER_FORM);
    let (Some(order_purpose), Some(enrolment_purpose)) =
        (policy.purpose(ORDER_PURPOSE), policy.purpose(ENROLMENT_PURPOSE))
    else {
        return failure(chrome(), lang, CoreError::UnknownPurpose(ORDER_PURPOSE.into()));
    };
    // Deny by default (P01): the order purpose's fields for the buyer (its record is Pactum's own),
    // the enrolment purpose's for each participant, and the form's own controls.
    let mut allowed: Vec<String> =
        ["form_token", "notice_version", "seats", "ordered_as", "cvr", "purchase_order", "payment"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    allowed.extend(
        order_purpose
            .fields
            .iter()
            .filter(|f| f.category != ORDER_PURPOSE)
            .map(|f| format!("{BUYER_PREFIX}{}", f.category)),
    );
    for n in 1..=seats {
        allowed.extend(enrolment_purpose.fields.iter().map(|f| format!("p{n}_{}", f.category)));
    }
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    if let Some(field) = submitted.unexpected(&allowed) {
        return undeclared_field(chrome(), lang, &field);
    }
    let values_with = |prefix: &str| -> Vec<(String, String)> {
        submitted
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
            .filter(|(k, v)| !k.is_empty() && !v.trim().is_empty())
            .collect()
    };
    let left = seats_left(&state, &s).await.unwrap_or(0);
    let request = OrderRequest {
        session: s.id,
        buyer_kind: if submitted.get("ordered_as") == Some("company") { BuyerKind::Company } else { BuyerKind::Person },
        buyer: values_with(BUYER_PREFIX),
        cvr: submitted.get("cvr").map(str::to_string),
        purchase_order: submitted.get("purchase_order").map(str::to_string),
        participants: (1..=seats).map(|n| values_with(&format!("p{n}_"))).collect(),
        lang,
        method: "form:order".into(),
        notice_version: submitted.get("notice_version").unwrap_or("").to_string(),
        repeat_key: repeat_key(&submitted),
    };
    let form = |errors: Vec<(String, String)>| OrderForm {
        listing: &listing,
        session: &s,
        seats_left: left.max(seats),
        seats: seats.max(1),
        lang,
        submitted: Some(&submitted),
        errors,
    };
    let t = texts(lang);
    let by_card = state.pactum.payments.is_some() && submitted.get("payment") != Some("invoice");
    match state.pactum.place_order(request).await {
        // Sent again (a double click): the order's own page, which shows whether it is paid,
        // rather than a second checkout for it.
        Ok(placed) if by_card && placed.repeated => {
            axum::response::Redirect::to(&status_path(&state.pactum.keys.blind_index, lang, placed.order))
                .into_response()
        }
        Ok(placed) if by_card => checkout(&state, lang, placed.order).await,
        Ok(placed) => match state.pactum.invoice_document(placed.invoice).await {
            Ok(Some(document)) => done_page(&state, lang, other_href.clone(), &document, Page::Ordered),
            Ok(None) => failure(chrome(), lang, CoreError::UnknownActivity),
            Err(e) => failure(chrome(), lang, e),
        },
        Err(CoreError::Invalid(problems)) => {
            let errors = problems.iter().map(|p| labelled(policy, lang, p)).collect();
            render(&state, order_page(&state, form(errors)), StatusCode::BAD_REQUEST)
        }
        Err(CoreError::Full) => {
            render(&state, order_page(&state, form(vec![("seats".into(), t.full.into())])), StatusCode::CONFLICT)
        }
        Err(CoreError::NoticeChanged) => render(
            &state,
            order_page(&state, form(vec![("notice".into(), t.notice_changed.into())])),
            StatusCode::CONFLICT,
        ),
        Err(CoreError::KeyReused) => {
            render(&state, order_page(&state, form(vec![("form".into(), t.form_used.into())])), StatusCode::CONFLICT)
        }
        Err(e) => failure(chrome(), lang, e),
    }
}

struct InvoiceLineView {
    description: String,
    quantity: u32,
    unit_price: String,
    net: String,
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoicePage<'a> {
    c: Chrome<'a>,
    lang_da: bool,
    title: String,
    intro: Vec<String>,
    number: u64,
    credit_note: bool,
    issued_on: String,
    due_on: String,
    buyer_lines: Vec<String>,
    lines: Vec<InvoiceLineView>,
    net: String,
    vat: String,
    total: String,
    kept_until: Option<String>,
    /// Where the buyer can come back to the order, and the payment status shown there.
    status_href: Option<String>,
    payment: Option<String>,
    /// A button that opens the provider's payment page again.
    pay_action: Option<(String, String)>,
    /// The cancellation terms, and the form that cancels under them while that is possible.
    terms: Option<String>,
    cancel_action: Option<(String, String, String)>,
}

/// Which answer the invoice page is.
enum Page<'o> {
    /// The answer to the order form.
    Ordered,
    /// The buyer's order page: the invoice with the payment status and the cancellation terms.
    Status(&'o pactum_store::Order, Option<pactum_core::orders::CancellationQuote>),
    /// Card payment was chosen but could not be started.
    CheckoutFailed,
}

fn payment_text(order: &pactum_store::Order, lang: Lang) -> String {
    match (order.status.as_str(), order.payment_status.as_str(), lang) {
        (_, "paid", Lang::Da) => "Betalt. Tak!".into(),
        (_, "paid", Lang::En) => "Paid. Thank you!".into(),
        (_, "refunded", Lang::Da) => "Ordren er annulleret, og betalingen er tilbageført.".into(),
        (_, "refunded", Lang::En) => "The order is cancelled and the payment refunded.".into(),
        ("cancelled", _, Lang::Da) => "Ordren er annulleret.".into(),
        ("cancelled", _, Lang::En) => "The order is cancelled.".into(),
        (_, _, Lang::Da) => {
            "Afventer betaling. Har du lige betalt med kort, kan det tage et øjeblik; opdater siden.".into()
        }
        (_, _, Lang::En) => {
            "Awaiting payment. If you have just paid by card, it can take a moment; reload the page.".into()
        }
    }
}

/// The issued invoice as a printable page: the answer to an order, or the buyer's order page.
fn done_page<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    other_href: String,
    document: &InvoiceDocument,
    shown_as: Page<'_>,
) -> Response {
    let policy = &state.pactum.policy;
    let da = lang == Lang::Da;
    let invoice = &document.invoice;
    let buyer = &document.buyer;
    let mut buyer_lines = Vec::new();
    if let Some(company) = &buyer.company {
        buyer_lines.push(company.clone());
        buyer_lines.push(format!("{} {}", if da { "Att." } else { "Attn." }, buyer.name));
    } else {
        buyer_lines.push(buyer.name.clone());
    }
    buyer_lines.extend(buyer.address.lines().map(str::to_string));
    if let Some(cvr) = &buyer.cvr {
        buyer_lines.push(format!("CVR {cvr}"));
    }
    if let Some(reference) = &buyer.purchase_order {
        buyer_lines.push(format!("{} {reference}", if da { "Jeres reference:" } else { "Your reference:" }));
    }
    let money = |ore: i64| pactum_core::orders::money(ore, lang);
    let keys = &state.pactum.keys.blind_index;
    let status_href = status_path(keys, lang, invoice.order);
    let ordered = if da {
        "Pladserne er reserveret, og deltagerne er tilmeldt. Her er fakturaen; vi har også sendt en ordrebekræftelse til køberens e-mailadresse."
    } else {
        "The seats are reserved and the participants are enrolled. Here is the invoice; we have also sent an order confirmation to the buyer's e-mail address."
    };
    let (title, intro, payment, pay_action, status) = match shown_as {
        Page::Ordered => (
            if da { "Tak for din bestilling" } else { "Thank you for your order" },
            vec![ordered.to_string()],
            None,
            None,
            StatusCode::CREATED,
        ),
        Page::CheckoutFailed => (
            if da { "Tak for din bestilling" } else { "Thank you for your order" },
            vec![
                ordered.to_string(),
                if da {
                    "Kortbetalingen kunne ikke startes lige nu. Du er ikke blevet trukket noget. Betal via fakturaen, eller prøv kortbetaling igen fra ordresiden.".into()
                } else {
                    "Card payment could not be started just now. Nothing was charged. Pay by the invoice, or try card payment again from the order page.".into()
                },
            ],
            None,
            Some((
                format!("{status_href}/{}", if da { "betal" } else { "pay" }),
                if da { "Betal med kort" } else { "Pay by card" }.to_string(),
            )),
            StatusCode::CREATED,
        ),
        Page::Status(order, _) => {
            let payable = order.status != "cancelled"
                && order.payment_status == "pending"
                && state.pactum.payments.is_some()
                && invoice.kind == "invoice";
            (
                if da { "Din bestilling" } else { "Your order" },
                Vec::new(),
                Some(payment_text(order, lang)),
                payable.then(|| {
                    (
                        format!("{status_href}/{}", if da { "betal" } else { "pay" }),
                        if da { "Betal med kort" } else { "Pay by card" }.to_string(),
                    )
                }),
                StatusCode::OK,
            )
        }
    };
    let (terms, cancel_action) = match &shown_as {
        Page::Status(_, Some(quote)) => cancellation_texts(quote, lang, &status_href),
        _ => (None, None),
    };
    let page = InvoicePage {
        terms,
        cancel_action,
        c: Chrome::new(policy, lang, other_href),
        lang_da: da,
        title: title.into(),
        intro,
        status_href: Some(status_href.clone()),
        payment,
        pay_action,
        number: invoice.number,
        credit_note: invoice.kind == "credit_note",
        issued_on: format_date(invoice.issued_on, lang),
        due_on: format_date(invoice.due_on, lang),
        buyer_lines,
        lines: document
            .lines
            .iter()
            .map(|l| InvoiceLineView {
                description: if da { l.description_da.clone() } else { l.description_en.clone() },
                quantity: l.quantity,
                unit_price: money(l.unit_price_ore),
                net: money(l.net_ore),
            })
            .collect(),
        net: money(invoice.net_ore),
        vat: money(invoice.vat_ore),
        total: money(invoice.total_ore),
        kept_until: document.retain_until.map(|d| format_date(d, lang)),
    };
    let mut response = html(page.render());
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    *response.status_mut() = status;
    allow_checkout(state, &mut response);
    response
}

/// The cancellation terms in words, and the cancel form while the buyer may still cancel.
fn cancellation_texts(
    quote: &pactum_core::orders::CancellationQuote,
    lang: Lang,
    status_href: &str,
) -> (Option<String>, Option<(String, String, String)>) {
    let da = lang == Lang::Da;
    let money = |ore: i64| pactum_core::orders::money(ore, lang);
    let until = format_date(quote.free_until, lang);
    let fee = quote.late_fee_percent;
    let terms = if da {
        format!(
            "Du kan annullere gratis til og med {until}. Derefter beholder vi {fee} % af prisen, og fra første kursusdag kan bestillingen ikke annulleres."
        )
    } else {
        format!(
            "You can cancel free of charge until {until}. After that we keep {fee} % of the price, and from the first day of the course the order cannot be cancelled."
        )
    };
    if !quote.open {
        return (Some(terms), None);
    }
    let consequence = match (quote.fee_ore, da) {
        (0, true) => format!("Annullerer du nu, krediterer vi hele beløbet, {}.", money(quote.credit_ore)),
        (0, false) => format!("If you cancel now, we credit the whole amount, {}.", money(quote.credit_ore)),
        (_, true) => {
            format!("Annullerer du nu, beholder vi {} og krediterer {}.", money(quote.fee_ore), money(quote.credit_ore))
        }
        (_, false) => {
            format!("If you cancel now, we keep {} and credit {}.", money(quote.fee_ore), money(quote.credit_ore))
        }
    };
    let action = format!("{status_href}/{}", if da { "annuller" } else { "cancel" });
    let label = if da { "Annuller bestillingen" } else { "Cancel the order" }.to_string();
    (Some(terms), Some((action, consequence, label)))
}

/// Opens the provider's hosted payment page for `order` and sends the buyer there.
async fn checkout<B: Backend, C: Clock>(state: &AppState<B, C>, lang: Lang, order: OrderId) -> Response {
    let policy = &state.pactum.policy;
    let base = &state.pactum.settings.public_url;
    let status = status_path(&state.pactum.keys.blind_index, lang, order);
    let back = format!("{base}{status}");
    match state.pactum.start_card_payment(order, back.clone(), back, lang).await {
        Ok(opened) => axum::response::Redirect::to(&opened.redirect_url).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "card payment could not be started");
            let other_href = status_path(&state.pactum.keys.blind_index, other(lang), order);
            match invoice_of(state, order).await {
                Ok(Some(document)) => done_page(state, lang, other_href, &document, Page::CheckoutFailed),
                Ok(None) => not_found(Chrome::new(policy, lang, other_href), lang),
                Err(e) => failure(Chrome::new(policy, lang, other_href), lang, e),
            }
        }
    }
}

async fn invoice_of<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    order: OrderId,
) -> Result<Option<InvoiceDocument>, CoreError> {
    let invoices = state.pactum.store.backend().invoices_of_order(order).await?;
    match invoices.iter().find(|i| i.kind == "invoice") {
        Some(invoice) => state.pactum.invoice_document(invoice.id).await,
        None => Ok(None),
    }
}

/// The order and its token from the path, when the token is the order's own.
async fn found_order<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    order: &str,
    token: &str,
) -> Result<Option<pactum_store::Order>, CoreError> {
    let Ok(id) = pactum_store::Uuid::parse_str(order).map(OrderId) else { return Ok(None) };
    let expected = status_token(&state.pactum.keys.blind_index, id);
    // Compared in constant time: the token is the only thing that guards the page.
    let same =
        expected.len() == token.len() && expected.bytes().zip(token.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    if !same {
        return Ok(None);
    }
    state.pactum.store.backend().order(id).await.map_err(Into::into)
}

/// The order an order-page address names, or the page to answer with (404, or a failure).
async fn order_or_answer<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    order: &str,
    token: &str,
    lang: Lang,
) -> Result<pactum_store::Order, Response> {
    let chrome = || Chrome::new(&state.pactum.policy, lang, courses_path(other(lang)));
    match found_order(state, order, token).await {
        Ok(Some(order)) => Ok(order),
        Ok(None) => Err(not_found(chrome(), lang)),
        Err(e) => Err(failure(chrome(), lang, e)),
    }
}

async fn status_page<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    Path((order, token)): Path<(String, String)>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let chrome = || Chrome::new(policy, lang, courses_path(other(lang)));
    let order = match order_or_answer(&state, &order, &token, lang).await {
        Ok(order) => order,
        Err(answer) => return answer,
    };
    let other_href = status_path(&state.pactum.keys.blind_index, other(lang), order.id);
    let quote = state.pactum.cancellation_quote(order.id).await.ok();
    match invoice_of(&state, order.id).await {
        Ok(Some(document)) => done_page(&state, lang, other_href, &document, Page::Status(&order, quote)),
        Ok(None) => not_found(chrome(), lang),
        Err(e) => failure(chrome(), lang, e),
    }
}

async fn pay_again<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((order, token)): Path<(String, String)>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let chrome = || Chrome::new(policy, lang, courses_path(other(lang)));
    if !same_origin(&headers) {
        return stale_form(chrome(), lang);
    }
    match order_or_answer(&state, &order, &token, lang).await {
        Ok(order) if order.payment_status == "pending" && order.status != "cancelled" => {
            checkout(&state, lang, order.id).await
        }
        Ok(order) => {
            let status = status_path(&state.pactum.keys.blind_index, lang, order.id);
            axum::response::Redirect::to(&status).into_response()
        }
        Err(answer) => answer,
    }
}

/// The buyer cancels from the order page, under the course's terms, after ticking the box that
/// says what it costs.
async fn cancel<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((order, token)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let policy = &state.pactum.policy;
    let chrome = || Chrome::new(policy, lang, courses_path(other(lang)));
    if !same_origin(&headers) {
        return stale_form(chrome(), lang);
    }
    let submitted = Submitted(fields);
    if let Some(field) = submitted.unexpected(&["confirm"]) {
        return undeclared_field(chrome(), lang, &field);
    }
    let order = match order_or_answer(&state, &order, &token, lang).await {
        Ok(order) => order,
        Err(answer) => return answer,
    };
    let status = status_path(&state.pactum.keys.blind_index, lang, order.id);
    let (title, text, code) = if submitted.get("confirm") != Some("yes") {
        let text = if lang == Lang::Da {
            "Sæt kryds for at bekræfte, at bestillingen skal annulleres."
        } else {
            "Tick the box to confirm that the order is to be cancelled."
        };
        (if lang == Lang::Da { "Ikke annulleret" } else { "Not cancelled" }, text.to_string(), StatusCode::BAD_REQUEST)
    } else {
        match state.pactum.cancel_order_as_buyer(order.id).await {
            Ok(quote) => {
                let da = lang == Lang::Da;
                let money = |ore: i64| pactum_core::orders::money(ore, lang);
                let text = match (da, quote.credit_ore > 0, order.payment_status == "paid") {
                    (true, true, true) => format!(
                        "Bestillingen er annulleret. Vi har udstedt en kreditnota på {} og sendt beløbet tilbage til dit kort.",
                        money(quote.credit_ore)
                    ),
                    (true, true, false) => format!(
                        "Bestillingen er annulleret. Vi har udstedt en kreditnota på {}.",
                        money(quote.credit_ore)
                    ),
                    (true, false, _) => {
                        "Bestillingen er annulleret. Efter betingelserne beholder vi hele prisen.".to_string()
                    }
                    (false, true, true) => format!(
                        "The order is cancelled. We have issued a credit note of {} and refunded it to your card.",
                        money(quote.credit_ore)
                    ),
                    (false, true, false) => {
                        format!("The order is cancelled. We have issued a credit note of {}.", money(quote.credit_ore))
                    }
                    (false, false, _) => "The order is cancelled. Under the terms we keep the whole price.".to_string(),
                };
                (if da { "Bestillingen er annulleret" } else { "The order is cancelled" }, text, StatusCode::OK)
            }
            Err(CoreError::Conflict) => {
                let text = if lang == Lang::Da {
                    "Bestillingen blev ændret i samme øjeblik (for eksempel af en betaling). Åbn ordresiden igen, og se hvor den står."
                } else {
                    "The order changed at the same moment (a payment, for example). Open the order page again to see where it stands."
                };
                (
                    if lang == Lang::Da { "Ikke annulleret" } else { "Not cancelled" },
                    text.to_string(),
                    StatusCode::CONFLICT,
                )
            }
            Err(CoreError::Forbidden) => {
                let text = if lang == Lang::Da {
                    "Bestillingen kan ikke længere annulleres her. Kontakt os, hvis der er særlige grunde."
                } else {
                    "The order can no longer be cancelled here. Contact us if there are special reasons."
                };
                (
                    if lang == Lang::Da { "Ikke annulleret" } else { "Not cancelled" },
                    text.to_string(),
                    StatusCode::CONFLICT,
                )
            }
            Err(e) => return failure(chrome(), lang, e),
        }
    };
    let back = if lang == Lang::Da { "Tilbage til din bestilling" } else { "Back to your order" };
    let page = crate::responses::MessagePage {
        c: chrome(),
        title: title.into(),
        paragraphs: vec![text],
        list: Vec::new(),
        action: None,
        link: Some((status, back.into())),
    };
    crate::responses::message_with(page, code)
}

/// The provider's signed callback. 200 for an event applied now or before (so the provider stops
/// sending it), 400 for one whose signature does not hold, 503 when Pactum cannot apply it now
/// (the provider retries).
async fn stripe_webhook<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use pactum_core::payments::PaymentProvider;
    let answer = |status: StatusCode, text: &'static str| {
        (status, [(axum::http::header::CONTENT_TYPE, "application/json")], format!("{{\"result\":\"{text}\"}}"))
            .into_response()
    };
    let Ok(provider) = state.pactum.card_provider() else {
        return answer(StatusCode::NOT_FOUND, "card payment is not configured");
    };
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let now = state.pactum.clock.now().unix_timestamp();
    let event = match provider.verify_callback(signature, &body, now) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "a payment callback was refused");
            return answer(StatusCode::BAD_REQUEST, "refused");
        }
    };
    match state.pactum.apply_payment_event(event).await {
        Ok(_) => answer(StatusCode::OK, "received"),
        Err(e) => {
            tracing::error!(error = %e, "a payment callback could not be applied; the provider will retry");
            answer(StatusCode::SERVICE_UNAVAILABLE, "retry")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_field_names_become_form_field_names() {
        assert_eq!(form_field("name"), "buyer_name");
        assert_eq!(form_field("participants[0].email"), "p1_email");
        assert_eq!(form_field("participants[9].name"), "p10_name");
        assert_eq!(form_field("cvr"), "cvr");
        assert_eq!(form_field("participants"), "participants");
        assert_eq!(form_field("participants[x].name"), "participants");
    }
}
