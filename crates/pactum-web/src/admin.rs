//! The staff pages: signing in, setting up an account from its one-time link, and the admin UI
//! (catalogue, sessions and rosters, staff, API tokens, the audit chain, invoices).
//!
//! Access to every page behind the login is decided by [`crate::authz`]; the handlers here only
//! render and call `pactum-core`. The admin UI is in Danish, the staff's working language.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use pactum_core::api_tokens::Scope;
use pactum_core::staff::{LoginOutcome, MIN_PASSWORD, Role, Staff};
use pactum_core::{Clock, CoreError};
use pactum_policy::Lang;
use pactum_store::{ApiTokenId, Backend, SessionId, StaffId, Uuid};

use crate::AppState;
use crate::authz::{self, csrf_token, granted};
use crate::forms::{Submitted, form_token, form_token_valid, same_origin};
use crate::pages::html;
use crate::transport::ClientIp;

pub fn routes<B: Backend, C: Clock>(state: Arc<AppState<B, C>>) -> Router<Arc<AppState<B, C>>> {
    let guarded = Router::new()
        .route("/admin", get(home::<B, C>))
        .route("/admin/logout", post(logout::<B, C>))
        .route("/admin/catalogue", get(catalogue::<B, C>).post(import_catalogue::<B, C>))
        .route("/admin/sessions", get(sessions::<B, C>))
        .route("/admin/sessions/{session}/roster", get(roster::<B, C>))
        .route("/admin/sessions/{session}/certification", get(crate::certification::session_messages::<B, C>))
        .route("/admin/sessions/{session}/certification/messages", post(crate::certification::upload_message::<B, C>))
        .route("/admin/certification/messages/{message}", get(crate::certification::one_message::<B, C>))
        .route("/admin/disclosures", get(crate::disclosures::page::<B, C>).post(crate::disclosures::disclose::<B, C>))
        .route("/admin/notifications", get(crate::disclosures::notifications::<B, C>))
        .route("/admin/ropa", get(crate::disclosures::ropa::<B, C>))
        .route("/admin/incidents", get(crate::incidents::list::<B, C>).post(crate::incidents::record::<B, C>))
        .route("/admin/incidents/{incident}", get(crate::incidents::detail::<B, C>))
        .route("/admin/incidents/{incident}/reported", post(crate::incidents::reported::<B, C>))
        .route("/admin/requests", get(crate::requests::list::<B, C>).post(crate::requests::register::<B, C>))
        .route("/admin/requests/{request}", get(crate::requests::detail::<B, C>))
        .route("/admin/requests/{request}/extend", post(crate::requests::extend::<B, C>))
        .route("/admin/requests/{request}/decide", post(crate::requests::decide::<B, C>))
        .route("/admin/requests/{request}/erase", post(crate::requests::erase::<B, C>))
        .route("/admin/requests/{request}/send-link", post(crate::requests::send_link::<B, C>))
        .route("/admin/staff", get(staff_list::<B, C>).post(invite::<B, C>))
        .route("/admin/staff/{staff}/disable", post(disable::<B, C>))
        .route("/admin/api-tokens", get(tokens::<B, C>).post(create_token::<B, C>))
        .route("/admin/api-tokens/{token}/revoke", post(revoke_token::<B, C>))
        .route("/admin/audit", get(audit::<B, C>))
        .route("/admin/retention", get(retention::<B, C>))
        .route("/admin/invoices", get(invoices::<B, C>))
        .route("/admin/invoices/{invoice}/peppol.xml", get(invoice_xml::<B, C>))
        .route("/admin/orders/{order}/cancel", post(cancel_order::<B, C>))
        .route_layer(axum::middleware::from_fn_with_state(state, authz::guard::<B, C>));
    Router::new()
        .route("/admin/login", get(login_page::<B, C>).post(login::<B, C>))
        .route("/admin/setup/{token}", get(setup_page::<B, C>).post(setup::<B, C>))
        .merge(guarded)
}

