//! Certification with the partner (P13–P17) on the web: the partner's API (fetch a session's
//! certification participants, deliver messages to the exam proctor), the proctor's pages, and the
//! coordinators' upload of a message that arrived another way. Who may read a message is decided in
//! `pactum-core`: the session's assigned instructor, nobody else.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use pactum_core::api_tokens::Scope as TokenScope;
use pactum_core::certification::{MessageKind, OpenedMessage, PartnerMessage};
use pactum_core::disclosure::{DisclosureRequest, Scope};
use pactum_core::staff::Staff;
use pactum_core::values::{FieldError, Problem};
use pactum_core::{Clock, CoreError};
use pactum_store::{Backend, CertificationMessageId, EnrolmentId, SessionId, Uuid};
use serde::Deserialize;

use crate::AppState;
use crate::admin::{AdminChrome, dates, failure, message, staff_time, undeclared};
use crate::api::authorise;
use crate::api_error::{ApiError, Params};
use crate::pages::html;

// ---- the partner's API ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsBody {
    session_id: String,
}

fn invalid(field: &str, problem: Problem, lang: pactum_policy::Lang) -> ApiError {
    ApiError::from_core(CoreError::Invalid(vec![FieldError { field: field.into(), problem }]), lang)
}

fn parse_id(field: &str, value: &str, lang: pactum_policy::Lang) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value.trim()).map_err(|_| invalid(field, Problem::Malformed, lang))
}

/// The participants of a session who chose certification, with name and e-mail address only: a
/// disclosure to the certification partner, recorded in the ledger (P13).
pub async fn participants<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<ParticipantsBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let token = authorise(&state, &headers, TokenScope::Certification, lang).await?;
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let session = SessionId(parse_id("session_id", &body.session_id, lang)?);
    let request = DisclosureRequest {
        recipient: certification_partner(&state).ok_or_else(|| no_partner(lang))?,
        purpose: pactum_core::enrolment::CERTIFICATION_PURPOSE.into(),
        scope: Scope::Session(session),
        statute: None,
        actor: format!("token:{}", token.id),
    };
    let export = state.pactum.disclose(request).await.map_err(|e| activity_error(e, lang))?;
    Ok(Json(export.to_json()).into_response())
}

/// The recipient the policy registers for the certification purpose.
fn certification_partner<B: Backend, C: Clock>(state: &AppState<B, C>) -> Option<String> {
    state.pactum.policy.recipients_of(pactum_core::enrolment::CERTIFICATION_PURPOSE).next().map(|r| r.key.clone())
}

fn no_partner(lang: pactum_policy::Lang) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "disclosure_refused",
        match lang {
            pactum_policy::Lang::Da => {
                "Politikken registrerer ingen certificeringspartner. Intet er videregivet.".into()
            }
            pactum_policy::Lang::En => "The policy registers no certification partner. Nothing was disclosed.".into(),
        },
    )
}

fn activity_error(e: CoreError, lang: pactum_policy::Lang) -> ApiError {
    match e {
        CoreError::UnknownActivity => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            match lang {
                pactum_policy::Lang::Da => "Holdet findes ikke (længere).".into(),
                pactum_policy::Lang::En => "The session does not exist (any more).".into(),
            },
        ),
        other => ApiError::from_core(other, lang),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    session_id: String,
    /// The participant's reference from the participant list.
    participant: String,
    /// `registration` or `result`.
    kind: String,
    /// For a result: whether the participant passed.
    passed: Option<bool>,
    subject: String,
    body: String,
}

/// The kind of a message as sent; a result needs `passed`, a registration must not have it.
fn message_kind(kind: &str, passed: Option<bool>) -> Result<MessageKind, (&'static str, Problem)> {
    match (kind, passed) {
        ("registration", None) => Ok(MessageKind::Registration),
        ("registration", Some(_)) => Err(("passed", Problem::Undeclared)),
        ("result", Some(passed)) => Ok(MessageKind::Result { passed }),
        ("result", None) => Err(("passed", Problem::Missing)),
        _ => Err(("kind", Problem::UnknownChoice)),
    }
}

#[derive(serde::Serialize)]
struct Received {
    id: String,
    kind: &'static str,
}

