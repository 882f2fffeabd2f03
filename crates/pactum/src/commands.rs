//! The commands behind the command line.

use std::io::IsTerminal;
use std::path::Path;

use pactum_core::api_tokens::Scope;
use pactum_core::keyfile::{KeySource, load};
use pactum_core::keys::{open_vault, rotate_master_key};
use pactum_core::staff::Role;
use pactum_core::{Clock, CoreError, Pactum, SystemClock};
use pactum_policy::{BUNDLED_POLICY, BUNDLED_POLICY_NAME, Lang, Policy, parse_policy};
use pactum_store::Backend;
use pactum_store::audit::{VerifyError, verify};
use tracing_subscriber::EnvFilter;

use crate::settings::{ServeArgs, Settings, StoreArgs};
use crate::{LogFormat, NoticeLang, database, with_backend};

pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("PACTUM_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn read_policy_file(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read the policy file {}: {e}", file.display()))
}

/// The policy to run: the given file, or the bundled example.
fn load_policy(settings: &Settings) -> anyhow::Result<Policy> {
    let (name, text) = match &settings.policy {
        Some(path) => (path.display().to_string(), read_policy_file(path)?),
        None => (BUNDLED_POLICY_NAME.to_string(), BUNDLED_POLICY.to_string()),
    };
    parse_policy(&name, &text)
        .map_err(|errors| anyhow::anyhow!("the policy is not valid, so Pactum will not start:\n{errors}"))
}

pub fn policy_check(file: &Path) -> anyhow::Result<i32> {
    let text = read_policy_file(file)?;
    match parse_policy(&file.display().to_string(), &text) {
        Ok(p) => {
            println!(
                "{}: valid policy, version {} ({} categories, {} purposes, {} recipients, {} cookies)",
                file.display(),
                p.version,
                p.categories.len(),
                p.purposes.len(),
                p.recipients.len(),
                p.cookies.len()
            );
            Ok(0)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(1)
        }
    }
}

/// A policy file parsed, or `None` when it has errors (printed to stderr).
fn parsed_policy(file: &Path) -> anyhow::Result<Option<Policy>> {
    let text = read_policy_file(file)?;
    match parse_policy(&file.display().to_string(), &text) {
        Ok(p) => Ok(Some(p)),
        Err(errors) => {
            eprintln!("{errors}");
            Ok(None)
        }
    }
}

fn lang_of(lang: NoticeLang) -> Lang {
    match lang {
        NoticeLang::Da => Lang::Da,
        NoticeLang::En => Lang::En,
    }
}

pub fn policy_render(file: &Path, lang: NoticeLang) -> anyhow::Result<i32> {
    let Some(policy) = parsed_policy(file)? else { return Ok(1) };
    println!("{}", pactum_web::notice::render(&policy, lang_of(lang))?);
    Ok(0)
}

/// The Art. 30 record of a policy file (L7). The disclosures actually made are on /admin/ropa.
pub fn policy_ropa(file: &Path, lang: NoticeLang) -> anyhow::Result<i32> {
    let Some(policy) = parsed_policy(file)? else { return Ok(1) };
    let lang = lang_of(lang);
    print!("{}", pactum_policy::ropa::record(&policy, lang).to_markdown(lang));
    Ok(0)
}

async fn open(settings: &Settings) -> anyhow::Result<database::AnyBackend> {
    if database::scheme(&settings.database_url)? == database::Scheme::Sqlite {
        settings.ensure_data_dir()?;
    }
    database::connect(&settings.database_url).await
}

pub async fn serve(args: &StoreArgs, serve: &ServeArgs, mut web: pactum_web::WebOptions) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, Some(serve))?;
    // Before anything is created: a certificate that cannot be used stops the start.
    if let Some((cert, key)) = &settings.transport.tls {
        web.tls = Some(pactum_web::transport::tls_config(cert, key)?);
    }
    web.trusted_proxies = settings.transport.trusted_proxies.clone();
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| serve_on(b, &settings, policy, web).await)
}