/// The links of the staff menu; each is shown only to roles granted it.
const NAV: &[(&str, &str)] = &[
    ("/admin/sessions", "Hold og deltagerlister"),
    ("/admin/catalogue", "Katalog"),
    ("/admin/staff", "Medarbejdere"),
    ("/admin/api-tokens", "API-nøgler"),
    ("/admin/audit", "Revisionsspor"),
    ("/admin/retention", "Sletning"),
    ("/admin/invoices", "Fakturaer"),
    ("/admin/disclosures", "Videregivelser"),
    ("/admin/notifications", "Underretning af modtagere"),
    ("/admin/ropa", "Fortegnelse (art. 30)"),
    ("/admin/incidents", "Sikkerhedsbrud"),
    ("/admin/requests", "Anmodninger om rettigheder"),
];

/// What every staff page's frame shows.
pub(crate) struct AdminChrome {
    pub org: String,
    pub me: Option<String>,
    pub nav: Vec<(&'static str, &'static str)>,
    pub csrf: String,
}

impl AdminChrome {
    fn signed_out<B: Backend, C: Clock>(state: &AppState<B, C>) -> AdminChrome {
        AdminChrome { org: state.pactum.policy.controller.name.clone(), me: None, nav: Vec::new(), csrf: String::new() }
    }

    pub(crate) fn for_staff<B: Backend, C: Clock>(state: &AppState<B, C>, staff: &Staff) -> AdminChrome {
        AdminChrome {
            org: state.pactum.policy.controller.name.clone(),
            me: Some(staff.username.clone()),
            nav: NAV.iter().copied().filter(|(href, _)| granted(&axum::http::Method::GET, href, staff.role)).collect(),
            csrf: csrf_token(&state.pactum.keys.blind_index, staff),
        }
    }
}

/// A bare page for refusals from the guard, where no state is at hand.
pub fn plain_page(message: &str) -> axum::response::Html<String> {
    let escaped: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            other => other.to_string(),
        })
        .collect();
    axum::response::Html(format!(
        "<!doctype html><html lang=\"da\"><head><meta charset=\"utf-8\"><title>Pactum</title>\
         <link rel=\"stylesheet\" href=\"/static/pactum.css\"></head><body><main id=\"main\"><h1>{escaped}</h1>\
         <p><a href=\"/admin\">Til forsiden for medarbejdere</a></p></main></body></html>"
    ))
}

#[derive(Template)]
#[template(path = "admin_message.html")]
struct MessagePage {
    a: AdminChrome,
    title: String,
    paragraphs: Vec<String>,
    secret: Option<String>,
    link: Option<(String, String)>,
}

pub(crate) fn message(a: AdminChrome, status: StatusCode, title: &str, paragraphs: Vec<String>) -> Response {
    let page = MessagePage { a, title: title.into(), paragraphs, secret: None, link: None };
    with_status(html(page.render()), status)
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

pub(crate) fn failure(a: AdminChrome, e: CoreError) -> Response {
    let (status, title) = match e {
        CoreError::Forbidden => (StatusCode::FORBIDDEN, "Din rolle giver ikke adgang til dette"),
        CoreError::UnknownActivity | CoreError::UnknownStaff | CoreError::UnknownParticipant => {
            (StatusCode::NOT_FOUND, "Findes ikke")
        }
        CoreError::UnknownRequest => (StatusCode::NOT_FOUND, "Anmodningen findes ikke"),
        CoreError::UnknownMessage => {
            (StatusCode::NOT_FOUND, "Beskeden findes ikke; beskeder slettes, når kurset er slut")
        }
        CoreError::CertificationNotChosen => {
            (StatusCode::CONFLICT, "Deltageren har ikke valgt certificering eller har gjort indsigelse")
        }
        CoreError::Refused(refusal) => {
            return message(a, StatusCode::FORBIDDEN, &refusal.describe(Lang::Da), Vec::new());
        }
        CoreError::Invalid(problems) => {
            let lines = problems.iter().map(|p| p.message(Lang::Da)).collect();
            return message(a, StatusCode::BAD_REQUEST, "Ret venligst følgende", lines);
        }
        other => {
            tracing::error!(error = %other, "a staff page failed");
            (StatusCode::SERVICE_UNAVAILABLE, "Noget gik galt. Prøv igen om lidt")
        }
    };
    message(a, status, title, Vec::new())
}

pub(crate) fn undeclared(a: AdminChrome, field: &str) -> Response {
    message(
        a,
        StatusCode::BAD_REQUEST,
        "Formularen indeholdt et felt, den ikke har",
        vec![format!("Feltet «{field}» hører ikke til formularen. Genindlæs siden og prøv igen.")],
    )
}

pub(crate) fn dates(starts: time::Date, ends: time::Date) -> String {
    let f = |d: time::Date| crate::notice::format_date(d, Lang::Da);
    if starts == ends { f(starts) } else { format!("{} – {}", f(starts), f(ends)) }
}

// ---- signing in -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    a: AdminChrome,
    form_token: String,
    username: String,
    error: Option<&'static str>,
}

