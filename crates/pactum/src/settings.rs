//! Settings: command-line flags, then environment (`PACTUM_*`, `DATABASE_URL`), then an optional
//! TOML file (`--config`), then defaults, in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use pactum_core::keyfile::KeySource;
use serde::Deserialize;

/// Options every command that touches the database shares.
#[derive(Debug, Clone, Args, Default)]
pub struct StoreArgs {
    /// Directory for the SQLite database and the master key file [default: ./pactum-data]
    #[arg(long, env = "PACTUM_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… [default: sqlite://<data-dir>/pactum.db]
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Master key file [default: <data-dir>/master.key, created on first run]. PACTUM_MASTER_KEY may hold the key itself.
    #[arg(long, env = "PACTUM_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Policy file [default: the bundled example policy, policy/metier.toml]
    #[arg(long, env = "PACTUM_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Audit chain this node writes; give each node of a cluster its own [default: main]
    #[arg(long, env = "PACTUM_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// The address people reach Pactum at, used in links in mail [default: http://<listen>]
    #[arg(long, env = "PACTUM_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Sender address of Pactum's mail [default: the controller's e-mail address in the policy]
    #[arg(long, env = "PACTUM_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// SMTP server for outgoing mail; without one, mail is written as .eml files under <data-dir>/mail
    #[arg(long, env = "PACTUM_SMTP_HOST", value_name = "HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port [default: 587]
    #[arg(long, env = "PACTUM_SMTP_PORT", value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// SMTP connection security: none (a local relay only), starttls or tls [default: starttls]
    #[arg(long, env = "PACTUM_SMTP_SECURITY", value_name = "MODE")]
    pub smtp_security: Option<String>,
    /// Optional TOML settings file (keys: listen, tls_cert, tls_key, redirect_http, trusted_proxies,
    /// data_dir, database_url, master_key_file, policy, node, public_url, mail_from, smtp_host,
    /// smtp_port, smtp_security)
    #[arg(long, env = "PACTUM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Options of `serve` alone: where it listens and how requests reach it (TLS, proxies; P23).
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "PACTUM_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key
    #[arg(long, env = "PACTUM_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, env = "PACTUM_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Also listen for plain HTTP here, only to redirect every request to HTTPS (with --tls-cert)
    #[arg(long, env = "PACTUM_REDIRECT_HTTP", value_name = "ADDR")]
    pub redirect_http: Option<String>,
    /// A reverse proxy whose X-Forwarded-For and X-Forwarded-Proto are believed: an address or a
    /// network such as 10.0.0.0/8; repeat, or separate with commas
    #[arg(long = "trusted-proxy", env = "PACTUM_TRUSTED_PROXIES", value_name = "ADDR", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Card payments through Stripe Checkout: the API's address [default: https://api.stripe.com].
    /// Card payment is on when PACTUM_STRIPE_SECRET_KEY and PACTUM_STRIPE_WEBHOOK_SECRET are set.
    #[arg(long, env = "PACTUM_STRIPE_API_BASE", value_name = "URL")]
    pub stripe_api_base: Option<String>,
}

/// How requests reach `serve`.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Certificate chain and key files, when Pactum terminates TLS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The plain-HTTP listener that only redirects to HTTPS.
    pub redirect_http: Option<SocketAddr>,
    pub trusted_proxies: pactum_web::transport::TrustedProxies,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    redirect_http: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    policy: Option<PathBuf>,
    node: Option<String>,
    public_url: Option<String>,
    mail_from: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_security: Option<String>,
}

