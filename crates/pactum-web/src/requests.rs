//! The DPO's queue of rights requests in the admin UI (P34, L1): requests from "My data" and ones
//! staff register from mail, phone or letter, each with its received date and its deadline one
//! calendar month later; overdue requests raise the alarm here and on the staff home page. Staff
//! extend a request (within the first month, by one or two months, with reasons mailed to the
//! person) and close it `done` or `rejected` with a reason; a refusal tells the person of the
//! right to complain to Datatilsynet. Every read and change is audited.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use pactum_core::rights::{CHANNELS, Outcome, RequestDraft, RequestKind, RequestView, Standing, channel_label};
use pactum_core::staff::Staff;
use pactum_core::values::{FieldError, Problem};
use pactum_core::{Clock, CoreError};
use pactum_policy::Lang;
use pactum_store::{Backend, RightsRequestId, Uuid};

use crate::AppState;
use crate::admin::{AdminChrome, failure, message, undeclared};
use crate::notice::format_date;
use crate::pages::{form_page, html};

const REGISTER_FIELDS: &[&str] =
    &["csrf", "email", "name", "kind", "channel", "received_on", "details", "restrict", "lang"];

struct Row {
    href: String,
    kind: &'static str,
    channel: &'static str,
    received: String,
    due: String,
    standing: &'static str,
    alarm: bool,
}

fn row(view: &RequestView) -> Row {
    let r = &view.report;
    Row {
        href: format!("/admin/requests/{}", r.id),
        kind: RequestKind::parse(&r.kind).map(|k| k.label(Lang::Da)).unwrap_or("?"),
        channel: channel_label(&r.channel, Lang::Da),
        received: format_date(r.received_on, Lang::Da),
        due: format_date(r.extended_to.unwrap_or(r.due_on), Lang::Da),
        standing: r.standing.label(Lang::Da),
        alarm: r.standing == Standing::Overdue,
    }
}

#[derive(Template)]
#[template(path = "admin_requests.html")]
struct ListPage {
    a: AdminChrome,
    open: Vec<Row>,
    closed: Vec<Row>,
    overdue: usize,
    kinds: Vec<(&'static str, &'static str)>,
    channels: Vec<(&'static str, &'static str)>,
    today: String,
    errors: Vec<String>,
}

async fn list_page<B: Backend, C: Clock>(state: &AppState<B, C>, staff: &Staff, errors: Vec<String>) -> Response {
    let a = AdminChrome::for_staff(state, staff);
    let pactum = &state.pactum;
    let (open, closed) =
        match (pactum.request_queue(staff, true, Lang::Da).await, pactum.request_queue(staff, false, Lang::Da).await) {
            (Ok(open), Ok(closed)) => (open, closed),
            (Err(e), _) | (_, Err(e)) => return failure(a, e),
        };
    let overdue = open.iter().filter(|v| v.report.standing == Standing::Overdue).count();
    let page = ListPage {
        a,
        open: open.iter().map(row).collect(),
        closed: closed.iter().map(row).collect(),
        overdue,
        kinds: RequestKind::ALL.iter().map(|k| (k.key(), k.label(Lang::Da))).collect(),
        // "My data" records its own requests; staff register the other channels.
        channels: CHANNELS.iter().filter(|c| **c != "portal").map(|c| (*c, channel_label(c, Lang::Da))).collect(),
        today: pactum_store::date_to_text(pactum.clock.today()),
        errors,
    };
    let has_problems = !page.errors.is_empty();
    form_page(page.render(), has_problems)
}

pub async fn list<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    list_page(&state, &staff, Vec::new()).await
}

fn value<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

