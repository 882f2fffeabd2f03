//! Opening the vault: the system keys wrapped in the database, unwrapped with the master key, and
//! master-key rotation.

use pactum_store::{Backend, Change, Op, Store, SubjectId, VaultKeyRecord, WrappedKey};
use pactum_vault::{AuditKey, BlindIndexKey, MasterKey, SubjectKey, SystemKey};

use crate::keyfile::{KeyError, KeyRing, KeySource, next_path, rotation_key_file, write_new_key_file};

const BLIND_INDEX: &str = "blind_index";
const AUDIT: &str = "audit";

/// Everything the running system needs from the vault.
pub struct Keys {
    pub ring: KeyRing,
    pub blind_index: BlindIndexKey,
    pub audit: AuditKey,
}

impl Keys {
    /// Unwraps a subject's key with whichever loaded master key wrapped it.
    pub fn subject_key(&self, subject: SubjectId, wrapped: &WrappedKey) -> Result<SubjectKey, KeyError> {
        let master = self.ring.by_id(&wrapped.master_key_id).ok_or_else(|| KeyError::Wrong {
            given: self.ring.active().map(|k| k.id().to_string()).unwrap_or_default(),
            needed: wrapped.master_key_id.clone(),
        })?;
        master.unwrap_subject_key(subject.as_bytes(), &wrapped.wrapped).map_err(|e| KeyError::Vault(e.to_string()))
    }

    /// Generates a subject key and wraps it under the active master key.
    pub fn new_subject_key(&self, subject: SubjectId) -> Result<(SubjectKey, WrappedKey), KeyError> {
        let master = self.ring.active().ok_or_else(|| KeyError::Vault("no master key is loaded".into()))?;
        let key = SubjectKey::generate().map_err(|e| KeyError::Vault(e.to_string()))?;
        let wrapped = master.wrap_subject_key(subject.as_bytes(), &key).map_err(|e| KeyError::Vault(e.to_string()))?;
        Ok((key, WrappedKey { master_key_id: master.id().to_string(), wrapped }))
    }
}

/// Opens the vault of `backend`. On the very first run (no keys stored, no key file) it creates
/// the master key file and the system keys; otherwise it only ever reads.
pub async fn open_vault<B: Backend>(backend: &B, mut ring: KeyRing) -> Result<Keys, KeyError> {
    let mut stored = backend.vault_keys().await?;
    if stored.is_empty() {
        if ring.active().is_none() {
            let KeySource::File { path, may_create: true } = &ring.source else {
                return Err(KeyError::Vault("no master key was given".into()));
            };
            let key = MasterKey::generate().map_err(|e| KeyError::Vault(e.to_string()))?;
            write_new_key_file(path, &key)?;
            tracing::info!(
                master_key_id = key.id(),
                "created a new master key file; back it up apart from the database"
            );
            ring.current = Some(key);
        }
        let master = ring.active().ok_or_else(|| KeyError::Vault("no master key is loaded".into()))?;
        let mut fresh = Vec::new();
        for name in [AUDIT, BLIND_INDEX] {
            let key = SystemKey::generate().map_err(|e| KeyError::Vault(e.to_string()))?;
            let wrapped = master.wrap_system_key(name, &key).map_err(|e| KeyError::Vault(e.to_string()))?;
            fresh.push(VaultKeyRecord {
                name: name.into(),
                key: WrappedKey { master_key_id: master.id().into(), wrapped },
            });
        }
        stored = backend.bootstrap_vault_keys(&fresh).await?;
    }
    let needed = stored.first().map(|k| k.key.master_key_id.clone()).unwrap_or_default();
    if ring.active().is_none() {
        return Err(KeyError::Missing { path: ring.describe_source(), needed });
    }
    let unwrap = |name: &str| -> Result<SystemKey, KeyError> {
        let record = stored
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| KeyError::Vault(format!("the database lacks its {name} key; restore it from a backup")))?;
        let master = ring.by_id(&record.key.master_key_id).ok_or_else(|| KeyError::Wrong {
            given: ring.active().map(|k| k.id().to_string()).unwrap_or_default(),
            needed: record.key.master_key_id.clone(),
        })?;
        master
            .unwrap_system_key(name, &record.key.wrapped)
            .map_err(|_| KeyError::Wrong { given: master.id().to_string(), needed: record.key.master_key_id.clone() })
    };
    let audit = AuditKey::new(unwrap(AUDIT)?);
    let blind_index = BlindIndexKey::new(unwrap(BLIND_INDEX)?);
    Ok(Keys { ring, blind_index, audit })
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub old_key_id: String,
    pub new_key_id: String,
    pub subject_keys_rewrapped: u64,
}

