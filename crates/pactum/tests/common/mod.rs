//! What the HTTP test suites share: Pactum served on a free port over SQLite or PostgreSQL, with
//! a real SMTP listener for its mail and a clock the tests move.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use pactum_core::keyfile::{KeySource, load};
use pactum_core::staff::{PasswordCost, Role};
use pactum_core::{ManualClock, Pactum};
use pactum_policy::{BUNDLED_POLICY, Policy, parse_policy};
use pactum_store::Backend;
use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;
use time::macros::datetime;

pub mod staff;

pub struct Server {
    pub base: String,
    pub smtp: pactum_testkit::SmtpServer,
    /// The server's clock; tests move it.
    pub clock: ManualClock,
    /// Creates a staff account the way `pactum admin create` does, and returns its setup link.
    pub invite: Invite,
    /// Runs the retention sweep for the clock's day, as `serve` does every hour.
    pub sweep: Sweep,
    _dir: tempfile::TempDir,
}

pub type Invite = Arc<dyn Fn(&str, Role) -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;
pub type Sweep = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub async fn serve<B: Backend>(backend: B, policy: Policy, dir: tempfile::TempDir) -> Server {
    serve_with(
        backend,
        policy,
        dir,
        pactum_web::WebOptions { consent_decisions_per_minute: 1000, ..Default::default() },
    )
    .await
}

pub async fn serve_with<B: Backend>(
    backend: B,
    policy: Policy,
    dir: tempfile::TempDir,
    options: pactum_web::WebOptions,
) -> Server {
    serve_with_settings(backend, policy, dir, options, pactum_core::Settings::default()).await
}

/// [`serve_with`] and the core settings given (cheap password hashing always).
pub async fn serve_with_settings<B: Backend>(
    backend: B,
    policy: Policy,
    dir: tempfile::TempDir,
    options: pactum_web::WebOptions,
    settings: pactum_core::Settings,
) -> Server {
    let ring = load(KeySource::File { path: dir.path().join("master.key"), may_create: true }).unwrap();
    let clock = ManualClock::at(datetime!(2026-11-25 10:00 UTC));
    // Bound first, so that links in mail and the payment provider's return address are this server's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings =
        pactum_core::Settings { password_cost: PasswordCost::CHEAP_FOR_TESTS, public_url: base.clone(), ..settings };
    let pactum = Pactum::start(backend, ring, policy, clock.clone(), settings).await.unwrap();
    pactum.import_catalogue(pactum_policy::EXAMPLE_CATALOGUE, "test").await.unwrap();
    let smtp = pactum_testkit::SmtpServer::start().await.unwrap();
    let mailer =
        pactum_core::mail::SmtpMailer::new(&pactum_core::mail::SmtpSettings::plain("127.0.0.1", smtp.port)).unwrap();
    tokio::spawn(pactum_core::mail::run_mail_worker(
        pactum.clone(),
        mailer,
        pactum.mail_ready.clone(),
        std::future::pending(),
    ));
    let inviter = pactum.clone();
    let invite: Invite = Arc::new(move |username: &str, role: Role| {
        let (pactum, username) = (inviter.clone(), username.to_string());
        Box::pin(async move { pactum.invite_staff("test", &username, role).await.unwrap().setup_url })
    });
    let sweeper = pactum.clone();
    let sweep: Sweep = Arc::new(move || {
        let pactum = sweeper.clone();
        Box::pin(async move {
            let today = pactum_core::Clock::today(&pactum.clock);
            pactum.run_retention(today, false).await.unwrap();
        })
    });
    let app = pactum_web::Application::with_listener(pactum, listener, options).unwrap();
    tokio::spawn(app.run_until(std::future::pending()));
    Server { base, smtp, clock, invite, sweep, _dir: dir }
}

pub async fn sqlite_server(policy: Policy) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("pactum.db").display())).await.unwrap();
    serve(backend, policy, dir).await
}

