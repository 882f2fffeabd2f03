//! Pactum's web layer (axum): public pages rendered from the policy, health, and the security
//! headers every response carries.
//!
//! [`Application::build`] binds its own listener, so tests run the real application on port 0;
//! [`transport`] serves it over TLS and decides which proxies are believed.

pub mod admin;
pub mod api;
pub mod api_error;
pub mod authz;
mod certification;
mod consent;
mod disclosures;
pub mod forms;
mod headers;
mod incidents;
mod json_problem;
pub mod newsletter;
pub mod notice;
mod openapi;
pub mod orders;
mod pages;
mod portal;
mod requests;
mod responses;
mod rights_api;
mod signup;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::serve::ListenerExt;
use pactum_core::{Clock, Pactum};
use pactum_policy::Lang;
use pactum_store::Backend;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Shared state of every handler.
pub struct AppState<B: Backend, C: Clock> {
    pub pactum: Pactum<B, C>,
    /// The notice never changes while the process runs, so it is rendered once.
    pub notice_da: String,
    pub notice_en: String,
    pub consent_limiter: pactum_core::rate_limit::RateLimiter,
    /// Staff sign-in and account set-up attempts, per address.
    pub login_limiter: pactum_core::rate_limit::RateLimiter,
    /// "My data" link requests, per peer address and per e-mail address (L1).
    pub access_limiter: pactum_core::rate_limit::RateLimiter,
    pub access_per_email: pactum_core::rate_limit::RateLimiter<Vec<u8>>,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: transport::TrustedProxies,
    /// Whether this server terminates TLS itself.
    pub serves_tls: bool,
}

/// Web settings that are not part of the policy.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Cookie-consent decisions accepted per minute from one address.
    pub consent_decisions_per_minute: u32,
    /// Staff sign-in attempts accepted per minute from one address (accounts also lock on their own).
    pub login_attempts_per_minute: u32,
    /// Reverse proxies allowed to name the client and the scheme.
    pub trusted_proxies: transport::TrustedProxies,
    /// Serve HTTPS with this configuration ([`transport::tls_config`]) instead of plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            consent_decisions_per_minute: 120,
            login_attempts_per_minute: 20,
            trusted_proxies: transport::TrustedProxies::default(),
            tls: None,
        }
    }
}

impl<B: Backend, C: Clock> AppState<B, C> {
    pub fn new(pactum: Pactum<B, C>, options: &WebOptions) -> Result<Arc<Self>, askama::Error> {
        let notice_da = notice::render(&pactum.policy, Lang::Da)?;
        let notice_en = notice::render(&pactum.policy, Lang::En)?;
        let consent_limiter = pactum_core::rate_limit::RateLimiter::per_minute(options.consent_decisions_per_minute);
        let login_limiter = pactum_core::rate_limit::RateLimiter::per_minute(options.login_attempts_per_minute);
        let access_limiter = pactum_core::rate_limit::RateLimiter::per_minute(options.login_attempts_per_minute);
        let access_per_email = pactum_core::rate_limit::RateLimiter::per_window(3, Duration::from_secs(3600));
        Ok(Arc::new(AppState {
            pactum,
            notice_da,
            notice_en,
            consent_limiter,
            login_limiter,
            access_limiter,
            access_per_email,
            trusted_proxies: options.trusted_proxies.clone(),
            serves_tls: options.tls.is_some(),
        }))
    }
}

/// The largest request body Pactum accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router<B: Backend, C: Clock>(state: Arc<AppState<B, C>>) -> Router {
    pages::routes::<B, C>()
        .merge(consent::routes::<B, C>())
        .merge(newsletter::routes::<B, C>())
        .merge(signup::routes::<B, C>())
        .merge(orders::routes::<B, C>())
        .merge(api::routes::<B, C>())
        .merge(admin::routes::<B, C>(state.clone()))
        .merge(portal::routes::<B, C>())
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(forms::refuse_malformed_text))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn(api_error::explain_body_limit))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn_with_state(state, transport::strict_transport_security::<B, C>))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(pages::panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // Only the route template: paths and query strings may carry personal data.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "unmatched".into());
            tracing::info_span!("request", method = %request.method(), route)
        }))
}

/// The HTTP server: a router bound to its own listener.
pub struct Application {
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Application {
    pub async fn build<B: Backend, C: Clock>(
        pactum: Pactum<B, C>,
        listen: SocketAddr,
        options: WebOptions,
    ) -> std::io::Result<Application> {
        let listener = TcpListener::bind(listen).await?;
        Self::with_listener(pactum, listener, options)
    }

    /// The application on a listener the caller bound.
    pub fn with_listener<B: Backend, C: Clock>(
        pactum: Pactum<B, C>,
        listener: TcpListener,
        options: WebOptions,
    ) -> std::io::Result<Application> {
        let state = AppState::new(pactum, &options).map_err(std::io::Error::other)?;
        Ok(Application { listener, router: router(state), tls: options.tls })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Whether it serves HTTPS.
    pub fn serves_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        match self.tls {
            Some(config) => {
                let listener = transport::TlsListener::new(self.listener, config).tap_io(|_| ());
                axum::serve(listener, service).with_graceful_shutdown(shutdown).await
            }
            None => {
                let listener = self.listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, service).with_graceful_shutdown(shutdown).await
            }
        }
    }
}
