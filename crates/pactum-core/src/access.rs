//! Getting into "My data" (L1): a person proves they control an address with a mailed link that
//! works once, for 30 minutes, and is stored only as a hash. Opening it gives a portal token, also
//! short-lived, that the portal pages carry in their address; no cookie is needed. Asking for a
//! link answers the same whether Pactum knows the address or not, so it reveals nothing.

use pactum_policy::Lang;
use pactum_store::{AccessLink, AuditEvent, Backend, Change, Op, StoreError, SubjectId};

use crate::mail::OutgoingMail;
use crate::newsletter::{new_token, token_hash};
use crate::values::{FieldError, Problem, parse_email};
use crate::{Clock, CoreError, Pactum};

/// How long the mailed link works.
pub const MAIL_LINK_MINUTES: i64 = 30;
/// How long a portal visit lasts once the link is opened.
pub const PORTAL_MINUTES: i64 = 30;

const MICROS_PER_MINUTE: i64 = 60_000_000;

/// The page a mailed link opens.
pub fn access_path(lang: Lang, token: &str) -> String {
    match lang {
        Lang::Da => format!("/mine-data/adgang/{token}"),
        Lang::En => format!("/en/my-data/access/{token}"),
    }
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Mails a link into "My data" when the address is known; does nothing visible otherwise.
    pub async fn request_access(&self, email: &str, lang: Lang) -> Result<(), CoreError> {
        let Some(address) = parse_email(email.trim()) else {
            return Err(CoreError::Invalid(vec![FieldError { field: "email".into(), problem: Problem::NotAnEmail }]));
        };
        let Some(subject) = self.find_subject_by_email(&address).await? else { return Ok(()) };
        let backend = self.store.backend();
        let Some(wrapped) = backend.subject_key(subject).await? else { return Ok(()) };
        let key = self.keys.subject_key(subject, &wrapped)?;
        let (token, hash) = new_token()?;
        let now = self.clock.now_micros();
        let link = AccessLink {
            hash,
            subject,
            kind: "mail".into(),
            expires_at: now + MAIL_LINK_MINUTES * MICROS_PER_MINUTE,
            used_at: None,
        };
        let mail = self.access_mail(&address, &token, lang);
        let ops = vec![Op::PutAccessLink(link), self.mail_op(subject, &key, "access_link", mail)?];
        let event = AuditEvent::new("subject", "access.request", Some(subject), serde_json::json!({}));
        self.store.commit(Change { at: now, ops, audit: vec![event] }).await?;
        self.mail_ready.notify_one();
        Ok(())
    }

    fn access_mail(&self, to: &str, token: &str, lang: Lang) -> OutgoingMail {
        let url = format!("{}{}", self.settings.public_url, access_path(lang, token));
        let controller = &self.policy.controller.name;
        let (subject, text) = match lang {
            Lang::Da => (
                format!("Se dine data hos {controller}"),
                format!(
                    "Hej\n\nDu har bedt om at se de oplysninger, {controller} har om dig.\n\nÅbn dette link:\n{url}\n\n\
                     Linket virker én gang og i {MAIL_LINK_MINUTES} minutter.\n\
                     Har du ikke selv bedt om det, kan du se bort fra denne mail; ingen får adgang uden linket.\n"
                ),
            ),
            Lang::En => (
                format!("See your data at {controller}"),
                format!(
                    "Hello\n\nYou asked to see the data {controller} holds about you.\n\nOpen this link:\n{url}\n\n\
                     The link works once, for {MAIL_LINK_MINUTES} minutes.\n\
                     If you did not ask for it, ignore this mail; nobody gets in without the link.\n"
                ),
            ),
        };
        OutgoingMail { to: to.to_string(), subject, text, headers: Vec::new() }
    }

    /// Uses up a mailed link and returns the portal token for this visit.
    pub async fn open_access(&self, token: &str) -> Result<String, CoreError> {
        let backend = self.store.backend();
        let link = backend
            .access_link(&token_hash(token))
            .await?
            .filter(|l| l.kind == "mail" && l.used_at.is_none())
            .ok_or(CoreError::InvalidLink)?;
        let now = self.clock.now_micros();
        if link.expires_at < now {
            return Err(CoreError::LinkExpired);
        }
        if backend.subject_key(link.subject).await?.is_none() {
            return Err(CoreError::InvalidLink);
        }
        let (portal, hash) = new_token()?;
        let ops = vec![
            Op::UseAccessLink { hash: link.hash, at: now },
            Op::PutAccessLink(AccessLink {
                hash,
                subject: link.subject,
                kind: "portal".into(),
                expires_at: now + PORTAL_MINUTES * MICROS_PER_MINUTE,
                used_at: None,
            }),
        ];
        let event = AuditEvent::new("subject", "access.open", Some(link.subject), serde_json::json!({}));
        match self.store.commit(Change { at: now, ops, audit: vec![event] }).await {
            Ok(()) => Ok(portal),
            Err(StoreError::Conflict(_)) => Err(CoreError::InvalidLink),
            Err(e) => Err(e.into()),
        }
    }

    /// The person a portal token belongs to, while the visit lasts and the person exists.
    pub async fn portal_subject(&self, portal: &str) -> Result<SubjectId, CoreError> {
        let backend = self.store.backend();
        let link = backend
            .access_link(&token_hash(portal))
            .await?
            .filter(|l| l.kind == "portal")
            .ok_or(CoreError::InvalidLink)?;
        if link.expires_at < self.clock.now_micros() {
            return Err(CoreError::LinkExpired);
        }
        if backend.subject_key(link.subject).await?.is_none() {
            return Err(CoreError::InvalidLink);
        }
        Ok(link.subject)
    }
}