const REFUSED: &str = "Brugernavn, adgangskode eller kode passer ikke, eller kontoen er låst efter for mange forsøg. \
                       Prøv igen, eller vent 15 minutter.";

fn login_form<B: Backend, C: Clock>(state: &AppState<B, C>, username: String, error: Option<&'static str>) -> Response {
    let token = form_token(&state.pactum.keys.blind_index, state.pactum.clock.now().unix_timestamp());
    let page = LoginPage { a: AdminChrome::signed_out(state), form_token: token, username, error };
    let mut response = html(page.render());
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

async fn login_page<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Response {
    login_form(&state, String::new(), None)
}

async fn login<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted(fields);
    let username: String = submitted.get("username").unwrap_or("").chars().take(64).collect();
    let now = state.pactum.clock.now().unix_timestamp();
    if !same_origin(&headers)
        || !form_token_valid(&state.pactum.keys.blind_index, submitted.get("form_token").unwrap_or(""), now)
    {
        let response = login_form(&state, username, Some("Formularen var udløbet. Prøv igen."));
        return with_status(response, StatusCode::FORBIDDEN);
    }
    if let Some(field) = submitted.unexpected(&["form_token", "username", "password", "code"]) {
        return undeclared(AdminChrome::signed_out(&state), &field);
    }
    if !state.login_limiter.allow(client) {
        let response = login_form(&state, username, Some("For mange forsøg fra din adresse. Vent et minut."));
        return with_status(response, StatusCode::TOO_MANY_REQUESTS);
    }
    let password = submitted.get("password").unwrap_or("");
    let code = submitted.get("code").unwrap_or("");
    match state.pactum.staff_login(&username, password, code).await {
        Ok(LoginOutcome::SignedIn { token, .. }) => {
            let cookie = authz::session_cookie(&state.pactum.settings.public_url, &token);
            let mut response = Redirect::to("/admin").into_response();
            if let Ok(value) = header::HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(LoginOutcome::Refused) => with_status(login_form(&state, username, Some(REFUSED)), StatusCode::UNAUTHORIZED),
        Err(e) => failure(AdminChrome::signed_out(&state), e),
    }
}

async fn logout<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    if let Err(e) = state.pactum.staff_logout(&staff).await {
        return failure(AdminChrome::signed_out(&state), e);
    }
    let mut response = Redirect::to("/admin/login").into_response();
    if let Ok(value) = header::HeaderValue::from_str(&authz::expired_session_cookie(&state.pactum.settings.public_url))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

// ---- account set-up ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_setup.html")]
struct SetupPage {
    a: AdminChrome,
    username: String,
    role: &'static str,
    secret: String,
    otpauth: String,
    action: String,
    min_password: u32,
    errors: Vec<String>,
}

fn link_failure(a: AdminChrome, e: CoreError) -> Response {
    match e {
        CoreError::InvalidLink => message(
            a,
            StatusCode::NOT_FOUND,
            "Linket virker ikke",
            vec!["Linket er allerede brugt eller findes ikke. Bed en administrator om et nyt.".into()],
        ),
        CoreError::LinkExpired => message(
            a,
            StatusCode::GONE,
            "Linket er udløbet",
            vec!["Et opsætningslink gælder i 72 timer. Bed en administrator om et nyt.".into()],
        ),
        other => failure(a, other),
    }
}

async fn setup_form<B: Backend, C: Clock>(state: &AppState<B, C>, token: &str, errors: Vec<String>) -> Response {
    match state.pactum.staff_setup(token).await {
        Ok(details) => {
            let page = SetupPage {
                a: AdminChrome::signed_out(state),
                username: details.username,
                role: details.role.label(Lang::Da),
                secret: details.totp_secret,
                otpauth: details.otpauth_uri,
                action: format!("/admin/setup/{token}"),
                min_password: MIN_PASSWORD,
                errors,
            };
            let mut response = html(page.render());
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => link_failure(AdminChrome::signed_out(state), e),
    }
}

async fn setup_page<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Path(token): Path<String>,
) -> Response {
    setup_form(&state, &token, Vec::new()).await
}

async fn setup<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    ClientIp(client): ClientIp,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let a = AdminChrome::signed_out(&state);
    if !same_origin(&headers) {
        return message(a, StatusCode::FORBIDDEN, "Formularen kom fra et andet websted og blev afvist", Vec::new());
    }
    let submitted = Submitted(fields);
    if let Some(field) = submitted.unexpected(&["password", "code"]) {
        return undeclared(a, &field);
    }
    if !state.login_limiter.allow(client) {
        return message(a, StatusCode::TOO_MANY_REQUESTS, "For mange forsøg. Vent et minut", Vec::new());
    }
    let password = submitted.get("password").unwrap_or("");
    let code = submitted.get("code").unwrap_or("");
    match state.pactum.complete_staff_setup(&token, password, code).await {
        Ok(_) => {
            let page = MessagePage {
                a,
                title: "Din adgang er klar".into(),
                paragraphs: vec!["Log ind med dit brugernavn, din adgangskode og koden fra appen.".into()],
                secret: None,
                link: Some(("/admin/login".into(), "Log ind".into())),
            };
            html(page.render())
        }
        Err(CoreError::Invalid(problems)) => {
            let errors = problems.iter().map(|p| p.message(Lang::Da)).collect();
            with_status(setup_form(&state, &token, errors).await, StatusCode::BAD_REQUEST)
        }
        Err(e) => link_failure(a, e),
    }
}