async fn bind(address: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await.map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

/// Says loudly when people may reach Pactum over plain HTTP, with what to do about it (P23).
fn warn_about_plain_http(settings: &Settings, tls: bool, public_url: &str) {
    if tls {
        return;
    }
    let proxies = !settings.transport.trusted_proxies.is_empty();
    if !proxies && !settings.listen.ip().is_loopback() {
        tracing::warn!(
            "Pactum serves plain HTTP on a public address, with no TLS and no trusted proxy: card payments, \
             sign-in and personal data would cross the network unencrypted, and staff session cookies go \
             without the Secure flag. Give --tls-cert and --tls-key, or put a TLS-terminating proxy in front \
             with --trusted-proxy and an https:// --public-url (docs/operations.md)"
        );
    } else if proxies && public_url.starts_with("http://") {
        tracing::warn!(
            "A trusted proxy is configured but --public-url is a plain http:// address: links in mail and \
             session cookies assume plain HTTP. Set --public-url to the proxy's https:// address"
        );
    }
}

async fn serve_on<B: Backend>(
    backend: B,
    settings: &Settings,
    policy: Policy,
    web: pactum_web::WebOptions,
) -> anyhow::Result<i32> {
    let transport = &settings.transport;
    // Bind first: with port 0 the address, and so the default public URL, is known only now.
    let listener = bind(settings.listen).await?;
    let redirect_listener = match transport.redirect_http {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let mut core = settings.core();
    if !settings.public_url_given {
        core.public_url = format!("{scheme}://{}", listener.local_addr()?);
    }
    crate::settings::remember_served_at(&settings.data_dir, &core.public_url);
    core.notify_secrets = notify_secrets(&policy);
    let ring = load(settings.key_source.clone())?;
    let pactum = Pactum::start(backend, ring, policy, SystemClock, core).await?;
    // Before anything else is written: not while the master key is being rotated. However the
    // server then stops (a start that fails half-way too), it gives its registration up.
    let registration = pactum.register_server().await?;
    let served = serve_registered(pactum.clone(), &registration, settings, web, (listener, redirect_listener)).await;
    if let Err(e) = pactum.unregister_server(&registration).await {
        tracing::warn!(error = %e, "this server's registration was not given up; it runs out within two minutes");
    }
    served
}

/// `serve` once the server is registered (see [`pactum_core::running`]).
async fn serve_registered<B: Backend>(
    pactum: Pactum<B, SystemClock>,
    registration: &pactum_core::running::ServerRegistration,
    settings: &Settings,
    web: pactum_web::WebOptions,
    (listener, redirect_listener): (tokio::net::TcpListener, Option<tokio::net::TcpListener>),
) -> anyhow::Result<i32> {
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let version = pactum.policy.version.clone();
    if settings.policy.is_none()
        && let Some(summary) = pactum.seed_example_catalogue(pactum_policy::EXAMPLE_CATALOGUE).await?
    {
        tracing::info!(
            courses = summary.courses,
            events = summary.events,
            "loaded the example catalogue for the bundled policy"
        );
    }
    let mailer = match &settings.smtp {
        Some(smtp) => pactum_core::mail::AnyMailer::Smtp(pactum_core::mail::SmtpMailer::new(smtp)?),
        None => {
            let dir = settings.data_dir.join("mail");
            tracing::info!(dir = %dir.display(), "no SMTP server configured; outgoing mail is written as .eml files");
            pactum_core::mail::AnyMailer::Eml(pactum_core::mail::EmlDirectory { dir })
        }
    };
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(pactum_core::mail::run_mail_worker(
        pactum.clone(),
        mailer,
        pactum.mail_ready.clone(),
        async move {
            let mut stopped = worker_stopped;
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    let first_admin = if pactum.store.backend().staff_accounts().await?.is_empty() {
        Some(pactum.invite_staff("system", FIRST_ADMIN, Role::Admin).await?)
    } else {
        None
    };
    warn_about_plain_http(settings, web.tls.is_some(), &pactum.settings.public_url);
    if let Some(stripe) = &settings.card_payments {
        tracing::info!(
            api = %stripe.api_base,
            webhook = %format!("{}/payments/stripe/webhook", pactum.settings.public_url),
            "card payment through Stripe Checkout is on"
        );
    }
    let sweeper = tokio::spawn(run_retention_schedule(pactum.clone(), {
        let mut stopped = stop_worker.subscribe();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }));
    // A registration that may not go on (a rotation started while it had lapsed) stops the server.
    let (must_stop, stopped_by_registration) = tokio::sync::oneshot::channel();
    let registered = tokio::spawn(keep_registered(pactum.clone(), registration.clone(), must_stop, {
        let mut stopped = stop_worker.subscribe();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }));
    let public_url = pactum.settings.public_url.clone();
    let app = pactum_web::Application::with_listener(pactum.clone(), listener, web)
        .map_err(|e| anyhow::anyhow!("cannot start the web server: {e}"))?;
    let address = app.local_addr()?;
    tracing::info!(%address, tls = app.serves_tls(), policy_version = %version, "Pactum is serving");
    let mut banner =
        format!("Pactum is serving on {scheme}://{address} (privacy notice: {scheme}://{address}/privatliv)\n");
    let (stop_redirect, redirect_stopped) = tokio::sync::watch::channel(false);
    let redirect = redirect_listener.map(|listener| {
        if let Ok(plain) = listener.local_addr() {
            banner.push_str(&format!("Plain HTTP on http://{plain} redirects to {public_url}\n"));
        }
        let public_url = public_url.clone();
        tokio::spawn(async move {
            let mut stopped = redirect_stopped;
            let stop = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            pactum_web::transport::serve_https_redirect(listener, &public_url, stop).await
        })
    });
    if let Some(invitation) = first_admin {
        banner.push_str(&format!(
            "Set up the first admin account `{FIRST_ADMIN}` within 72 hours: {}\n",
            invitation.setup_url
        ));
    }
    // One write, so that a reader that stops after the first line cannot break the second.
    print!("{banner}");
    let (stop_reason, reason) = tokio::sync::oneshot::channel::<CoreError>();
    app.run_until(async move {
        tokio::select! {
            () = shutdown_signal() => {}
            Ok(e) = stopped_by_registration => {
                let _ = stop_reason.send(e);
            }
        }
    })
    .await?;
    let _ = stop_redirect.send(true);
    if let Some(redirect) = redirect {
        let _ = redirect.await;
    }
    let _ = stop_worker.send(true);
    let _ = worker.await;
    let _ = sweeper.await;
    let _ = registered.await;
    if let Ok(e) = reason.await {
        return Err(anyhow::anyhow!("Pactum stopped: {e}"));
    }
    tracing::info!("Pactum stopped");
    Ok(0)
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// The configured master key; `may_create` only where a command may start a fresh database.
fn key_source(settings: &Settings, may_create: bool) -> KeySource {
    match &settings.key_source {
        KeySource::File { path, .. } => KeySource::File { path: path.clone(), may_create },
        inline => inline.clone(),
    }
}

pub async fn migrate(args: &StoreArgs) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, None)?;
    open(&settings).await?;
    println!("the database schema is up to date");
    Ok(0)
}

pub async fn audit_verify(args: &StoreArgs) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, None)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| verify_on(b, &settings).await)
}

async fn verify_on<B: Backend>(backend: B, settings: &Settings) -> anyhow::Result<i32> {
    if backend.vault_keys().await?.is_empty() {
        println!("the database holds no audit entries yet");
        return Ok(0);
    }
    let source = key_source(settings, false);
    let keys = open_vault(&backend, load(source)?).await?;
    match verify(&backend, &keys.audit).await {
        Ok(chains) => {
            for c in &chains {
                println!("audit chain `{}`: {} entries verified", c.chain, c.entries);
            }
            if chains.is_empty() {
                println!("the database holds no audit entries yet");
            }
            Ok(0)
        }
        Err(VerifyError::Broken(b)) => {
            eprintln!("{b}");
            Ok(1)
        }
        Err(VerifyError::Store(e)) => Err(e.into()),
    }
}

pub async fn key_rotate(args: &StoreArgs) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, None)?;
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| rotate_on(b, &settings, policy).await)
}

