//! Pactum's use cases, with no HTTP: generic over a storage [`Backend`] and a [`Clock`].
//!
//! - [`keyfile`] and [`keys`]: the master key and the vault's system keys.
//! - [`personal`]: collecting personal data for a purpose, retention, the subject report, erasure.
//! - [`values`]: parsing untrusted values by their category's kind.
//! - [`Pactum`]: the running system: store, policy, keys and clock together.

pub mod clock;
pub mod cookie_consent;
pub mod keyfile;
pub mod keys;
pub mod personal;
pub mod values;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
use pactum_policy::Policy;
use pactum_store::{AuditEvent, Backend, Change, Op, PolicyActivation, Store, StoreError};

use crate::keyfile::{KeyError, KeyRing};
use crate::keys::Keys;
use crate::values::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("the input is not valid")]
    Invalid(Vec<FieldError>),
    #[error("the policy has no purpose `{0}`")]
    UnknownPurpose(String),
    #[error("no such purpose instance for this subject")]
    UnknownInstance,
    #[error("the subject no longer exists")]
    SubjectGone,
    #[error("the cookie policy has changed since the banner was shown")]
    StaleCookieVersion,
    #[error("vault error: {0}")]
    Vault(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The running system. Cheap to clone.
pub struct Pactum<B: Backend, C: Clock> {
    pub store: Store<B>,
    pub policy: Arc<Policy>,
    pub keys: Arc<Keys>,
    pub clock: C,
}

impl<B: Backend, C: Clock> Clone for Pactum<B, C> {
    fn clone(&self) -> Self {
        Pactum {
            store: self.store.clone(),
            policy: self.policy.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// Which audit chain this node writes (one per node; see docs/operations.md).
pub const DEFAULT_CHAIN: &str = "main";

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Opens the vault, starts the writer and activates the policy.
    pub async fn start(
        backend: B,
        ring: KeyRing,
        policy: Policy,
        clock: C,
        chain: &str,
    ) -> Result<Pactum<B, C>, CoreError> {
        let keys = keys::open_vault(&backend, ring).await?;
        let store = Store::start(backend, keys.audit.clone(), chain).await?;
        let pactum = Pactum { store, policy: Arc::new(policy), keys: Arc::new(keys), clock };
        pactum.activate_policy().await?;
        Ok(pactum)
    }

    /// Records the loaded policy as active, with an audit entry, when it differs from the last one.
    async fn activate_policy(&self) -> Result<(), CoreError> {
        let latest = self.store.backend().latest_policy_activation().await?;
        if latest.as_ref().is_some_and(|a| a.source_digest == self.policy.source_digest) {
            return Ok(());
        }
        let now = self.clock.now_micros();
        let activation = PolicyActivation {
            version: self.policy.version.clone(),
            source_digest: self.policy.source_digest.clone(),
            cookie_version: self.policy.cookie_version.clone(),
            activated_at: now,
        };
        let event = AuditEvent::new(
            "system",
            "policy.activate",
            None,
            serde_json::json!({
                "version": self.policy.version,
                "source_digest": self.policy.source_digest,
                "cookie_version": self.policy.cookie_version,
                "previous_digest": latest.map(|a| a.source_digest),
            }),
        );
        self.store.commit(Change { at: now, ops: vec![Op::ActivatePolicy(activation)], audit: vec![event] }).await?;
        Ok(())
    }
}
