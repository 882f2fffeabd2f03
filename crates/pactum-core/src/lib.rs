//! Pactum's use cases, with no HTTP: generic over a storage [`Backend`] and a [`Clock`].
//!
//! - [`keyfile`] and [`keys`]: the master key and the vault's system keys.
//! - [`personal`]: collecting personal data for a purpose, retention, the subject report, erasure.
//! - [`values`]: parsing untrusted values by their category's kind.
//! - [`Pactum`]: the running system: store, policy, keys and clock together.

pub mod access;
pub mod api_tokens;
pub mod catalogue;
pub mod certification;
pub mod clock;
pub mod cookie_consent;
pub mod disclosure;
pub mod enrolment;
pub mod http_client;
pub mod incidents;
pub mod keyfile;
pub mod keys;
pub mod mail;
pub mod newsletter;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod personal;
pub mod portability;
pub mod rate_limit;
pub mod rectification;
pub mod repeats;
pub mod retention_sweep;
pub mod rights;
pub mod roster;
pub mod running;
pub mod staff;
pub mod ubl;
pub mod values;
pub mod waiting;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
use pactum_policy::Policy;
use pactum_store::{AuditEvent, Backend, Change, Op, PolicyActivation, Store, StoreError, SubjectId, Uuid};

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
    #[error("the privacy notice has changed since the form was shown")]
    NoticeChanged,
    #[error("the link is not valid")]
    InvalidLink,
    #[error("the link has expired")]
    LinkExpired,
    #[error("the catalogue is not valid: {}", .0.join("; "))]
    Catalogue(Vec<String>),
    #[error("there are no seats left")]
    Full,
    #[error("no such course session or event")]
    UnknownActivity,
    #[error("no such participant on this session")]
    UnknownParticipant,
    #[error("this participant has not chosen certification, or has objected to it")]
    CertificationNotChosen,
    #[error("no such message; messages are deleted when the course ends")]
    UnknownMessage,
    #[error("that e-mail address is already used by someone else")]
    EmailTaken,
    #[error("no such rights request")]
    UnknownRequest,
    #[error("this action is not for a request of this kind")]
    WrongRequestKind,
    #[error("this request is closed already")]
    RequestClosed,
    #[error("this request can no longer be extended: only once, and only within its first month")]
    NotExtendable,
    #[error("no such staff account")]
    UnknownStaff,
    #[error("this role may not do that")]
    Forbidden,
    #[error("the order changed meanwhile; read it again and retry")]
    Conflict,
    #[error("the card payment failed: {0}")]
    Payment(String),
    #[error(transparent)]
    Refused(#[from] disclosure::Refusal),
    #[error("a background task stopped before it finished")]
    TaskFailed,
    #[error("this request's key was used for another request")]
    KeyReused,
    #[error("another retention sweep is running; this one did not start")]
    SweepRunning,
    #[error(
        "{count} Pactum server(s) are running against this database (on {nodes}), and a server must not run while the \
         master key is rotated. Stop every server, then run `pactum key rotate` again; nothing was changed. A server \
         that was killed counts as running until its registration runs out at {} UTC",
        clock::clock_text(*until)
    )]
    ServersRunning { count: usize, nodes: String, until: pactum_store::Micros },
    #[error(
        "the master key is being rotated (`pactum key rotate`), and neither a server nor a second rotation may run \
         until that has finished. If the rotation was interrupted, run `pactum key rotate` again after {} UTC to \
         finish it",
        clock::clock_text(*until)
    )]
    RotationRunning { until: pactum_store::Micros },
    #[error(
        "the master key was rotated since this process read its key file: it must not go on with the old key. \
         Start it again, so that it reads the new one"
    )]
    MasterKeyChanged,
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
    pub settings: Arc<Settings>,
    /// Wakes the mail worker when a change enqueued mail.
    pub mail_ready: Arc<tokio::sync::Notify>,
    catalogue_cache: Arc<catalogue::CatalogueCache>,
    /// The card payment provider, when one is configured.
    pub payments: Option<Arc<payments::CardPayments>>,
    /// Mails telling someone they were signed up again: one per person and activity an hour, so
    /// that a form sent over and over does not flood anyone's inbox.
    repeat_mails: Arc<rate_limit::RateLimiter<(SubjectId, Uuid)>>,
}

impl<B: Backend, C: Clock> Clone for Pactum<B, C> {
    fn clone(&self) -> Self {
        Pactum {
            store: self.store.clone(),
            policy: self.policy.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            mail_ready: self.mail_ready.clone(),
            catalogue_cache: self.catalogue_cache.clone(),
            payments: self.payments.clone(),
            repeat_mails: self.repeat_mails.clone(),
        }
    }
}

/// Which audit chain a node writes unless told otherwise (one per node; see docs/operations.md).
pub const DEFAULT_CHAIN: &str = "main";

/// Settings of the running system that are not part of the policy.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The audit chain this node writes.
    pub node: String,
    /// The address people reach Pactum at, for links in mail (no trailing slash).
    pub public_url: String,
    /// The sender address of Pactum's mail; the controller's e-mail address when not set.
    pub mail_from: Option<String>,
    /// The cost of hashing staff passwords.
    pub password_cost: staff::PasswordCost,
    /// The card payment provider; without one, orders are paid by invoice only.
    pub card_payments: Option<payments::StripeSettings>,
    /// The keys that sign recipients' notification webhooks, by the environment variable the
    /// policy names for each (L4).
    pub notify_secrets: NotifySecrets,
}

/// Webhook signing keys by environment variable name; never printed.
#[derive(Clone, Default)]
pub struct NotifySecrets(pub std::collections::BTreeMap<String, String>);

impl NotifySecrets {
    pub fn get(&self, env: &str) -> Option<&str> {
        self.0.get(env).map(String::as_str)
    }
}

impl std::fmt::Debug for NotifySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys().map(|k| format!("{k}=[redacted]"))).finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node: DEFAULT_CHAIN.to_string(),
            public_url: "http://127.0.0.1:8080".to_string(),
            mail_from: None,
            password_cost: staff::PasswordCost::RECOMMENDED,
            card_payments: None,
            notify_secrets: NotifySecrets::default(),
        }
    }
}

impl Settings {
    pub fn mail_from(&self, policy: &Policy) -> String {
        self.mail_from.clone().unwrap_or_else(|| policy.controller.email.clone())
    }
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Opens the vault, starts the writer and activates the policy.
    pub async fn start(
        backend: B,
        ring: KeyRing,
        policy: Policy,
        clock: C,
        settings: Settings,
    ) -> Result<Pactum<B, C>, CoreError> {
        let keys = keys::open_vault(&backend, ring).await?;
        let store = Store::start(backend, keys.audit.clone(), &settings.node).await?;
        let payments = match &settings.card_payments {
            Some(stripe) => Some(payments::CardPayments::Stripe(
                payments::StripeCheckout::new(stripe.clone()).map_err(|e| CoreError::Payment(e.to_string()))?,
            )),
            None => None,
        };
        let pactum = Pactum {
            payments: payments.map(Arc::new),
            store,
            policy: Arc::new(policy),
            keys: Arc::new(keys),
            clock,
            settings: Arc::new(settings),
            mail_ready: Arc::new(tokio::sync::Notify::new()),
            catalogue_cache: Arc::default(),
            repeat_mails: Arc::new(rate_limit::RateLimiter::per_window(1, std::time::Duration::from_secs(3600))),
        };
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