/// Resolved settings. `Debug` never prints the database URL, which may hold a password.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub transport: Transport,
    /// Card payments, when the provider's keys are in the environment.
    pub card_payments: Option<pactum_core::payments::StripeSettings>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub key_source: KeySource,
    pub policy: Option<PathBuf>,
    pub node: String,
    pub public_url: String,
    /// False when `public_url` is only the default, derived from the listen address.
    pub public_url_given: bool,
    pub mail_from: Option<String>,
    /// `None`: write mail as .eml files into `<data-dir>/mail`.
    pub smtp: Option<pactum_core::mail::SmtpSettings>,
    /// True when the data directory is the default one, which Pactum may create.
    pub default_data_dir: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("transport", &self.transport)
            .field("data_dir", &self.data_dir)
            .field("database_url", &"[redacted]")
            .field("policy", &self.policy)
            .field("node", &self.node)
            .field("public_url", &self.public_url)
            .field("smtp", &self.smtp)
            .field("card_payments", &self.card_payments)
            .finish()
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Settings {
    /// `serve` is given by the serve command only; other commands take its settings from the file.
    pub fn resolve(args: &StoreArgs, serve: Option<&ServeArgs>) -> anyhow::Result<Settings> {
        let serving = serve.is_some();
        let serve = serve.cloned().unwrap_or_default();
        let file = match &args.config {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read the settings file {}: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("the settings file {} is not valid: {e}", path.display()))?
            }
        };
        let listen_text = serve.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| {
            anyhow::anyhow!("--listen must be an address and port such as 127.0.0.1:8080, not `{listen_text}`")
        })?;
        let card_payments = card_payments(serve.stripe_api_base.clone())?;
        let transport =
            Transport::resolve(serve, file.tls_cert, file.tls_key, file.redirect_http, file.trusted_proxies)?;
        let scheme = if transport.tls.is_some() { "https" } else { "http" };
        let explicit_dir = args.data_dir.clone().or(file.data_dir);
        let default_data_dir = explicit_dir.is_none();
        let data_dir = explicit_dir.unwrap_or_else(|| PathBuf::from("./pactum-data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("pactum.db").display()));
        let key_source =
            match (std::env::var("PACTUM_MASTER_KEY").ok(), args.master_key_file.clone().or(file.master_key_file)) {
                (Some(inline), _) => KeySource::Inline(inline),
                (None, Some(path)) => KeySource::File { path, may_create: false },
                (None, None) => KeySource::File { path: data_dir.join("master.key"), may_create: true },
            };
        let given_url = args.public_url.clone().or(file.public_url);
        let public_url_given = given_url.is_some();
        // Not given to a command: where `serve` last said it is reached on this data directory
        // (links a command puts in mail must lead there); else, and for `serve`, the listen address.
        let public_url = given_url
            .or_else(|| if serving { None } else { served_at(&data_dir) })
            .unwrap_or_else(|| format!("{scheme}://{listen}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            anyhow::bail!("--public-url must start with http:// or https://, such as https://kurser.example.dk");
        }
        if transport.tls.is_some() && !public_url.starts_with("https://") {
            anyhow::bail!("--public-url must be an https:// address when Pactum serves TLS itself, not `{public_url}`");
        }
        let smtp = match args.smtp_host.clone().or(file.smtp_host) {
            None => None,
            Some(host) => {
                let security =
                    args.smtp_security.clone().or(file.smtp_security).unwrap_or_else(|| "starttls".to_string());
                if !["none", "starttls", "tls"].contains(&security.as_str()) {
                    anyhow::bail!("--smtp-security must be none, starttls or tls, not `{security}`");
                }
                Some(pactum_core::mail::SmtpSettings {
                    host,
                    port: args.smtp_port.or(file.smtp_port).unwrap_or(587),
                    security,
                    username: std::env::var("PACTUM_SMTP_USERNAME").ok(),
                    password: std::env::var("PACTUM_SMTP_PASSWORD").ok(),
                })
            }
        };
        Ok(Settings {
            card_payments,
            transport,
            public_url,
            public_url_given,
            mail_from: args.mail_from.clone().or(file.mail_from),
            smtp,
            listen,
            data_dir,
            database_url,
            key_source,
            policy: args.policy.clone().or(file.policy),
            node: args.node.clone().or(file.node).unwrap_or_else(|| pactum_core::DEFAULT_CHAIN.to_string()),
            default_data_dir,
        })
    }

    /// The settings the core runs with.
    pub fn core(&self) -> pactum_core::Settings {
        pactum_core::Settings {
            node: self.node.clone(),
            public_url: self.public_url.clone(),
            mail_from: self.mail_from.clone(),
            password_cost: pactum_core::staff::PasswordCost::RECOMMENDED,
            card_payments: self.card_payments.clone(),
            notify_secrets: pactum_core::NotifySecrets::default(),
        }
    }

    /// Creates the data directory (owner-only) when it is the default one and missing.
    pub fn ensure_data_dir(&self) -> anyhow::Result<()> {
        if self.data_dir.is_dir() {
            return Ok(());
        }
        if !self.default_data_dir {
            anyhow::bail!(
                "the data directory {} does not exist; create it, or leave --data-dir out to use ./pactum-data",
                self.data_dir.display()
            );
        }
        create_private_dir(&self.data_dir)
    }
}

impl Transport {
    fn resolve(
        flags: ServeArgs,
        file_cert: Option<PathBuf>,
        file_key: Option<PathBuf>,
        file_redirect: Option<String>,
        file_proxies: Vec<String>,
    ) -> anyhow::Result<Transport> {
        let tls = match (flags.tls_cert.or(file_cert), flags.tls_key.or(file_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both files, or neither for plain HTTP"),
        };
        let redirect_http = match flags.redirect_http.or(file_redirect) {
            None => None,
            Some(_) if tls.is_none() => anyhow::bail!(
                "--redirect-http redirects to Pactum's own HTTPS listener: give --tls-cert and --tls-key as well"
            ),
            Some(text) => Some(text.parse().map_err(|_| {
                anyhow::anyhow!("--redirect-http must be an address and port such as 0.0.0.0:80, not `{text}`")
            })?),
        };
        let proxies = if flags.trusted_proxies.is_empty() { file_proxies } else { flags.trusted_proxies };
        let trusted_proxies = pactum_web::transport::TrustedProxies::parse(&proxies)
            .map_err(|e| anyhow::anyhow!("--trusted-proxy: {e}"))?;
        Ok(Transport { tls, redirect_http, trusted_proxies })
    }
}

/// Stripe Checkout from the environment: both secrets, or neither (card payment off). The keys
/// come only from the environment, never from a flag, which other users could read in `ps`.
fn card_payments(api_base: Option<String>) -> anyhow::Result<Option<pactum_core::payments::StripeSettings>> {
    let secret = std::env::var("PACTUM_STRIPE_SECRET_KEY").ok().filter(|v| !v.trim().is_empty());
    let webhook = std::env::var("PACTUM_STRIPE_WEBHOOK_SECRET").ok().filter(|v| !v.trim().is_empty());
    match (secret, webhook) {
        (None, None) => Ok(None),
        (Some(secret), Some(webhook)) => {
            let api_base = api_base.unwrap_or_else(|| "https://api.stripe.com".to_string());
            if !(api_base.starts_with("https://")
                || api_base.starts_with("http://127.0.0.1")
                || api_base.starts_with("http://localhost"))
            {
                anyhow::bail!(
                    "--stripe-api-base must be an https:// address (plain http only on this machine), not `{api_base}`"
                );
            }
            Ok(Some(pactum_core::payments::StripeSettings {
                api_base,
                secret_key: secret.into(),
                webhook_secret: webhook.into(),
            }))
        }
        _ => anyhow::bail!(
            "card payment needs both PACTUM_STRIPE_SECRET_KEY and PACTUM_STRIPE_WEBHOOK_SECRET; set both, or neither to take payment by invoice only"
        ),
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))
}

/// The file in the data directory where `serve` notes the address people reach it at.
const SERVED_AT: &str = "public-url";

/// Notes in the data directory (when there is one) that `serve` is reached at `url`, so that a
/// command run later on the same data, without `--public-url`, puts the same address in the links
/// it mails (a newsletter's unsubscribe link, a staff member's setup link).
pub fn remember_served_at(data_dir: &Path, url: &str) {
    if !data_dir.is_dir() {
        return;
    }
    if let Err(e) = std::fs::write(data_dir.join(SERVED_AT), format!("{url}\n")) {
        tracing::warn!(error = %e, "could not note the public address in the data directory");
    }
}

/// The address `serve` noted in `data_dir`, if it is one.
fn served_at(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(SERVED_AT)).ok()?;
    let url = text.trim();
    let plausible = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then(|| url.to_string())
}