async fn rotate_on<B: Backend>(backend: B, settings: &Settings, policy: Policy) -> anyhow::Result<i32> {
    let source = key_source(settings, false);
    // Told before anything else is checked: no waiting for servers to stop, to learn this after.
    if let Err(e) = pactum_core::keyfile::rotation_key_file(&source) {
        eprintln!("{e}");
        return Ok(1);
    }
    let pactum = Pactum::start(backend, load(source)?, policy, SystemClock, settings.core()).await?;
    let lease = match pactum.begin_key_rotation().await {
        Ok(lease) => lease,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    // The lease is renewed while the keys are re-wrapped, and given up however the rotation ends.
    let renewing = tokio::spawn({
        let (pactum, lease) = (pactum.clone(), lease.clone());
        async move {
            let mut every = tokio::time::interval(pactum_core::running::ROTATION_RENEWAL);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = pactum.renew_key_rotation(&lease).await {
                    tracing::warn!(error = %e, "the rotation's lease was not renewed; it is tried again shortly");
                }
            }
        }
    });
    let rotated = rotate_master_key(&pactum.store, &pactum.keys, "admin:cli", pactum.clock.now_micros()).await;
    renewing.abort();
    if let Err(e) = pactum.end_key_rotation(&lease).await {
        tracing::warn!(error = %e, "the rotation's lease was not given up; servers may start when it runs out");
    }
    let rotation = rotated?;
    println!(
        "master key rotated: {} subject keys re-wrapped from key {} to key {}; the old key file was kept as master.key.retired-{}",
        rotation.subject_keys_rewrapped, rotation.old_key_id, rotation.new_key_id, rotation.old_key_id
    );
    Ok(0)
}