/// A message from the partner to the session's exam proctor (P15).
pub async fn deliver_message<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Json<MessageBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let lang = Params::from_uri(&uri).lang(&headers);
    let token = authorise(&state, &headers, TokenScope::Certification, lang).await?;
    let Json(body) = body.map_err(|r| ApiError::from_json_rejection(r, lang))?;
    let session = SessionId(parse_id("session_id", &body.session_id, lang)?);
    let enrolment = EnrolmentId(parse_id("participant", &body.participant, lang)?);
    let kind = message_kind(&body.kind, body.passed).map_err(|(field, problem)| invalid(field, problem, lang))?;
    let message = PartnerMessage {
        session,
        enrolment,
        kind,
        subject_line: body.subject,
        body: body.body,
        actor: format!("token:{}", token.id),
    };
    let id = state.pactum.receive_certification_message(message).await.map_err(|e| activity_error(e, lang))?;
    Ok((StatusCode::CREATED, Json(Received { id: id.to_string(), kind: kind.key() })).into_response())
}

// ---- the proctor's pages ----------------------------------------------------------------------

struct MessageView {
    id: String,
    participant: String,
    kind: &'static str,
    subject: String,
    body: String,
    received: String,
}

fn view(m: OpenedMessage) -> MessageView {
    MessageView {
        id: m.id.to_string(),
        participant: m.participant,
        kind: if m.kind == "result" { "Resultat" } else { "Registrering" },
        subject: m.subject_line,
        body: m.body,
        received: staff_time(m.received_at),
    }
}

#[derive(Template)]
#[template(path = "admin_certification.html")]
struct MessagesPage {
    a: AdminChrome,
    course: String,
    dates: String,
    messages: Vec<MessageView>,
}

/// The partner's messages for one session, for its proctor only.
pub async fn session_messages<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(session): Path<String>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let Ok(id) = Uuid::parse_str(&session).map(SessionId) else {
        return failure(a, CoreError::UnknownActivity);
    };
    let backend = state.pactum.store.backend();
    let found = async {
        let messages = state.pactum.certification_messages_for(&staff, id).await?;
        let session = backend.sessions().await?.into_iter().find(|s| s.id == id).ok_or(CoreError::UnknownActivity)?;
        let course = backend.courses().await?.into_iter().find(|c| c.id == session.course);
        Ok::<_, CoreError>((session, course, messages))
    };
    match found.await {
        Ok((session, course, messages)) => html(
            MessagesPage {
                a,
                course: course.map(|c| c.title_da).unwrap_or_default(),
                dates: dates(session.starts_on, session.ends_on),
                messages: messages.into_iter().map(view).collect(),
            }
            .render(),
        ),
        Err(e) => failure(a, e),
    }
}

#[derive(Template)]
#[template(path = "admin_certification_message.html")]
struct OneMessagePage {
    a: AdminChrome,
    m: MessageView,
}

/// One message, for its session's proctor; 404 once the course has ended and it is deleted (P16).
pub async fn one_message<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let Ok(id) = Uuid::parse_str(&id).map(CertificationMessageId) else {
        return failure(a, CoreError::UnknownMessage);
    };
    match state.pactum.certification_message_for(&staff, id).await {
        Ok(m) => html(OneMessagePage { a, m: view(m) }.render()),
        Err(e) => failure(a, e),
    }
}

/// A coordinator registers a message that reached the provider another way (mail, paper).
pub async fn upload_message<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(session): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    if let Some((field, _)) =
        fields.iter().find(|(k, _)| !["csrf", "participant", "kind", "subject", "body"].contains(&k.as_str()))
    {
        return undeclared(a, field);
    }
    let value = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let Ok(session) = Uuid::parse_str(&session).map(SessionId) else {
        return failure(a, CoreError::UnknownActivity);
    };
    let Ok(enrolment) = Uuid::parse_str(value("participant")).map(EnrolmentId) else {
        return failure(a, CoreError::UnknownParticipant);
    };
    let kind = match value("kind") {
        "registration" => MessageKind::Registration,
        "passed" => MessageKind::Result { passed: true },
        "failed" => MessageKind::Result { passed: false },
        _ => {
            let problem = FieldError { field: "kind".into(), problem: Problem::UnknownChoice };
            return failure(a, CoreError::Invalid(vec![problem]));
        }
    };
    let upload = PartnerMessage {
        session,
        enrolment,
        kind,
        subject_line: value("subject").into(),
        body: value("body").into(),
        actor: staff.actor(),
    };
    match state.pactum.receive_certification_message(upload).await {
        Ok(_) => message(
            a,
            StatusCode::CREATED,
            "Beskeden er gemt til eksamensvagten",
            vec!["Kun holdets underviser kan læse den, og den slettes, når kurset er slut.".into()],
        ),
        Err(e) => failure(a, e),
    }
}
