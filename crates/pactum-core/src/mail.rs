//! Mail: the outbox and its delivery (DESIGN: Mail).
//!
//! A message is rendered and sealed under its subject's key when the business change that sends it
//! is committed, in the same transaction ([`Pactum::mail_op`]). A worker ([`deliver_due_mail`])
//! claims due messages under a lease, delivers them through a [`Mailer`] and records the outcome:
//! delivered content is dropped at once, failures are retried with exponential backoff and given up
//! after [`MAX_ATTEMPTS`]. Without an SMTP server, messages are written as `.eml` files instead.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use pactum_store::{AuditEvent, Backend, Change, MailId, MailStatus, Op, OutboxMail, SubjectId};
use pactum_vault::{Binding, SubjectKey};
use serde::{Deserialize, Serialize};

use crate::{Clock, CoreError, Pactum};

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: u32 = 8;
const LEASE: i64 = 120_000_000;

/// A message to send, before it is rendered.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Extra headers, e.g. `List-Unsubscribe` (L11).
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Serialize, Deserialize)]
struct SealedMail {
    from: String,
    to: String,
    message: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail server refused or failed: {0}")]
    Transport(String),
    #[error("the message could not be written: {0}")]
    Io(String),
}

/// Delivers one rendered message.
pub trait Mailer: Send + Sync + 'static {
    fn deliver(
        &self,
        id: MailId,
        from: &str,
        to: &str,
        message: &[u8],
    ) -> impl Future<Output = Result<(), MailError>> + Send;

    /// Deletes the copies of delivered messages this mailer keeps that were written before
    /// `before`; returns how many. A mailer that keeps none (SMTP) has nothing to do.
    fn prune(&self, before: std::time::SystemTime) -> impl Future<Output = Result<usize, MailError>> + Send {
        let _ = before;
        async { Ok(0) }
    }
}

/// Delivery over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// How to reach the SMTP server.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none` (plain, for a local relay), `starttls` or `tls`.
    pub security: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl SmtpSettings {
    /// A relay that takes mail in plain text and without a login, such as one on the same host.
    pub fn plain(host: &str, port: u16) -> SmtpSettings {
        SmtpSettings { host: host.into(), port, security: "none".into(), username: None, password: None }
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username.as_ref().map(|_| "[set]"))
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, MailError> {
        let builder = match settings.security.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                .map_err(|e| MailError::Transport(e.to_string()))?,
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| MailError::Transport(e.to_string()))?,
            other => {
                return Err(MailError::Transport(format!(
                    "unknown SMTP security `{other}`: use none, starttls or tls"
                )));
            }
        };
        let mut builder = builder.port(settings.port).timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpMailer { transport: builder.build() })
    }
}

impl Mailer for SmtpMailer {
    async fn deliver(&self, _id: MailId, from: &str, to: &str, message: &[u8]) -> Result<(), MailError> {
        let address = |a: &str| {
            a.parse::<lettre::Address>().map_err(|_| MailError::Transport("an envelope address is not valid".into()))
        };
        let envelope = lettre::address::Envelope::new(Some(address(from)?), vec![address(to)?])
            .map_err(|e| MailError::Transport(e.to_string()))?;
        self.transport.send_raw(&envelope, message).await.map(|_| ()).map_err(|e| MailError::Transport(e.to_string()))
    }
}

/// Writes each message as `<dir>/<id>.eml`: the default when no SMTP server is configured, so the
/// first run needs no mail server. The files hold personal data; they live in the private data
/// directory and are deleted [`EML_RETENTION_DAYS`] after they were written.
pub struct EmlDirectory {
    pub dir: PathBuf,
}

/// How long a message written to the `.eml` directory is kept: long enough to read it while
/// trying Pactum out, no longer. (Mail sent over SMTP keeps no copy: its sealed body is dropped
/// from the outbox once delivered, or once delivery is given up.)
pub const EML_RETENTION_DAYS: i64 = 7;