const ROTATION_PAGE: u32 = 1000;

/// Re-wraps every subject key and system key under a new master key, then makes it current.
///
/// The new key is written to `<file>.next` before anything is re-wrapped, and becomes the key file
/// only when all is done; an interrupted rotation resumes with the same new key.
pub async fn rotate_master_key<B: Backend>(
    store: &Store<B>,
    keys: &Keys,
    actor: &str,
    now: i64,
) -> Result<Rotation, KeyError> {
    let path = rotation_key_file(&keys.ring.source)?;
    let old = keys.ring.current.as_ref().ok_or_else(|| KeyError::Vault("no current master key is loaded".into()))?;
    let next_file = next_path(path);
    let generated;
    let new = match &keys.ring.next {
        Some(next) => next,
        None => {
            generated = MasterKey::generate().map_err(|e| KeyError::Vault(e.to_string()))?;
            write_new_key_file(&next_file, &generated)?;
            &generated
        }
    };
    let vault_err = |e: pactum_vault::VaultError| KeyError::Vault(e.to_string());
    let backend = store.backend();
    let mut count = 0u64;
    let mut after = None;
    loop {
        let page = backend.subject_keys_page(after, ROTATION_PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        let mut ops = Vec::new();
        for (subject, wrapped) in &page {
            if wrapped.master_key_id == new.id() {
                continue;
            }
            let key = keys.subject_key(*subject, wrapped)?;
            let rewrapped = new.wrap_subject_key(subject.as_bytes(), &key).map_err(vault_err)?;
            ops.push(Op::RewrapSubjectKey {
                subject: *subject,
                key: WrappedKey { master_key_id: new.id().into(), wrapped: rewrapped },
            });
        }
        count += ops.len() as u64;
        if !ops.is_empty() {
            store.commit(Change { at: now, ops, audit: vec![] }).await?;
        }
    }
    let mut ops = Vec::new();
    for record in backend.vault_keys().await? {
        let master = keys
            .ring
            .by_id(&record.key.master_key_id)
            .ok_or_else(|| KeyError::Wrong { given: old.id().into(), needed: record.key.master_key_id.clone() })?;
        let system = master.unwrap_system_key(&record.name, &record.key.wrapped).map_err(vault_err)?;
        let wrapped = new.wrap_system_key(&record.name, &system).map_err(vault_err)?;
        ops.push(Op::RewrapVaultKey(VaultKeyRecord {
            name: record.name,
            key: WrappedKey { master_key_id: new.id().into(), wrapped },
        }));
    }
    let event = pactum_store::AuditEvent::new(
        actor,
        "vault.rotate_master_key",
        None,
        serde_json::json!({"old_key_id": old.id(), "new_key_id": new.id(), "subject_keys": count}),
    );
    store.commit(Change { at: now, ops, audit: vec![event] }).await?;

    let retired = {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".retired-{}", old.id()));
        std::path::PathBuf::from(name)
    };
    let fail = |e: std::io::Error| KeyError::Unwritable { path: path.display().to_string(), reason: e.to_string() };
    std::fs::rename(path, &retired).map_err(fail)?;
    std::fs::rename(&next_file, path).map_err(fail)?;
    Ok(Rotation { old_key_id: old.id().into(), new_key_id: new.id().into(), subject_keys_rewrapped: count })
}