// ---- the staff pages --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage {
    a: AdminChrome,
    username: String,
    role: &'static str,
    overdue: usize,
}

async fn home<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    // The overdue alarm, for those who handle requests (P34).
    let overdue = if granted(&axum::http::Method::GET, "/admin/requests", staff.role) {
        state.pactum.overdue_requests().await.unwrap_or(0)
    } else {
        0
    };
    let page = HomePage {
        a: AdminChrome::for_staff(&state, &staff),
        username: staff.username.clone(),
        role: staff.role.label(Lang::Da),
        overdue,
    };
    html(page.render())
}

struct SessionRow {
    course: String,
    dates: String,
    location: String,
    taken: u32,
    seats: u32,
    instructor: String,
    roster_href: String,
    /// The proctor's page of the certification partner's messages, where the course offers certification.
    messages_href: Option<String>,
}

struct EventRow {
    title: String,
    dates: String,
    co_organiser: String,
    sponsor: String,
    taken: u32,
    seats: u32,
}

async fn session_rows<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    only_instructor: Option<&str>,
) -> Result<Vec<SessionRow>, CoreError> {
    let backend = state.pactum.store.backend();
    let courses = backend.courses().await?;
    let mut rows = Vec::new();
    for session in backend.sessions().await? {
        if only_instructor.is_some_and(|me| session.instructor.as_deref() != Some(me)) {
            continue;
        }
        let course = courses.iter().find(|c| c.id == session.course);
        rows.push(SessionRow {
            course: course.map(|c| c.title_da.clone()).unwrap_or_default(),
            dates: dates(session.starts_on, session.ends_on),
            location: if session.online { "Online".into() } else { session.location.clone() },
            taken: backend.seats_taken(session.id.0).await?,
            seats: session.seats,
            instructor: session.instructor.clone().unwrap_or_else(|| "–".into()),
            roster_href: format!("/admin/sessions/{}/roster", session.id),
            messages_href: course
                .is_some_and(|c| c.certification)
                .then(|| format!("/admin/sessions/{}/certification", session.id)),
        });
    }
    Ok(rows)
}

#[derive(Template)]
#[template(path = "admin_catalogue.html")]
struct CataloguePage {
    a: AdminChrome,
    sessions: Vec<SessionRow>,
    events: Vec<EventRow>,
    text: String,
    errors: Vec<String>,
}