impl Mailer for EmlDirectory {
    async fn deliver(&self, id: MailId, _from: &str, _to: &str, message: &[u8]) -> Result<(), MailError> {
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| MailError::Io(e.to_string()))?;
        let path = self.dir.join(format!("{id}.eml"));
        tokio::fs::write(&path, message).await.map_err(|e| MailError::Io(e.to_string()))
    }

    async fn prune(&self, before: std::time::SystemTime) -> Result<usize, MailError> {
        let io = |e: std::io::Error| MailError::Io(e.to_string());
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(e)),
        };
        let mut deleted = 0;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("eml") {
                continue;
            }
            let written = entry.metadata().await.and_then(|m| m.modified()).map_err(io)?;
            if written < before {
                tokio::fs::remove_file(&path).await.map_err(io)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// Either mailer, chosen by the settings.
pub enum AnyMailer {
    Smtp(SmtpMailer),
    Eml(EmlDirectory),
}

impl Mailer for AnyMailer {
    async fn deliver(&self, id: MailId, from: &str, to: &str, message: &[u8]) -> Result<(), MailError> {
        match self {
            AnyMailer::Smtp(m) => m.deliver(id, from, to, message).await,
            AnyMailer::Eml(m) => m.deliver(id, from, to, message).await,
        }
    }

    async fn prune(&self, before: std::time::SystemTime) -> Result<usize, MailError> {
        match self {
            AnyMailer::Smtp(m) => m.prune(before).await,
            AnyMailer::Eml(m) => m.prune(before).await,
        }
    }
}

fn binding(id: &MailId) -> Binding<'_> {
    Binding { table: "outbox", column: "sealed", row_id: id.as_bytes() }
}

/// The wait before attempt `attempts + 1`: 30 s doubled per failure, at most an hour.
pub fn backoff_micros(attempts: u32) -> i64 {
    let seconds = 30i64.saturating_mul(1i64 << attempts.min(7)).min(3600);
    seconds * 1_000_000
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Renders a plain-text message to an organisation's address (a recipient, the provider's own
    /// privacy contact), sent straight through the mailer rather than the outbox: it is about no
    /// person's data beyond pseudonymous references, so nothing needs sealing.
    pub(crate) fn direct_message(&self, to: &str, subject: &str, text: String) -> Result<Vec<u8>, String> {
        let sender = self.settings.mail_from(&self.policy);
        let from = Mailbox::new(
            Some(self.policy.controller.name.clone()),
            sender.parse().map_err(|_| "the sender address is not valid")?,
        );
        let to: Mailbox = to.parse().map_err(|_| "the address to notify is not valid")?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|_| "the message could not be built")?;
        Ok(message.formatted())
    }

    /// Renders `mail` and returns the operation that enqueues it, sealed under the subject's key.
    /// Commit it in the same change as whatever the mail is about.
    pub fn mail_op(
        &self,
        subject: SubjectId,
        key: &SubjectKey,
        kind: &str,
        mail: OutgoingMail,
    ) -> Result<Op, CoreError> {
        let invalid = |what: &str| CoreError::Vault(format!("the message could not be built: {what}"));
        let sender = self.settings.mail_from(&self.policy);
        let from =
            Mailbox::new(Some(self.policy.controller.name.clone()), sender.parse().map_err(|_| invalid("sender"))?);
        let to: Mailbox = mail.to.parse().map_err(|_| invalid("recipient"))?;
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject)
            .message_id(None)
            .header(lettre::message::header::MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN);
        for (name, value) in mail.headers {
            builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(name), value));
        }
        let message = builder.body(mail.text).map_err(|_| invalid("body"))?;
        let id = MailId::new();
        let sealed = SealedMail { from: sender, to: mail.to, message: message.formatted() };
        let bytes = serde_json::to_vec(&sealed).map_err(|_| invalid("encoding"))?;
        let sealed = key.seal(binding(&id), &bytes).map_err(|e| CoreError::Vault(e.to_string()))?;
        let now = self.clock.now_micros();
        Ok(Op::EnqueueMail(OutboxMail {
            id,
            subject,
            kind: kind.to_string(),
            sealed,
            status: MailStatus::Pending,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            sent_at: None,
        }))
    }
}

/// What one pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRound {
    pub delivered: usize,
    pub failed: usize,
    pub given_up: usize,
}

