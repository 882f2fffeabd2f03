//! Public pages: the front page, the privacy notice in both languages, health, static assets,
//! and the not-found page.

use std::any::Any;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use pactum_core::Clock;
use pactum_policy::{Lang, Policy};
use pactum_store::Backend;

use crate::AppState;
use crate::notice::{Chrome, path};

const CSS: &str = include_str!("../assets/pactum.css");
/// The consent widget (P26–P29): one dependency-free script and its stylesheet, for Pactum's own
/// pages and any other site.
const CONSENT_JS: &str = include_str!("../assets/consent.js");
const CONSENT_CSS: &str = include_str!("../assets/consent.css");

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    Router::new()
        .route("/", get(home_da::<B, C>))
        .route("/en", get(home_en::<B, C>))
        .route("/privatliv", get(notice_da::<B, C>))
        .route("/en/privacy", get(notice_en::<B, C>))
        .route("/healthz", get(health::<B, C>))
        .route("/static/pactum.css", get(css))
        .route("/consent.js", get(consent_js))
        .route("/consent.css", get(consent_css))
        .fallback(not_found::<B, C>)
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    c: Chrome<'a>,
    notice_href: &'static str,
    newsletter_href: &'static str,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    c: Chrome<'a>,
    home_href: &'static str,
}

pub fn html(result: Result<String, askama::Error>) -> Response {
    match result {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown. Please try again later.").into_response()
        }
    }
}

/// A form page shown again with its problems listed: 400 when there are any, else 200.
pub fn form_page(result: Result<String, askama::Error>, has_problems: bool) -> Response {
    let mut response = html(result);
    if has_problems && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

pub fn other(lang: Lang) -> Lang {
    if lang == Lang::Da { Lang::En } else { Lang::Da }
}

pub fn home_path(lang: Lang) -> &'static str {
    if lang == Lang::Da { "/" } else { "/en" }
}

fn home(policy: &Policy, lang: Lang) -> Response {
    html(
        HomePage {
            c: Chrome::new(policy, lang, home_path(other(lang))),
            notice_href: path(lang),
            newsletter_href: crate::newsletter::page_path(lang),
        }
        .render(),
    )
}

async fn home_da<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Response {
    home(&state.pactum.policy, Lang::Da)
}

async fn home_en<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Response {
    home(&state.pactum.policy, Lang::En)
}

async fn notice_da<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Html<String> {
    Html(state.notice_da.clone())
}

async fn notice_en<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Html<String> {
    Html(state.notice_en.clone())
}

/// 200 when the database answers, 503 when it does not.
async fn health<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Response {
    match state.pactum.store.backend().health().await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: the database is not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], "database unreachable\n")
                .into_response()
        }
    }
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
        .into_response()
}

async fn consent_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        CONSENT_JS,
    )
        .into_response()
}

async fn consent_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], CONSENT_CSS)
        .into_response()
}

async fn not_found<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>, uri: Uri) -> Response {
    let lang = if uri.path().starts_with("/en/") || uri.path() == "/en" { Lang::En } else { Lang::Da };
    let page =
        NotFoundPage { c: Chrome::new(&state.pactum.policy, lang, home_path(other(lang))), home_href: home_path(lang) };
    let mut response = html(page.render());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// What a request that panicked gets: a plain 500, never the panic message (it could hold data).
pub fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again later.")
        .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}
