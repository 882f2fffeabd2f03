//! The staff page for disclosures (P08–P12): a roster to the partner that delivers a course, the
//! certification participants to the certification partner, an attendee list to an event's
//! co-organiser or (only those who ticked the box) its sponsor, and an invoice to an authority with
//! the statute the request cites. The page offers only what the policy and the catalogue allow, and
//! `pactum-core` checks every request again: a refusal is audited and nothing leaves. Also the
//! DPO's delivery log of the Art. 19 notifications sent to recipients afterwards (L4), and the
//! record of processing activities built from the policy and the ledger (L7).

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use pactum_core::disclosure::{DisclosureExport, DisclosureRequest, Scope};
use pactum_core::staff::Staff;
use pactum_core::values::{FieldError, Problem};
use pactum_core::{Clock, CoreError};
use pactum_policy::LegalBasis;
use pactum_store::{Backend, EventId, SessionId, Uuid};

use crate::AppState;
use crate::admin::{AdminChrome, dates, failure, staff_time, undeclared};
use crate::pages::html;

/// One export the page offers: to whom, under which purpose, about which activity.
struct Offer {
    label: String,
    recipient: String,
    purpose: &'static str,
    scope: String,
}

struct Authority {
    key: String,
    name: String,
    purpose: String,
    statute: String,
}

#[derive(Template)]
#[template(path = "admin_disclosures.html")]
struct DisclosuresPage {
    a: AdminChrome,
    offers: Vec<Offer>,
    authorities: Vec<Authority>,
}

fn recipient_name<B: Backend, C: Clock>(state: &AppState<B, C>, key: &str) -> String {
    state.pactum.policy.recipient(key).map(|r| r.name.clone()).unwrap_or_else(|| key.to_string())
}

pub async fn page<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let backend = state.pactum.store.backend();
    let offers = async {
        let courses = backend.courses().await?;
        let certification_partner =
            state.pactum.policy.recipients_of(pactum_core::enrolment::CERTIFICATION_PURPOSE).next();
        let mut offers = Vec::new();
        for session in backend.sessions().await? {
            let Some(course) = courses.iter().find(|c| c.id == session.course) else { continue };
            let what = format!("{}, {}", course.title_da, dates(session.starts_on, session.ends_on));
            if let Some(partner) = &course.delivered_by {
                offers.push(Offer {
                    label: format!("Deltagerliste for {what} til {}", recipient_name(&state, partner)),
                    recipient: partner.clone(),
                    purpose: "course_enrolment",
                    scope: format!("session:{}", session.id),
                });
            }
            if let (true, Some(partner)) = (course.certification, certification_partner) {
                offers.push(Offer {
                    label: format!("Certificeringsdeltagere for {what} til {}", partner.name),
                    recipient: partner.key.clone(),
                    purpose: "certification",
                    scope: format!("session:{}", session.id),
                });
            }
        }
        for event in backend.events().await? {
            let what = format!("{}, {}", event.title_da, dates(event.starts_on, event.ends_on));
            if let Some(co) = &event.co_organiser {
                offers.push(Offer {
                    label: format!("Deltagerliste for {what} til medarrangøren {}", recipient_name(&state, co)),
                    recipient: co.clone(),
                    purpose: "event_signup",
                    scope: format!("event:{}", event.id),
                });
            }
            if let Some(sponsor) = &event.sponsor {
                offers.push(Offer {
                    label: format!(
                        "Deltagere, der har sagt ja til deling, for {what} til sponsoren {}",
                        recipient_name(&state, sponsor)
                    ),
                    recipient: sponsor.clone(),
                    purpose: "event_sponsor_sharing",
                    scope: format!("event:{}", event.id),
                });
            }
        }
        Ok::<_, CoreError>(offers)
    };
    let offers = match offers.await {
        Ok(offers) => offers,
        Err(e) => return failure(a, e),
    };
    let authorities = state
        .pactum
        .policy
        .recipients
        .iter()
        .filter(|r| r.basis == LegalBasis::LegalObligation)
        .filter_map(|r| {
            let purpose = r.purposes.iter().find(|p| p.as_str() == "bookkeeping")?;
            Some(Authority {
                key: r.key.clone(),
                name: r.name.clone(),
                purpose: purpose.clone(),
                statute: r.statute.clone().unwrap_or_default(),
            })
        })
        .collect();
    html(DisclosuresPage { a, offers, authorities }.render())
}

const FIELDS: &[&str] = &["csrf", "recipient", "purpose", "scope", "invoice", "statute", "format"];

fn invalid(field: &str, problem: Problem) -> CoreError {
    CoreError::Invalid(vec![FieldError { field: field.into(), problem }])
}

/// The activity of a form's `scope` field (`session:<id>`, `event:<id>`, or `invoice` with the
/// invoice number in its own field).
async fn scope_of<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    scope: &str,
    invoice: &str,
) -> Result<Scope, CoreError> {
    let id = |text: &str| Uuid::parse_str(text).map_err(|_| invalid("scope", Problem::Malformed));
    match scope.split_once(':') {
        Some(("session", rest)) => Ok(Scope::Session(SessionId(id(rest)?))),
        Some(("event", rest)) => Ok(Scope::Event(EventId(id(rest)?))),
        None if scope == "invoice" => {
            let number: u64 = invoice.trim().parse().map_err(|_| invalid("invoice", Problem::Malformed))?;
            let found = state.pactum.store.backend().invoices_after(number.saturating_sub(1), 1).await?;
            match found.into_iter().next() {
                Some(i) if i.number == number => Ok(Scope::Invoice(i.id)),
                _ => Err(CoreError::UnknownActivity),
            }
        }
        _ => Err(invalid("scope", Problem::UnknownChoice)),
    }
}

