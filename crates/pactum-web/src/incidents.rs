//! The incident register in the admin UI (L9): record a breach, see its 72-hour deadline, the
//! people affected, the prefilled Art. 33(3) report and, for a high risk, the draft notice to the
//! people affected; and record that the authority was told. Times are entered and shown in UTC.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use pactum_core::incidents::{IncidentDraft, RISKS};
use pactum_core::staff::Staff;
use pactum_core::values::{FieldError, Problem};
use pactum_core::{Clock, CoreError};
use pactum_policy::Lang;
use pactum_store::{Backend, IncidentId, Micros, Uuid};

use crate::AppState;
use crate::admin::{AdminChrome, failure, staff_time, undeclared};
use crate::pages::{form_page, html};

const FIELDS: &[&str] = &[
    "csrf",
    "title",
    "description",
    "aware_at",
    "occurred_from",
    "occurred_to",
    "recipient",
    "actor",
    "category",
    "consequences",
    "measures",
    "risk",
];

fn risk_label(risk: &str) -> &'static str {
    match risk {
        "unlikely" => "Ingen sandsynlig risiko: registreres, anmeldes ikke",
        "high" => "Høj risiko: anmeldes, og de berørte underrettes (art. 34)",
        _ => "Risiko: anmeldes til Datatilsynet",
    }
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, in UTC) as microseconds.
fn parse_time(field: &str, value: &str) -> Result<Micros, FieldError> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(value.trim(), &format)
        .map(|t| pactum_core::clock::to_micros(t.assume_utc()))
        .map_err(|_| FieldError { field: field.into(), problem: Problem::NotADate })
}

struct Row {
    href: String,
    title: String,
    aware: String,
    deadline: String,
    risk: &'static str,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "admin_incidents.html")]
struct ListPage {
    a: AdminChrome,
    rows: Vec<Row>,
    recipients: Vec<(String, String)>,
    categories: Vec<(String, String)>,
    risks: Vec<(&'static str, &'static str)>,
    errors: Vec<String>,
}

async fn list_page<B: Backend, C: Clock>(state: &AppState<B, C>, staff: &Staff, errors: Vec<String>) -> Response {
    let a = AdminChrome::for_staff(state, staff);
    let incidents = match state.pactum.store.backend().incidents().await {
        Ok(list) => list,
        Err(e) => return failure(a, e.into()),
    };
    let now = state.pactum.clock.now_micros();
    let rows = incidents
        .into_iter()
        .map(|i| {
            let deadline = i.aware_at + pactum_core::incidents::AUTHORITY_DEADLINE_HOURS * 3_600_000_000;
            let status = match (i.risk.as_str(), i.authority_notified_at) {
                ("unlikely", _) => "Registreret",
                (_, Some(_)) => "Anmeldt",
                (_, None) if now > deadline => "Fristen er overskredet",
                _ => "Skal anmeldes",
            };
            Row {
                href: format!("/admin/incidents/{}", i.id),
                title: i.title,
                aware: staff_time(i.aware_at),
                deadline: staff_time(deadline),
                risk: risk_label(&i.risk),
                status,
            }
        })
        .collect();
    let policy = &state.pactum.policy;
    let page = ListPage {
        a,
        rows,
        recipients: policy.recipients.iter().map(|r| (r.key.clone(), r.name.clone())).collect(),
        categories: policy.categories.iter().map(|c| (c.key.clone(), c.label.get(Lang::Da).to_string())).collect(),
        risks: RISKS.iter().map(|r| (*r, risk_label(r))).collect(),
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

pub async fn record<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Some((field, _)) = fields.iter().find(|(k, _)| !FIELDS.contains(&k.as_str())) {
        return undeclared(AdminChrome::for_staff(&state, &staff), field);
    }
    let value = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let optional = |k: &str| Some(value(k).trim().to_string()).filter(|v| !v.is_empty());
    let times: Vec<Result<Micros, FieldError>> =
        ["aware_at", "occurred_from", "occurred_to"].iter().map(|f| parse_time(f, value(f))).collect();
    let problems: Vec<String> = times.iter().filter_map(|t| t.as_ref().err()).map(|e| e.message(Lang::Da)).collect();
    let [Ok(aware_at), Ok(occurred_from), Ok(occurred_to)] = times[..] else {
        return list_page(&state, &staff, problems).await;
    };
    let draft = IncidentDraft {
        title: value("title").into(),
        description: value("description").into(),
        aware_at,
        occurred_from,
        occurred_to,
        recipient: optional("recipient"),
        actor: optional("actor"),
        categories: fields.iter().filter(|(k, _)| k == "category").map(|(_, v)| v.clone()).collect(),
        consequences: value("consequences").into(),
        measures: value("measures").into(),
        risk: value("risk").into(),
    };
    match state.pactum.record_incident(&staff, draft).await {
        Ok(id) => Redirect::to(&format!("/admin/incidents/{id}")).into_response(),
        Err(CoreError::Invalid(problems)) => {
            list_page(&state, &staff, problems.iter().map(|p| p.message(Lang::Da)).collect()).await
        }
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

#[derive(Template)]
#[template(path = "admin_incident.html")]
struct DetailPage {
    a: AdminChrome,
    id: String,
    title: String,
    aware: String,
    window: String,
    deadline: String,
    risk: &'static str,
    must_report: bool,
    reported: Option<String>,
    overdue: bool,
    affected: Vec<String>,
    report: Vec<(String, String)>,
    notice: Option<String>,
}

pub async fn detail<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let Ok(id) = Uuid::parse_str(&id).map(IncidentId) else {
        return failure(a, CoreError::UnknownActivity);
    };
    match state.pactum.incident_view(id, Lang::Da).await {
        Ok(v) => html(
            DetailPage {
                a,
                id: v.incident.id.to_string(),
                title: v.incident.title.clone(),
                aware: staff_time(v.incident.aware_at),
                window: format!("{} – {}", staff_time(v.incident.occurred_from), staff_time(v.incident.occurred_to)),
                deadline: staff_time(v.deadline),
                risk: risk_label(&v.incident.risk),
                must_report: v.incident.risk != "unlikely",
                reported: v.incident.authority_notified_at.map(staff_time),
                overdue: v.overdue,
                affected: v.affected.iter().map(|s| s.to_string()).collect(),
                report: v.report,
                notice: v.notice,
            }
            .render(),
        ),
        Err(e) => failure(a, e),
    }
}

pub async fn reported<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let Ok(id) = Uuid::parse_str(&id).map(IncidentId) else {
        return failure(a, CoreError::UnknownActivity);
    };
    match state.pactum.incident_reported(&staff, id).await {
        Ok(()) => Redirect::to(&format!("/admin/incidents/{id}")).into_response(),
        Err(e) => failure(a, e),
    }
}