pub async fn catalogue_import(args: &StoreArgs, file: &Path) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, None)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read the catalogue file {}: {e}", file.display()))?;
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| import_on(b, &settings, policy, &text, file).await)
}

async fn import_on<B: Backend>(
    backend: B,
    settings: &Settings,
    policy: Policy,
    text: &str,
    file: &Path,
) -> anyhow::Result<i32> {
    let source = key_source(settings, true);
    let pactum = Pactum::start(backend, load(source)?, policy, SystemClock, settings.core()).await?;
    match pactum.import_catalogue(text, "admin:cli").await {
        Ok(s) => {
            println!(
                "{}: imported {} courses, {} sessions and {} events",
                file.display(),
                s.courses,
                s.sessions,
                s.events
            );
            Ok(0)
        }
        Err(pactum_core::CoreError::Catalogue(errors)) => {
            for e in errors {
                eprintln!("{}: error: {e}", file.display());
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn newsletter_send(
    args: &StoreArgs,
    subject: &str,
    body: &Path,
    interest: Option<&str>,
) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, None)?;
    let text = std::fs::read_to_string(body)
        .map_err(|e| anyhow::anyhow!("cannot read the newsletter body {}: {e}", body.display()))?;
    if subject.trim().is_empty() || text.trim().is_empty() {
        anyhow::bail!("a newsletter needs a subject and a body");
    }
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| newsletter_on(b, &settings, policy, subject, &text, interest).await)
}

async fn newsletter_on<B: Backend>(
    backend: B,
    settings: &Settings,
    policy: Policy,
    subject: &str,
    text: &str,
    interest: Option<&str>,
) -> anyhow::Result<i32> {
    let source = key_source(settings, false);
    let pactum = Pactum::start(backend, load(source)?, policy, SystemClock, settings.core()).await?;
    let queued = pactum.send_newsletter(subject, text, interest).await?;
    println!("queued {queued} newsletter mails; the running server delivers them");
    Ok(0)
}

/// The username of the admin account offered on the first start.
const FIRST_ADMIN: &str = "admin";

pub async fn admin_create(args: &StoreArgs, username: &str, role: Role) -> anyhow::Result<i32> {
    let settings = Settings::resolve(args, None)?;
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| admin_create_on(b, &settings, policy, username, role).await)
}