/// Makes the disclosure and answers with the export as a download.
pub async fn disclose<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    if let Some((field, _)) = fields.iter().find(|(k, _)| !FIELDS.contains(&k.as_str())) {
        return undeclared(a, field);
    }
    let value = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let json = match value("format") {
        "" | "csv" => false,
        "json" => true,
        _ => return failure(a, invalid("format", Problem::UnknownChoice)),
    };
    let scope = match scope_of(&state, value("scope"), value("invoice")).await {
        Ok(scope) => scope,
        Err(e) => return failure(a, e),
    };
    let statute = Some(value("statute").to_string()).filter(|s| !s.trim().is_empty());
    if statute.as_deref().is_some_and(|s| s.chars().count() > 300 || s.chars().any(char::is_control)) {
        return failure(a, invalid("statute", Problem::TooLong(300)));
    }
    let request = DisclosureRequest {
        recipient: value("recipient").into(),
        purpose: value("purpose").into(),
        scope,
        statute,
        actor: staff.actor(),
    };
    match state.pactum.disclose(request).await {
        Ok(export) => download(&export, json),
        Err(e) => failure(a, e),
    }
}

fn download(export: &DisclosureExport, json: bool) -> Response {
    let (body, content_type, extension) = if json {
        (export.to_json().to_string(), "application/json", "json")
    } else {
        (export.to_csv(), "text/csv; charset=utf-8", "csv")
    };
    let day = pactum_core::clock::from_micros(export.at).date();
    let recipient: String =
        export.recipient.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')).collect();
    let name = format!("videregivelse-{recipient}-{}.{extension}", pactum_store::date_to_text(day));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

struct NotificationRow {
    created: String,
    recipient: String,
    kind: &'static str,
    reference: String,
    channel: &'static str,
    status: String,
    attempts: u32,
    error: String,
}

#[derive(Template)]
#[template(path = "admin_notifications.html")]
struct NotificationsPage {
    a: AdminChrome,
    rows: Vec<NotificationRow>,
}

/// The delivery log of Art. 19 notifications to recipients (L4), for the DPO.
pub async fn notifications<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let log = match state.pactum.store.backend().notifications(500).await {
        Ok(log) => log,
        Err(e) => return failure(a, e.into()),
    };
    let rows = log
        .into_iter()
        .map(|n| NotificationRow {
            created: staff_time(n.created_at),
            recipient: recipient_name(&state, &n.recipient),
            kind: match n.kind.as_str() {
                "rectification" => "Berigtigelse",
                "restriction" => "Begrænsning",
                _ => "Sletning",
            },
            reference: n.reference,
            channel: match n.channel.as_str() {
                "email" => "E-mail",
                "webhook" => "Webhook",
                _ => "Manuel",
            },
            status: match n.status.as_str() {
                "delivered" => format!("Leveret {}", n.delivered_at.map(staff_time).unwrap_or_default()),
                "failed" => "Opgivet efter gentagne forsøg".into(),
                "manual" => "Manuel: giv den videre selv".into(),
                _ => "Venter".into(),
            },
            attempts: n.attempts,
            error: n.last_error.unwrap_or_default(),
        })
        .collect();
    html(NotificationsPage { a, rows }.render())
}

#[derive(Template)]
#[template(path = "admin_ropa.html")]
struct RopaPage {
    a: AdminChrome,
    r: pactum_policy::ropa::Ropa,
    /// Each activity with its recipients described, including what the ledger holds for them.
    activities: Vec<(pactum_policy::ropa::Activity, Vec<String>)>,
}

/// The record of processing activities (Art. 30, L7), from the policy and the disclosure ledger.
pub async fn ropa<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let counts = match state.pactum.store.backend().disclosure_counts().await {
        Ok(counts) => counts,
        Err(e) => return failure(a, e.into()),
    };
    let r = pactum_policy::ropa::record(&state.pactum.policy, pactum_policy::Lang::Da);
    let activities = r
        .activities
        .iter()
        .map(|activity| {
            let lines = activity
                .recipients
                .iter()
                .map(|x| {
                    let transfer =
                        x.transfer.as_ref().map(|t| format!("; overførsel til tredjeland: {t}")).unwrap_or_default();
                    let ledger = match counts.iter().find(|c| c.recipient == x.key && c.purpose == activity.purpose) {
                        Some(c) => format!(
                            "; i videregivelsesloggen: {} {}, senest {}",
                            c.entries,
                            if c.entries == 1 { "person" } else { "personer" },
                            staff_time(c.newest)
                        ),
                        None => "; ingen i videregivelsesloggen".into(),
                    };
                    format!("{} ({}, {}{transfer}{ledger})", x.name, x.role, x.country)
                })
                .collect();
            (activity.clone(), lines)
        })
        .collect();
    html(RopaPage { a, r, activities }.render())
}