/// Claims the messages due now and delivers them. Returns what happened.
pub async fn deliver_due_mail<B: Backend, C: Clock, M: Mailer>(
    pactum: &Pactum<B, C>,
    mailer: &M,
) -> Result<DeliveryRound, CoreError> {
    let backend = pactum.store.backend();
    let now = pactum.clock.now_micros();
    let mut round = DeliveryRound::default();
    for mail in backend.claim_mail(now, now + LEASE, 32).await? {
        let outcome = open_sealed(pactum, &mail).await;
        let result = match &outcome {
            Ok(sealed) => mailer.deliver(mail.id, &sealed.from, &sealed.to, &sealed.message).await,
            Err(e) => Err(MailError::Io(e.to_string())),
        };
        let at = pactum.clock.now_micros();
        let (op, action) = match result {
            Ok(()) => {
                round.delivered += 1;
                (Op::MailDelivered { id: mail.id, at }, "mail.delivered")
            }
            Err(e) => {
                let attempts = mail.attempts + 1;
                let give_up = attempts >= MAX_ATTEMPTS || outcome.is_err();
                tracing::warn!(mail = %mail.id, kind = %mail.kind, attempts, give_up, error = %e, "mail delivery failed");
                if give_up {
                    round.given_up += 1;
                } else {
                    round.failed += 1;
                }
                let op = Op::MailAttemptFailed {
                    id: mail.id,
                    attempts,
                    next_attempt_at: at + backoff_micros(attempts),
                    give_up,
                };
                (op, if give_up { "mail.given_up" } else { "mail.attempt_failed" })
            }
        };
        let event = AuditEvent::new(
            "system",
            action,
            Some(mail.subject),
            serde_json::json!({"mail": mail.id.to_string(), "kind": mail.kind}),
        );
        pactum.store.commit(Change { at, ops: vec![op], audit: vec![event] }).await?;
    }
    Ok(round)
}

async fn open_sealed<B: Backend, C: Clock>(pactum: &Pactum<B, C>, mail: &OutboxMail) -> Result<SealedMail, CoreError> {
    let wrapped = pactum.store.backend().subject_key(mail.subject).await?.ok_or(CoreError::SubjectGone)?;
    let key = pactum.keys.subject_key(mail.subject, &wrapped)?;
    let bytes = key.open(binding(&mail.id), &mail.sealed).map_err(|e| CoreError::Vault(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| CoreError::Vault(format!("a sealed message is unreadable: {e}")))
}

/// Runs delivery rounds of the outbox and of recipient notifications until `stop` resolves:
/// immediately when woken, else every few seconds.
pub async fn run_mail_worker<B: Backend, C: Clock, M: Mailer>(
    pactum: Pactum<B, C>,
    mailer: M,
    wake: std::sync::Arc<tokio::sync::Notify>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let http = crate::http_client::HttpsClient::new();
    if let Err(e) = &http {
        tracing::error!(error = %e, "no HTTPS client: recipient webhooks cannot be notified");
    }
    let mut reminded_on = None;
    loop {
        let today = pactum.clock.today();
        if reminded_on != Some(today) {
            // Once a day; a failure is logged and tried again tomorrow.
            reminded_on = Some(today);
            match pactum.remind_due_requests(&mailer).await {
                Ok(0) => {}
                Ok(due) => tracing::info!(due, "rights requests reminder sent"),
                Err(e) => tracing::error!(error = %e, "rights requests reminder failed"),
            }
            let cutoff = pactum.clock.now() - time::Duration::days(EML_RETENTION_DAYS);
            match mailer.prune(cutoff.into()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "kept mail copies past their retention deleted"),
                Err(e) => tracing::error!(error = %e, "deleting kept mail copies failed"),
            }
        }
        if let Ok(http) = &http {
            match crate::notifications::deliver_due_notifications(&pactum, &mailer, http).await {
                Ok(0) => {}
                Ok(delivered) => tracing::info!(delivered, "recipient notifications delivered"),
                Err(e) => tracing::error!(error = %e, "recipient notification round failed"),
            }
        }
        match deliver_due_mail(&pactum, &mailer).await {
            Ok(round) if round.delivered + round.failed + round.given_up > 0 => {
                tracing::info!(
                    delivered = round.delivered,
                    failed = round.failed,
                    given_up = round.given_up,
                    "mail delivery round"
                );
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "mail delivery round failed"),
        }
        tokio::select! {
            () = &mut stop => return,
            () = wake.notified() => {},
            () = tokio::time::sleep(Duration::from_secs(5)) => {},
        }
    }
}