pub async fn postgres_server(policy: Policy) -> Option<Server> {
    Some(serve(fresh_postgres().await?, policy, tempfile::tempdir().unwrap()).await)
}

/// A PostgreSQL backend in a schema of its own; `None` where no server is configured.
pub async fn fresh_postgres() -> Option<PgBackend> {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return None;
    };
    let schema = format!("pactum_test_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    let mut conn = sqlx::ConnectOptions::connect(&admin).await.unwrap();
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).await.unwrap();
    Some(PgBackend::connect_with(admin.options([("search_path", schema.as_str())])).await.unwrap())
}

pub fn bundled() -> Policy {
    parse_policy("metier.toml", BUNDLED_POLICY).unwrap()
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The signed form token of the first form on a page.
pub fn hidden_form_token(html: &str) -> String {
    html.split("name=\"form_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

// "My data": ask for the mailed link, read it off the SMTP listener, open the portal with it.

pub async fn ask_for_link(server: &Server, email: &str) -> reqwest::Response {
    let page = no_redirects().get(format!("{}/mine-data", server.base)).send().await.unwrap().text().await.unwrap();
    no_redirects()
        .post(format!("{}/mine-data", server.base))
        .form(&[("form_token", hidden_form_token(&page).as_str()), ("email", email)])
        .send()
        .await
        .unwrap()
}

/// The path of the "My data" link in the newest mail.
pub async fn mailed_link(server: &Server, expected_total: usize) -> String {
    let mails = server.smtp.wait_for(expected_total, Duration::from_secs(5)).await;
    let body = mails.last().unwrap().body();
    let url = body.lines().find(|l| l.contains("/mine-data/adgang/")).unwrap_or_else(|| panic!("{body}")).trim();
    format!("/{}", url.split_once("://").unwrap().1.split_once('/').unwrap().1)
}

/// Opens the mailed link the way a person does (a button, then the portal) and returns its path.
pub async fn open(server: &Server, link: &str) -> String {
    let page = no_redirects().get(format!("{}{link}", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 200, "looking at the link does not use it up");
    let opened = no_redirects().post(format!("{}{link}", server.base)).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    opened.headers()["location"].to_str().unwrap().to_string()
}

/// Orders one seat on the first session of the bundled example's first course through the order
/// form, as a company whose contact is `buyer_email`; returns the answer page (the invoice).
pub async fn place_order(server: &Server, buyer_email: &str) -> String {
    let course = no_redirects().get(format!("{}/kurser/prince2-foundation", server.base)).send().await.unwrap();
    let html = course.text().await.unwrap();
    let path = html.split("href=\"").find(|s| s.contains("/bestil/")).unwrap().split('"').next().unwrap().to_string();
    let form = no_redirects().get(format!("{}{path}", server.base)).send().await.unwrap().text().await.unwrap();
    let fields = [
        ("form_token", hidden_form_token(&form)),
        ("notice_version", "2026.1".to_string()),
        ("seats", "1".to_string()),
        ("ordered_as", "company".to_string()),
        ("buyer_name", "Karin Kontakt".to_string()),
        ("buyer_email", buyer_email.to_string()),
        ("buyer_company", "Eksempel A/S".to_string()),
        ("buyer_address", "Vestergade 1, 8000 Aarhus C".to_string()),
        ("cvr", "12345678".to_string()),
        ("p1_name", "Anna Andersen".to_string()),
        ("p1_email", "anna@eksempel.dk".to_string()),
    ];
    let placed = no_redirects().post(format!("{}{path}", server.base)).form(&fields).send().await.unwrap();
    assert_eq!(placed.status(), StatusCode::CREATED);
    placed.text().await.unwrap()
}

#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend { $( #[tokio::test] async fn $name() { super::$name(super::sqlite_server(super::bundled()).await).await } )* }
        mod postgres_backend { $( #[tokio::test] async fn $name() { if let Some(s) = super::postgres_server(super::bundled()).await { super::$name(s).await } } )* }
    };
}