async fn catalogue_page<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    staff: &Staff,
    text: String,
    errors: Vec<String>,
) -> Response {
    let a = AdminChrome::for_staff(state, staff);
    let backend = state.pactum.store.backend();
    let rows = async {
        let sessions = session_rows(state, None).await?;
        let mut events = Vec::new();
        for e in backend.events().await? {
            events.push(EventRow {
                title: e.title_da.clone(),
                dates: dates(e.starts_on, e.ends_on),
                co_organiser: e.co_organiser.clone().unwrap_or_else(|| "–".into()),
                sponsor: e.sponsor.clone().unwrap_or_else(|| "–".into()),
                taken: backend.seats_taken(e.id.0).await?,
                seats: e.seats,
            });
        }
        Ok::<_, CoreError>((sessions, events))
    };
    match rows.await {
        Ok((sessions, events)) => html(CataloguePage { a, sessions, events, text, errors }.render()),
        Err(e) => failure(a, e),
    }
}

async fn catalogue<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    catalogue_page(&state, &staff, String::new(), Vec::new()).await
}

async fn import_catalogue<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted(fields);
    if let Some(field) = submitted.unexpected(&["csrf", "catalogue"]) {
        return undeclared(AdminChrome::for_staff(&state, &staff), &field);
    }
    let text = submitted.get("catalogue").unwrap_or("").to_string();
    match state.pactum.import_catalogue(&text, &staff.actor()).await {
        Ok(summary) => message(
            AdminChrome::for_staff(&state, &staff),
            StatusCode::OK,
            "Kataloget er gemt",
            vec![format!(
                "{} kurser, {} hold og {} arrangementer er gemt.",
                summary.courses, summary.sessions, summary.events
            )],
        ),
        Err(CoreError::Catalogue(errors)) => {
            with_status(catalogue_page(&state, &staff, text, errors).await, StatusCode::BAD_REQUEST)
        }
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

#[derive(Template)]
#[template(path = "admin_sessions.html")]
struct SessionsPage {
    a: AdminChrome,
    sessions: Vec<SessionRow>,
    empty: &'static str,
    /// An instructor is the exam proctor of their sessions and reads the partner's messages.
    proctor: bool,
}

async fn sessions<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let (only, empty) = match staff.role {
        Role::Instructor => (Some(staff.username.as_str()), "Du er ikke underviser på nogen hold endnu."),
        _ => (None, "Der er ingen hold i kataloget endnu."),
    };
    let a = AdminChrome::for_staff(&state, &staff);
    match session_rows(&state, only).await {
        Ok(sessions) => html(SessionsPage { a, sessions, empty, proctor: staff.role == Role::Instructor }.render()),
        Err(e) => failure(a, e),
    }
}

#[derive(Template)]
#[template(path = "admin_roster.html")]
struct RosterPage {
    a: AdminChrome,
    session: String,
    course: String,
    dates: String,
    contact: bool,
    entries: Vec<pactum_core::roster::RosterEntry>,
    /// For coordinators and admins: the participants who chose certification, by reference and
    /// name, for registering a message from the partner that arrived another way.
    upload_for: Vec<(String, String)>,
}

async fn roster<B: Backend, C: Clock>(
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
        let session = backend.sessions().await?.into_iter().find(|s| s.id == id).ok_or(CoreError::UnknownActivity)?;
        let course = backend.courses().await?.into_iter().find(|c| c.id == session.course);
        let roster = state.pactum.session_roster(&staff, id).await?;
        Ok::<_, CoreError>((session, course, roster))
    };
    match found.await {
        Ok((session, course, roster)) => html(
            RosterPage {
                a,
                session: session.id.to_string(),
                course: course.map(|c| c.title_da).unwrap_or_default(),
                dates: dates(session.starts_on, session.ends_on),
                contact: matches!(staff.role, Role::Admin | Role::Coordinator),
                upload_for: if matches!(staff.role, Role::Admin | Role::Coordinator) {
                    roster
                        .entries
                        .iter()
                        .filter(|e| e.certification)
                        .map(|e| (e.enrolment.to_string(), e.name.clone()))
                        .collect()
                } else {
                    Vec::new()
                },
                entries: roster.entries,
            }
            .render(),
        ),
        Err(e) => failure(a, e),
    }
}

struct StaffRow {
    id: String,
    username: String,
    role: &'static str,
    status: String,
    can_disable: bool,
}

#[derive(Template)]
#[template(path = "admin_staff.html")]
struct StaffPage {
    a: AdminChrome,
    staff: Vec<StaffRow>,
    roles: Vec<(&'static str, &'static str)>,
    errors: Vec<String>,
}

