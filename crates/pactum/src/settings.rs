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
    /// Optional TOML settings file (keys: listen, data_dir, database_url, master_key_file, policy, node)
    #[arg(long, env = "PACTUM_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    policy: Option<PathBuf>,
    node: Option<String>,
}

/// Resolved settings. `Debug` never prints the database URL, which may hold a password.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub key_source: KeySource,
    pub policy: Option<PathBuf>,
    pub node: String,
    /// True when the data directory is the default one, which Pactum may create.
    pub default_data_dir: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &"[redacted]")
            .field("policy", &self.policy)
            .field("node", &self.node)
            .finish()
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Settings {
    pub fn resolve(args: &StoreArgs, listen_flag: Option<&str>) -> anyhow::Result<Settings> {
        let file = match &args.config {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read the settings file {}: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("the settings file {} is not valid: {e}", path.display()))?
            }
        };
        let listen_text = listen_flag.map(str::to_string).or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| {
            anyhow::anyhow!("--listen must be an address and port such as 127.0.0.1:8080, not `{listen_text}`")
        })?;
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
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            key_source,
            policy: args.policy.clone().or(file.policy),
            node: args.node.clone().or(file.node).unwrap_or_else(|| pactum_core::DEFAULT_CHAIN.to_string()),
            default_data_dir,
        })
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
