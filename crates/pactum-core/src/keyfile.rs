//! Where the master key comes from, and the rules that keep it from being lost or replaced.
//!
//! The master key lives outside the database: in a file (default `<data-dir>/master.key`, mode
//! 0600) or in the `PACTUM_MASTER_KEY` environment variable. It is generated only on the very
//! first run, when the database holds no keys yet. A missing, unreadable or wrong key stops
//! start-up with a message that says what to do; Pactum never overwrites a key or re-encrypts data
//! to get past one.
//!
//! During a rotation the new key waits in `<file>.next` until every wrapped key has moved to it;
//! both are loaded meanwhile, so an interrupted rotation loses nothing and can be resumed.

use std::io::Write;
use std::path::{Path, PathBuf};

use pactum_vault::MasterKey;

/// Where to find the master key.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file. `may_create` is true for the default path only: an explicitly named file must exist.
    File { path: PathBuf, may_create: bool },
    /// The key itself, hex-encoded, from the environment.
    Inline(String),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cannot read the master key file {path}: {reason}. Check that it exists and that Pactum's user may read it"
    )]
    Unreadable { path: String, reason: String },
    #[error(
        "the master key in {origin} is not valid: it must be 64 hexadecimal characters. Restore the original key from your key backup"
    )]
    Malformed { origin: String },
    #[error(
        "the master key file {path} is missing, but this database is encrypted under master key {needed}. \
         Restore the key file from your key backup (or set PACTUM_MASTER_KEY). Pactum will not create a new key, because the existing data could never be read again"
    )]
    Missing { path: String, needed: String },
    #[error(
        "the master key {given} does not match this database, which is encrypted under master key {needed}. \
         Use the key file that belongs to this database; nothing was changed"
    )]
    Wrong { given: String, needed: String },
    #[error("cannot write the master key file {path}: {reason}")]
    Unwritable { path: String, reason: String },
    #[error(
        "rotation needs a key file: with PACTUM_MASTER_KEY, put the key in a file and pass --master-key-file; nothing was changed"
    )]
    RotationNeedsKeyFile,
    #[error("the vault could not be opened: {0}")]
    Vault(String),
    #[error("{0}")]
    Store(#[from] pactum_store::StoreError),
}

/// The master keys available: the current one, and during a rotation the next one too.
pub struct KeyRing {
    pub current: Option<MasterKey>,
    pub next: Option<MasterKey>,
    pub source: KeySource,
}

impl KeyRing {
    /// The key with this id, if loaded.
    pub fn by_id(&self, id: &str) -> Option<&MasterKey> {
        self.current.iter().chain(self.next.iter()).find(|k| k.id() == id)
    }

    /// The key new data is wrapped under: the next key while a rotation is under way.
    pub fn active(&self) -> Option<&MasterKey> {
        self.next.as_ref().or(self.current.as_ref())
    }

    pub fn describe_source(&self) -> String {
        match &self.source {
            KeySource::File { path, .. } => path.display().to_string(),
            KeySource::Inline(_) => "PACTUM_MASTER_KEY".to_string(),
        }
    }
}

/// The key file a rotation replaces: rotation needs one, a key from the environment cannot be.
pub fn rotation_key_file(source: &KeySource) -> Result<&Path, KeyError> {
    match source {
        KeySource::File { path, .. } => Ok(path),
        KeySource::Inline(_) => Err(KeyError::RotationNeedsKeyFile),
    }
}

pub fn next_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

fn read_key_file(path: &Path) -> Result<Option<MasterKey>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            MasterKey::decode(&text).map(Some).map_err(|_| KeyError::Malformed { origin: path.display().to_string() })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Unreadable { path: path.display().to_string(), reason: e.to_string() }),
    }
}

/// Loads whatever master keys the source holds, without creating any.
pub fn load(source: KeySource) -> Result<KeyRing, KeyError> {
    match &source {
        KeySource::Inline(text) => {
            let key =
                MasterKey::decode(text).map_err(|_| KeyError::Malformed { origin: "PACTUM_MASTER_KEY".into() })?;
            Ok(KeyRing { current: Some(key), next: None, source })
        }
        KeySource::File { path, may_create } => {
            let current = read_key_file(path)?;
            if current.is_none() && !may_create {
                return Err(KeyError::Unreadable {
                    path: path.display().to_string(),
                    reason: "the file does not exist".into(),
                });
            }
            let next = read_key_file(&next_path(path))?;
            Ok(KeyRing { current, next, source })
        }
    }
}

/// Writes a new key file that only its owner can read; refuses to replace an existing file.
pub fn write_new_key_file(path: &Path, key: &MasterKey) -> Result<(), KeyError> {
    let fail = |e: std::io::Error| KeyError::Unwritable { path: path.display().to_string(), reason: e.to_string() };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(key.encode().as_bytes()).map_err(fail)?;
    file.write_all(b"\n").map_err(fail)?;
    file.sync_all().map_err(fail)?;
    // The new directory entry must be durable too, or a crash could lose the file.
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}