/// A moment as staff pages show it: day, month, year, hours and minutes, in UTC.
pub(crate) fn staff_time(micros: i64) -> String {
    pactum_core::clock::from_micros(micros)
        .format(time::macros::format_description!("[day].[month].[year] [hour]:[minute] UTC"))
        .unwrap_or_default()
}

fn micros_date(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000)
        .map(|t| crate::notice::format_date(t.date(), Lang::Da))
        .unwrap_or_default()
}

async fn staff_page<B: Backend, C: Clock>(state: &AppState<B, C>, me: &Staff, errors: Vec<String>) -> Response {
    let a = AdminChrome::for_staff(state, me);
    let now = state.pactum.clock.now_micros();
    let accounts = match state.pactum.store.backend().staff_accounts().await {
        Ok(accounts) => accounts,
        Err(e) => return failure(a, e.into()),
    };
    let staff = accounts
        .into_iter()
        .map(|s| {
            let status = match (&s.disabled_at, &s.password_hash, s.locked_until) {
                (Some(_), _, _) => "Deaktiveret".to_string(),
                (None, None, _) => {
                    format!("Afventer opsætning (linket gælder til {})", micros_date(s.setup_expires_at.unwrap_or(0)))
                }
                (None, Some(_), Some(until)) if until > now => "Låst efter for mange forkerte forsøg".to_string(),
                _ => "Aktiv".to_string(),
            };
            StaffRow {
                id: s.id.to_string(),
                can_disable: s.disabled_at.is_none() && s.id != me.id,
                role: Role::from_key(&s.role).map(|r| r.label(Lang::Da)).unwrap_or("?"),
                username: s.username,
                status,
            }
        })
        .collect();
    let roles = Role::ALL.iter().map(|r| (r.key(), r.label(Lang::Da))).collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    with_status(html(StaffPage { a, staff, roles, errors }.render()), status)
}

async fn staff_list<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    staff_page(&state, &staff, Vec::new()).await
}

async fn invite<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let submitted = Submitted(fields);
    if let Some(field) = submitted.unexpected(&["csrf", "username", "role"]) {
        return undeclared(AdminChrome::for_staff(&state, &staff), &field);
    }
    let Some(role) = Role::from_key(submitted.get("role").unwrap_or("")) else {
        return staff_page(&state, &staff, vec!["Vælg en af de viste roller.".into()]).await;
    };
    let username = submitted.get("username").unwrap_or("");
    match state.pactum.invite_staff(&staff.actor(), username, role).await {
        Ok(invitation) => {
            let page = MessagePage {
                a: AdminChrome::for_staff(&state, &staff),
                title: "Invitationen er klar".into(),
                paragraphs: vec![format!(
                    "Giv dette engangslink til medarbejderen ad en sikker vej. Det gælder til {}, og det vises kun nu.",
                    micros_date(invitation.expires_at)
                )],
                secret: Some(invitation.setup_url),
                link: Some(("/admin/staff".into(), "Tilbage til medarbejderne".into())),
            };
            html(page.render())
        }
        Err(CoreError::Invalid(problems)) => {
            staff_page(&state, &staff, problems.iter().map(|p| p.message(Lang::Da)).collect()).await
        }
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

async fn disable<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id).map(StaffId) else {
        return failure(AdminChrome::for_staff(&state, &staff), CoreError::UnknownStaff);
    };
    match state.pactum.disable_staff(&staff, id).await {
        Ok(()) => Redirect::to("/admin/staff").into_response(),
        Err(CoreError::Forbidden) => {
            staff_page(&state, &staff, vec!["Du kan ikke deaktivere din egen konto.".into()]).await
        }
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

struct TokenRow {
    id: String,
    name: String,
    scopes: String,
    status: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    a: AdminChrome,
    tokens: Vec<TokenRow>,
    scopes: Vec<(&'static str, &'static str)>,
    errors: Vec<String>,
}

fn scope_label(scope: Scope) -> &'static str {
    match scope {
        Scope::CatalogueWrite => "Opdatere kataloget (catalogue:write)",
        Scope::Certification => {
            "Certificeringspartneren: hente deltagere og sende beskeder til eksamensvagten (certification)"
        }
    }
}