pub async fn register<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Some((field, _)) = fields.iter().find(|(k, _)| !REGISTER_FIELDS.contains(&k.as_str())) {
        return undeclared(AdminChrome::for_staff(&state, &staff), field);
    }
    // A date that does not parse is refused by the core with the other problems, all at once.
    let received_on = pactum_store::date_from_text(value(&fields, "received_on").trim()).unwrap_or(time::Date::MAX);
    let draft = RequestDraft {
        email: value(&fields, "email").into(),
        name: value(&fields, "name").into(),
        kind: value(&fields, "kind").into(),
        channel: value(&fields, "channel").into(),
        received_on,
        details: value(&fields, "details").into(),
        restrict: value(&fields, "restrict") == "yes",
        lang: Lang::from_code(value(&fields, "lang")).unwrap_or(Lang::Da),
        repeat_key: None,
    };
    match state.pactum.register_request(&staff.actor(), draft).await {
        Ok(id) => Redirect::to(&format!("/admin/requests/{id}")).into_response(),
        Err(CoreError::Invalid(problems)) => {
            list_page(&state, &staff, problems.iter().map(|p| p.message(Lang::Da)).collect()).await
        }
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

#[derive(Template)]
#[template(path = "admin_request.html")]
struct DetailPage {
    a: AdminChrome,
    id: String,
    kind: &'static str,
    channel: &'static str,
    subject: String,
    received: String,
    due: String,
    extended_to: Option<String>,
    extension_reason: Option<String>,
    standing: &'static str,
    overdue: bool,
    open: bool,
    restricts: bool,
    details: Option<String>,
    scope: String,
    decided: Option<String>,
    decision_reason: Option<String>,
    decided_by: Option<String>,
    may_extend: bool,
    /// An open erasure request: staff can carry it out here.
    may_erase: bool,
    /// An open access or portability request: staff can mail the person a "My data" link.
    may_send_link: bool,
    notice: Option<String>,
}

fn request_id(raw: &str) -> Result<RightsRequestId, CoreError> {
    Uuid::parse_str(raw).map(RightsRequestId).map_err(|_| CoreError::UnknownRequest)
}

pub async fn detail<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    detail_page(&state, &staff, &id, None).await
}

async fn detail_page<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    staff: &Staff,
    id: &str,
    notice: Option<String>,
) -> Response {
    let a = AdminChrome::for_staff(state, staff);
    let view = match request_id(id) {
        Ok(id) => state.pactum.request_view(staff, id, Lang::Da).await,
        Err(e) => Err(e),
    };
    let v = match view {
        Ok(v) => v,
        Err(e) => return failure(a, e),
    };
    let r = &v.report;
    let open = matches!(r.standing, Standing::Open | Standing::DueSoon | Standing::Overdue);
    let page = DetailPage {
        a,
        id: r.id.to_string(),
        kind: RequestKind::parse(&r.kind).map(|k| k.label(Lang::Da)).unwrap_or("?"),
        channel: channel_label(&r.channel, Lang::Da),
        subject: v.subject.to_string(),
        received: format_date(r.received_on, Lang::Da),
        due: format_date(r.due_on, Lang::Da),
        extended_to: r.extended_to.map(|d| format_date(d, Lang::Da)),
        extension_reason: r.extension_reason.clone(),
        standing: r.standing.label(Lang::Da),
        overdue: r.standing == Standing::Overdue,
        open,
        restricts: r.restricts,
        details: v.details.clone(),
        scope: r.scope.clone(),
        decided: r.decided_on.map(|d| format_date(d, Lang::Da)),
        decision_reason: r.decision_reason.clone(),
        decided_by: v.decided_by.clone(),
        may_extend: v.may_extend,
        may_erase: open && r.kind == "erasure",
        may_send_link: open && (r.kind == "access" || r.kind == "portability"),
        notice,
    };
    html(page.render())
}

/// The request a form posts to, once the form holds only the fields it declares.
fn posted_request<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    staff: &Staff,
    raw_id: &str,
    fields: &[(String, String)],
    allowed: &[&str],
) -> Result<RightsRequestId, Box<Response>> {
    if let Some((field, _)) = fields.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(Box::new(undeclared(AdminChrome::for_staff(state, staff), field)));
    }
    request_id(raw_id).map_err(|e| Box::new(failure(AdminChrome::for_staff(state, staff), e)))
}

