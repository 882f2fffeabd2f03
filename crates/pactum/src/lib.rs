//! The `pactum` binary's library: command-line interface, settings and the commands themselves.
//! `main.rs` only parses the command line and calls [`run`].

pub mod commands;
pub mod database;
pub mod settings;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pactum",
    version,
    about = "Pactum: sign-ups, orders and certifications that keep every promise of the privacy policy"
)]
pub struct Cli {
    /// Log format on standard error
    #[arg(long, env = "PACTUM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the website and API (creates the default data directory ./pactum-data, the database and the master key on first run)
    Serve {
        #[command(flatten)]
        serve: settings::ServeArgs,
        /// Cookie-consent decisions accepted per minute from one address
        #[arg(long, env = "PACTUM_CONSENT_RATE_LIMIT", value_name = "N", default_value_t = 120)]
        consent_rate_limit: u32,
        #[command(flatten)]
        store: settings::StoreArgs,
    },
    /// Create or upgrade the database schema, then exit
    Migrate {
        #[command(flatten)]
        store: settings::StoreArgs,
    },
    /// Work with policy files
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with the audit chain
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the course and event catalogue
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Send a newsletter to every active subscription
    Newsletter {
        #[command(subcommand)]
        command: NewsletterCommand,
    },
    /// Manage staff accounts
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Delete what no purpose holds any more (`serve` also does this every hour)
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Manage API tokens for websites and partners
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the master key
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file; prints every problem as file:line:col and exits non-zero if there is one
    Check { file: std::path::PathBuf },
    /// Print the privacy notice a policy file produces, as HTML
    Render {
        file: std::path::PathBuf,
        #[arg(long, value_enum, default_value_t = NoticeLang::Da)]
        lang: NoticeLang,
    },
    /// Print the record of processing activities (GDPR Art. 30) a policy file produces, as Markdown
    Ropa {
        file: std::path::PathBuf,
        #[arg(long, value_enum, default_value_t = NoticeLang::Da)]
        lang: NoticeLang,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NoticeLang {
    Da,
    En,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every audit chain; exits non-zero naming the first entry that was edited, removed or moved
    Verify {
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Add or update courses, sessions and events from a TOML file (see docs/catalogue-format.md)
    Import {
        file: std::path::PathBuf,
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum NewsletterCommand {
    /// Queue a plain-text newsletter to every confirmed subscriber (and only those); the running
    /// server's mail worker delivers it, each copy with its own one-click unsubscribe link
    Send {
        /// Subject line
        #[arg(long)]
        subject: String,
        /// File with the plain-text body
        #[arg(long, value_name = "FILE")]
        body: std::path::PathBuf,
        /// Only subscribers whose stated interests mention this word
        #[arg(long)]
        interest: Option<String>,
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a staff account and print its one-time setup link (for an account never set up,
    /// print a fresh link)
    Create {
        /// Login name: lower-case letters, digits and . _ - @
        #[arg(long)]
        username: String,
        #[arg(long, value_enum, default_value_t = StaffRole::Admin)]
        role: StaffRole,
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Run the retention sweep once and print what it deleted (or, with --dry-run, would delete)
    Run {
        /// The day to sweep as of, YYYY-MM-DD [default: today]; --dry-run with a later day is a forecast
        #[arg(long, value_name = "DATE")]
        now: Option<String>,
        /// Report only; delete nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a scoped API token and print it (the only time it is shown; Pactum keeps its hash)
    Create {
        /// Who uses it, e.g. the website
        #[arg(long)]
        name: String,
        /// What it may do (repeat for several): catalogue:write
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StaffRole {
    Admin,
    Coordinator,
    Instructor,
    Dpo,
}

impl From<StaffRole> for pactum_core::staff::Role {
    fn from(role: StaffRole) -> Self {
        use pactum_core::staff::Role;
        match role {
            StaffRole::Admin => Role::Admin,
            StaffRole::Coordinator => Role::Coordinator,
            StaffRole::Instructor => Role::Instructor,
            StaffRole::Dpo => Role::Dpo,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-wrap every subject key under a new master key and retire the old key file
    Rotate {
        #[command(flatten)]
        store: settings::StoreArgs,
    },
}

/// Exit status: 0 success, 1 a check failed (invalid policy, broken chain), 2 Pactum could not do its job.
pub async fn run(cli: Cli) -> i32 {
    commands::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve { serve, consent_rate_limit, store } => {
            let web = pactum_web::WebOptions {
                consent_decisions_per_minute: consent_rate_limit,
                ..pactum_web::WebOptions::default()
            };
            commands::serve(&store, &serve, web).await
        }
        Command::Migrate { store } => commands::migrate(&store).await,
        Command::Policy { command: PolicyCommand::Check { file } } => commands::policy_check(&file),
        Command::Policy { command: PolicyCommand::Render { file, lang } } => commands::policy_render(&file, lang),
        Command::Policy { command: PolicyCommand::Ropa { file, lang } } => commands::policy_ropa(&file, lang),
        Command::Audit { command: AuditCommand::Verify { store } } => commands::audit_verify(&store).await,
        Command::Admin { command: AdminCommand::Create { username, role, store } } => {
            commands::admin_create(&store, &username, role.into()).await
        }
        Command::Retention { command: RetentionCommand::Run { now, dry_run, store } } => {
            commands::retention_run(&store, now.as_deref(), dry_run).await
        }
        Command::Token { command: TokenCommand::Create { name, scopes, store } } => {
            commands::token_create(&store, &name, &scopes).await
        }
        Command::Key { command: KeyCommand::Rotate { store } } => commands::key_rotate(&store).await,
        Command::Catalogue { command: CatalogueCommand::Import { file, store } } => {
            commands::catalogue_import(&store, &file).await
        }
        Command::Newsletter { command: NewsletterCommand::Send { subject, body, interest, store } } => {
            commands::newsletter_send(&store, &subject, &body, interest.as_deref()).await
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}