async fn admin_create_on<B: Backend>(
    backend: B,
    settings: &Settings,
    policy: Policy,
    username: &str,
    role: Role,
) -> anyhow::Result<i32> {
    let pactum =
        Pactum::start(backend, load(key_source(settings, true))?, policy, SystemClock, settings.core()).await?;
    match pactum.invite_staff("admin:cli", username, role).await {
        Ok(invitation) => {
            println!(
                "created the {} account `{}`; open this one-time link within 72 hours to choose a password and \
                 set up the authenticator app:\n{}",
                role.key(),
                username.trim().to_lowercase(),
                invitation.setup_url
            );
            Ok(0)
        }
        Err(pactum_core::CoreError::Invalid(problems)) => {
            for p in problems {
                eprintln!("error: {}", p.message(pactum_policy::Lang::En));
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn token_create(args: &StoreArgs, name: &str, scopes: &[String]) -> anyhow::Result<i32> {
    let mut parsed = Vec::new();
    for key in scopes {
        let Some(scope) = Scope::from_key(key) else {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.key()).collect();
            eprintln!("error: unknown scope `{key}`; choose from: {}", known.join(", "));
            return Ok(1);
        };
        parsed.push(scope);
    }
    let settings = Settings::resolve(args, None)?;
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| token_create_on(b, &settings, policy, name, &parsed).await)
}

async fn token_create_on<B: Backend>(
    backend: B,
    settings: &Settings,
    policy: Policy,
    name: &str,
    scopes: &[Scope],
) -> anyhow::Result<i32> {
    let pactum =
        Pactum::start(backend, load(key_source(settings, true))?, policy, SystemClock, settings.core()).await?;
    match pactum.create_api_token("admin:cli", name, scopes).await {
        Ok((token, secret)) => {
            eprintln!("issued the API token `{}` ({}); it is shown only now:", token.name, token.scopes);
            println!("{secret}");
            Ok(0)
        }
        Err(pactum_core::CoreError::Invalid(problems)) => {
            for p in problems {
                eprintln!("error: {}", p.message(pactum_policy::Lang::En));
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn retention_run(args: &StoreArgs, now: Option<&str>, dry_run: bool) -> anyhow::Result<i32> {
    let today = match now {
        Some(text) => match pactum_store::date_from_text(text.trim()) {
            Some(date) => date,
            None => {
                eprintln!("error: --now must be a date such as 2027-04-15, not `{text}`");
                return Ok(1);
            }
        },
        None => SystemClock.today(),
    };
    let settings = Settings::resolve(args, None)?;
    let policy = load_policy(&settings)?;
    let backend = open(&settings).await?;
    with_backend!(backend, |b| retention_on(b, &settings, policy, today, dry_run).await)
}

async fn retention_on<B: Backend>(
    backend: B,
    settings: &Settings,
    policy: Policy,
    today: time::Date,
    dry_run: bool,
) -> anyhow::Result<i32> {
    let pactum =
        Pactum::start(backend, load(key_source(settings, false))?, policy, SystemClock, settings.core()).await?;
    // The bar is for a person watching; a log or a pipe gets the summary only.
    let watching = std::io::stderr().is_terminal();
    let swept = pactum
        .run_retention_with_progress(today, dry_run, |so_far| {
            if watching {
                eprint!("\r{}", sweep_progress_bar(so_far));
            }
        })
        .await;
    let report = match swept {
        Err(CoreError::SweepRunning) => {
            eprintln!(
                "error: another retention sweep is running (in `pactum serve` or another `pactum retention run`), \
                 so this one did not start. The running sweep deletes what is due; run this again once it has \
                 finished, or add --dry-run to see what is due."
            );
            return Ok(1);
        }
        other => other?,
    };
    if watching {
        eprintln!();
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    println!(
        "retention as of {}: {verb} {} personal values; {} subjects {}",
        pactum_store::date_to_text(today),
        report.items_deleted,
        report.subjects_erased,
        if dry_run { "would be erased completely" } else { "erased completely" }
    );
    for (purpose, count) in &report.purposes_ended {
        println!("  {purpose}: {count} ended");
    }
    for (class, count) in &report.records_deleted {
        println!("  {class}: {count} {}", if dry_run { "would be deleted" } else { "deleted, each with a proof" });
    }
    for swept in &report.subjects {
        println!("  {swept}");
    }
    for record in &report.records {
        println!("  {record}");
    }
    Ok(0)
}

/// One line of `pactum retention run`'s progress bar: `[#####-----]  50 %  250 of 500 people`.
pub fn sweep_progress_bar(so_far: pactum_core::retention_sweep::SweepProgress) -> String {
    const WIDTH: u64 = 30;
    let (done, total) = (so_far.people, so_far.total.max(so_far.people));
    // Nothing due counts as done.
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let filled = usize::try_from(filled).unwrap_or(0);
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH as usize - filled));
    format!("[{bar}] {percent:>3} %  {done} of {total} people")
}

/// The keys of the recipients' notification webhooks, from the environment variables the policy
/// names. A missing one is reported now; its notifications wait in the DPO's log until it is set.
fn notify_secrets(policy: &Policy) -> pactum_core::NotifySecrets {
    let mut secrets = std::collections::BTreeMap::new();
    for recipient in &policy.recipients {
        if let Some(pactum_policy::Notify::Webhook { secret_env, .. }) = &recipient.notify {
            match std::env::var(secret_env) {
                Ok(secret) if !secret.is_empty() => {
                    secrets.insert(secret_env.clone(), secret);
                }
                _ => tracing::warn!(
                    recipient = %recipient.key,
                    variable = %secret_env,
                    "the webhook key of a recipient is not set; set the environment variable and restart, \
                     or its Art. 19 notifications cannot be delivered"
                ),
            }
        }
    }
    pactum_core::NotifySecrets(secrets)
}

/// Renews the server's registration (see [`pactum_core::running`]) until `stop`; tells `must_stop`
/// when the server may not go on.
async fn keep_registered<B: Backend, C: Clock>(
    pactum: Pactum<B, C>,
    registration: pactum_core::running::ServerRegistration,
    must_stop: tokio::sync::oneshot::Sender<CoreError>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(pactum_core::running::SERVER_RENEWAL);
    every.tick().await;
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => match pactum.renew_server_registration(&registration).await {
                Ok(()) => {}
                Err(e @ (CoreError::RotationRunning { .. } | CoreError::MasterKeyChanged)) => {
                    tracing::error!(error = %e, "this server stops");
                    let _ = must_stop.send(e);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "this server's registration was not renewed; it is tried again shortly");
                }
            },
        }
    }
}

/// How often `serve` runs the retention sweep.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Runs the retention sweep at start and then every hour (on the node holding the lease), until `stop`.
async fn run_retention_schedule<B: Backend, C: Clock>(
    pactum: Pactum<B, C>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(RETENTION_EVERY);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {
                // On several nodes only the one holding the lease sweeps this hour.
                let result = match pactum.take_lease("retention", 55).await {
                    Ok(true) => pactum.run_retention(pactum.clock.today(), false).await.map(|_| ()),
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => {}
                    Err(CoreError::SweepRunning) => {
                        tracing::info!("another process is running the retention sweep; this node's runs next hour")
                    }
                    Err(e) => tracing::error!(error = %e, "the retention sweep failed; it runs again within the hour"),
                }
                if let Err(e) = pactum.forget_expired_requests().await {
                    tracing::error!(error = %e, "kept request outcomes were not forgotten; tried again within the hour");
                }
                if let Err(e) = pactum.store.backend().maintain().await {
                    tracing::error!(error = %e, "storage upkeep failed; it runs again within the hour");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pactum_core::retention_sweep::SweepProgress;

    use super::sweep_progress_bar;

    #[test]
    fn the_sweep_progress_bar_fills_with_the_people_visited() {
        assert_eq!(
            sweep_progress_bar(SweepProgress { people: 0, total: 500 }),
            "[------------------------------]   0 %  0 of 500 people"
        );
        assert_eq!(
            sweep_progress_bar(SweepProgress { people: 250, total: 500 }),
            "[###############---------------]  50 %  250 of 500 people"
        );
        assert_eq!(
            sweep_progress_bar(SweepProgress { people: 500, total: 500 }),
            "[##############################] 100 %  500 of 500 people"
        );
        // Nothing due: done at once. More visited than counted (people became due meanwhile): full.
        assert!(sweep_progress_bar(SweepProgress { people: 0, total: 0 }).contains("100 %  0 of 0 people"));
        assert!(sweep_progress_bar(SweepProgress { people: 600, total: 500 }).contains("100 %  600 of 600 people"));
    }
}