async fn tokens_page<B: Backend, C: Clock>(state: &AppState<B, C>, me: &Staff, errors: Vec<String>) -> Response {
    let a = AdminChrome::for_staff(state, me);
    let tokens = match state.pactum.store.backend().api_tokens().await {
        Ok(tokens) => tokens,
        Err(e) => return failure(a, e.into()),
    };
    let tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            status: match t.revoked_at {
                Some(at) => format!("Tilbagekaldt {}", micros_date(at)),
                None => format!("Aktiv siden {}", micros_date(t.created_at)),
            },
            active: t.revoked_at.is_none(),
            name: t.name,
            scopes: t.scopes,
        })
        .collect();
    let scopes = Scope::ALL.iter().map(|s| (s.key(), scope_label(*s))).collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    with_status(html(TokensPage { a, tokens, scopes, errors }.render()), status)
}

async fn tokens<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    tokens_page(&state, &staff, Vec::new()).await
}

async fn create_token<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Some((field, _)) = fields.iter().find(|(k, _)| !["csrf", "name", "scope"].contains(&k.as_str())) {
        return undeclared(AdminChrome::for_staff(&state, &staff), field);
    }
    let mut scopes = Vec::new();
    for (_, key) in fields.iter().filter(|(k, _)| k == "scope") {
        match Scope::from_key(key) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => return tokens_page(&state, &staff, vec!["Vælg adgang blandt de viste muligheder.".into()]).await,
        }
    }
    let name = fields.iter().find(|(k, _)| k == "name").map(|(_, v)| v.as_str()).unwrap_or("");
    match state.pactum.create_api_token(&staff.actor(), name, &scopes).await {
        Ok((token, secret)) => {
            let page = MessagePage {
                a: AdminChrome::for_staff(&state, &staff),
                title: format!("API-nøglen «{}» er udstedt", token.name),
                paragraphs: vec![
                    "Kopiér nøglen nu: Pactum gemmer kun dens fingeraftryk og kan ikke vise den igen.".into(),
                    "Send den i headeren Authorization: Bearer <nøgle>.".into(),
                ],
                secret: Some(secret),
                link: Some(("/admin/api-tokens".into(), "Tilbage til API-nøglerne".into())),
            };
            html(page.render())
        }
        Err(CoreError::Invalid(problems)) => {
            tokens_page(&state, &staff, problems.iter().map(|p| p.message(Lang::Da)).collect()).await
        }
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

async fn revoke_token<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id).map(ApiTokenId) else {
        return failure(AdminChrome::for_staff(&state, &staff), CoreError::UnknownStaff);
    };
    match state.pactum.revoke_api_token(&staff, id).await {
        Ok(()) => Redirect::to("/admin/api-tokens").into_response(),
        Err(e) => failure(AdminChrome::for_staff(&state, &staff), e),
    }
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    a: AdminChrome,
    chains: Vec<(String, u64)>,
    problem: Option<String>,
}

async fn audit<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let backend = state.pactum.store.backend();
    let (chains, problem) = match pactum_store::audit::verify(backend, &state.pactum.keys.audit).await {
        Ok(summaries) => (summaries.into_iter().map(|s| (s.chain, s.entries)).collect(), None),
        Err(pactum_store::audit::VerifyError::Broken(b)) => (
            Vec::new(),
            Some(format!(
                "Kæden «{}» er brudt ved post {}: {}. Kontakt den ansvarlige for drift.",
                b.chain, b.seq, b.reason
            )),
        ),
        Err(pactum_store::audit::VerifyError::Store(e)) => return failure(a, e.into()),
    };
    html(AuditPage { a, chains, problem }.render())
}

struct ForecastRow {
    until: String,
    subjects: usize,
    items: usize,
    purposes: Vec<(String, usize)>,
    /// Records of Pactum's own duties (and certification records), per class.
    records: Vec<(String, usize)>,
}

#[derive(Template)]
#[template(path = "admin_retention.html")]
struct RetentionPage {
    a: AdminChrome,
    rows: Vec<ForecastRow>,
    rules: Vec<(String, String)>,
}