pub async fn extend<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let id = match posted_request(&state, &staff, &id, &fields, &["csrf", "months", "reason"]) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let a = AdminChrome::for_staff(&state, &staff);
    let months = value(&fields, "months").trim().parse::<u16>().unwrap_or(0);
    match state.pactum.extend_request(&staff, id, months, value(&fields, "reason")).await {
        Ok(_) => Redirect::to(&format!("/admin/requests/{id}")).into_response(),
        Err(CoreError::NotExtendable) => message(
            a,
            StatusCode::CONFLICT,
            "Anmodningen kan ikke forlænges",
            vec!["En frist kan kun forlænges én gang og kun inden for den første måned (art. 12, stk. 3).".into()],
        ),
        Err(e) => failure(a, e),
    }
}

pub async fn decide<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let id = match posted_request(&state, &staff, &id, &fields, &["csrf", "outcome", "reason"]) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    let a = AdminChrome::for_staff(&state, &staff);
    let Some(outcome) = Outcome::parse(value(&fields, "outcome")) else {
        return failure(
            a,
            CoreError::Invalid(vec![FieldError { field: "outcome".into(), problem: Problem::UnknownChoice }]),
        );
    };
    match state.pactum.decide_request(&staff, id, outcome, value(&fields, "reason")).await {
        Ok(()) => Redirect::to(&format!("/admin/requests/{id}")).into_response(),
        Err(CoreError::RequestClosed) => {
            message(a, StatusCode::CONFLICT, "Anmodningen er allerede afsluttet", Vec::new())
        }
        Err(e) => failure(a, e),
    }
}

/// Carries out an erasure request; the request stays open for its decision (P33).
pub async fn erase<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(raw): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let id = match posted_request(&state, &staff, &raw, &fields, &["csrf"]) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match state.pactum.erase_for_request(&staff, id).await {
        Ok(erasure) => {
            let kept: Vec<&str> = erasure.kept.iter().map(|k| k.purpose.as_str()).collect();
            let notice = format!(
                "{} oplysninger er slettet (sletningsbevis {}). Bevaret efter lovkrav: {}. Send nu afgørelsen til personen.",
                erasure.items_deleted,
                erasure.proof,
                if kept.is_empty() { "intet".to_string() } else { kept.join(", ") }
            );
            detail_page(&state, &staff, &raw, Some(notice)).await
        }
        Err(e) => action_failure(&state, &staff, e),
    }
}

/// Mails the person of an access or portability request a "My data" link (P30, L5).
pub async fn send_link<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(raw): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let id = match posted_request(&state, &staff, &raw, &fields, &["csrf"]) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match state.pactum.mail_access_link_for(&staff, id).await {
        Ok(()) => {
            let notice =
                "Personen har fået et link til «Mine data» med rapporten og kopien. Send afgørelsen, når det er gjort.";
            detail_page(&state, &staff, &raw, Some(notice.into())).await
        }
        Err(e) => action_failure(&state, &staff, e),
    }
}

fn action_failure<B: Backend, C: Clock>(state: &AppState<B, C>, staff: &Staff, e: CoreError) -> Response {
    let a = AdminChrome::for_staff(state, staff);
    match e {
        CoreError::RequestClosed => message(a, StatusCode::CONFLICT, "Anmodningen er allerede afsluttet", Vec::new()),
        CoreError::WrongRequestKind => {
            message(a, StatusCode::CONFLICT, "Handlingen passer ikke til denne slags anmodning", Vec::new())
        }
        CoreError::SubjectGone => {
            message(a, StatusCode::CONFLICT, "Personens oplysninger er allerede slettet", Vec::new())
        }
        other => failure(a, other),
    }
}