/// What the retention sweep will delete within the next 7, 30 and 90 days, and under which rule.
async fn retention<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let today = state.pactum.clock.today();
    let mut rows = Vec::new();
    for days in [7, 30, 90] {
        // The sweep on day D deletes what expired before D, so "within N days" is a sweep on today + N + 1.
        let day = today + time::Duration::days(days + 1);
        match state.pactum.run_retention(day, true).await {
            Ok(report) => rows.push(ForecastRow {
                until: format!("{days} dage ({})", crate::notice::format_date(day - time::Duration::days(1), Lang::Da)),
                subjects: report.subjects_erased,
                items: report.items_deleted,
                purposes: report.purposes_ended.into_iter().collect(),
                records: report.records_deleted.into_iter().collect(),
            }),
            Err(e) => return failure(a, e),
        }
    }
    let rules = state
        .pactum
        .policy
        .purposes
        .iter()
        .map(|p| (p.label.get(Lang::Da).to_string(), p.retention.describe(Lang::Da)))
        .chain(state.pactum.policy.records.iter().map(|r| (r.label.get(Lang::Da).to_string(), r.describe(Lang::Da))))
        .collect();
    html(RetentionPage { a, rows, rules }.render())
}

struct InvoiceRow {
    id: String,
    number: u64,
    kind: &'static str,
    issued_on: String,
    due_on: String,
    total: String,
    order: String,
    cancellable: bool,
}

#[derive(Template)]
#[template(path = "admin_invoices.html")]
struct InvoicesPage {
    a: AdminChrome,
    rows: Vec<InvoiceRow>,
    next: Option<u64>,
}

/// Invoices per page of the list.
const INVOICES_PER_PAGE: u32 = 100;

/// Issued invoices and credit notes by number, without the buyers' details (those are in the
/// Peppol document, whose every download is audited).
async fn invoices<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    uri: axum::http::Uri,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let after: u64 = uri
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("efter=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let backend = state.pactum.store.backend();
    let invoices = match backend.invoices_after(after, INVOICES_PER_PAGE).await {
        Ok(list) => list,
        Err(e) => return failure(a, e.into()),
    };
    let credited: Vec<pactum_store::InvoiceId> = invoices.iter().filter_map(|i| i.credits).collect();
    let next = (invoices.len() == INVOICES_PER_PAGE as usize).then(|| invoices.last().map(|i| i.number)).flatten();
    let rows = invoices
        .iter()
        .map(|i| InvoiceRow {
            id: i.id.to_string(),
            number: i.number,
            kind: if i.kind == "credit_note" { "Kreditnota" } else { "Faktura" },
            issued_on: crate::notice::format_date(i.issued_on, Lang::Da),
            due_on: crate::notice::format_date(i.due_on, Lang::Da),
            total: format!("{} kr.", pactum_core::orders::kroner(i.total_ore)),
            order: i.order.to_string(),
            cancellable: i.kind == "invoice" && !credited.contains(&i.id),
        })
        .collect();
    html(InvoicesPage { a, rows, next }.render())
}

/// The Peppol BIS Billing 3.0 document of an invoice, for the customer's e-invoicing system.
async fn invoice_xml<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let Ok(id) = Uuid::parse_str(&id).map(pactum_store::InvoiceId) else {
        return failure(a, CoreError::UnknownActivity);
    };
    match state.pactum.invoice_for_staff(&staff, id, "invoice:peppol").await {
        Ok(Some(document)) => {
            let xml = pactum_core::ubl::peppol_document(&state.pactum.policy, &document);
            let name = if document.invoice.kind == "credit_note" { "kreditnota" } else { "faktura" };
            let disposition = format!("attachment; filename=\"{name}-{}.xml\"", document.invoice.number);
            let mut response = xml.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/xml; charset=utf-8"));
            headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            if let Ok(value) = header::HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Ok(None) => failure(a, CoreError::UnknownActivity),
        Err(e) => failure(a, e),
    }
}

/// Cancels an order: its seats are given back and a credit note is issued for its invoice.
async fn cancel_order<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Extension(staff): Extension<Staff>,
    Path(id): Path<String>,
) -> Response {
    let a = AdminChrome::for_staff(&state, &staff);
    let Ok(id) = Uuid::parse_str(&id).map(pactum_store::OrderId) else {
        return failure(a, CoreError::UnknownActivity);
    };
    match state.pactum.cancel_order(id, &staff.actor()).await {
        Ok(_) => Redirect::to("/admin/invoices").into_response(),
        Err(e) => failure(a, e),
    }
}
