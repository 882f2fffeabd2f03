//! The newsletter: a separate, unticked opt-in confirmed by an e-mailed link (P07, L11, L12),
//! one-click unsubscribe (RFC 8058), and sending only to active consents (P05).
//!
//! A sign-up collects the data under the `newsletter` purpose, records a pending consent with the
//! exact text shown, and queues the confirmation mail, all in one transaction. Until confirmed the
//! purpose holds the data for [`CONFIRMATION_DAYS`] only. Withdrawal ends the purpose at once; its
//! retention rule (30 days in the bundled policy) then runs out.

use pactum_policy::{Lang, LegalBasis};
use pactum_store::{
    AuditEvent, Backend, Change, ConsentId, ConsentRecord, ConsentState, LinkToken, Op, StoredItem, SubjectId,
};
use pactum_vault::Binding;
use sha2::{Digest, Sha256};
use time::Date;

use crate::mail::OutgoingMail;
use crate::personal::Collection;
use crate::rights::RequestKind;
use crate::{Clock, CoreError, Pactum};

pub const PURPOSE: &str = "newsletter";

/// The outbox kind of newsletter mail.
pub const NEWSLETTER_MAIL: &str = "newsletter";
/// How long an unconfirmed sign-up is kept.
pub const CONFIRMATION_DAYS: i64 = 7;

#[derive(Debug, Clone)]
pub struct Subscription {
    pub email: String,
    pub name: Option<String>,
    pub interests: Option<String>,
    pub lang: Lang,
    /// `form:newsletter`, `form:course_enrolment`, `api`, …
    pub method: String,
    /// The policy version of the notice the person saw (P03).
    pub notice_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// A pending consent was recorded and the confirmation mail queued.
    ConfirmationSent { consent: ConsentId },
    /// The address already has an active subscription; nothing changed and no mail was sent.
    AlreadyActive,
    /// The sign-up this box came with was made before under the same key (see
    /// [`crate::repeats`]): whatever it asked for was done then, and nothing is done again.
    Repeated,
}

/// A purpose that goes on holding the person's data after a withdrawal, and why (P21, C6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub purpose: String,
    pub basis: String,
    pub retain_until: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub consent: ConsentId,
    /// False when the consent had already been withdrawn.
    pub newly: bool,
    /// The newsletter data is deleted after this day.
    pub retain_until: Option<Date>,
    pub kept: Vec<Kept>,
}

/// A fresh random link token (as sent) and its hash (as stored).
pub fn new_token() -> Result<(String, Vec<u8>), CoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| CoreError::Vault("the random number generator failed".into()))?;
    let token = hex_encode(&bytes);
    Ok((token.clone(), token_hash(&token)))
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Paths of the newsletter pages, per language.
pub fn confirm_path(lang: Lang, token: &str) -> String {
    match lang {
        Lang::Da => format!("/nyhedsbrev/bekraeft/{token}"),
        Lang::En => format!("/en/newsletter/confirm/{token}"),
    }
}

pub fn unsubscribe_path(lang: Lang, token: &str) -> String {
    match lang {
        Lang::Da => format!("/nyhedsbrev/afmeld/{token}"),
        Lang::En => format!("/en/newsletter/unsubscribe/{token}"),
    }
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Signs an address up: pending consent, confirmation mail, one transaction.
    pub async fn subscribe_newsletter(&self, sub: Subscription) -> Result<SubscribeOutcome, CoreError> {
        self.retried_if_raced(|| self.subscribe_newsletter_attempt(sub.clone())).await
    }

    /// One try of [`Self::subscribe_newsletter`].
    async fn subscribe_newsletter_attempt(&self, sub: Subscription) -> Result<SubscribeOutcome, CoreError> {
        if sub.notice_version != self.policy.version {
            return Err(CoreError::NoticeChanged);
        }
        let purpose = self.policy.purpose(PURPOSE).ok_or_else(|| CoreError::UnknownPurpose(PURPOSE.into()))?;
        let consent_text = match (&purpose.consent_text, purpose.basis) {
            (Some(text), LegalBasis::Consent) => text.get(sub.lang).to_string(),
            _ => return Err(CoreError::UnknownPurpose(PURPOSE.into())),
        };
        if let Some(subject) = self.find_subject_by_email(&sub.email).await?
            && self
                .store
                .backend()
                .consents_of(subject)
                .await?
                .iter()
                .any(|c| c.purpose == PURPOSE && c.state == ConsentState::Active)
        {
            return Ok(SubscribeOutcome::AlreadyActive);
        }
        let mut values = vec![("email".to_string(), sub.email.clone())];
        if let Some(name) = sub.name.as_ref().filter(|n| !n.trim().is_empty()) {
            values.push(("name".into(), name.clone()));
        }
        if let Some(interests) = sub.interests.as_ref().filter(|i| !i.trim().is_empty()) {
            values.push(("newsletter_interests".into(), interests.clone()));
        }
        let mut prepared = self
            .prepare_collection(Collection {
                purpose: PURPOSE.into(),
                values,
                source: sub.method.clone(),
                anchor_date: None,
                actor: "subject".into(),
            })
            .await?;
        let subject = prepared.collected.subject;
        let instance = prepared.collected.instance;
        let now = self.clock.now_micros();
        let confirm_by = self.clock.today() + time::Duration::days(CONFIRMATION_DAYS);
        for op in &mut prepared.change.ops {
            if let Op::StartPurpose(p) = op
                && p.id == instance
            {
                p.retain_until = Some(confirm_by);
            }
        }
        let consent = ConsentRecord {
            id: ConsentId::new(),
            subject,
            purpose: PURPOSE.into(),
            instance,
            state: ConsentState::Pending,
            lang: sub.lang.code().into(),
            policy_version: self.policy.version.clone(),
            text_hash: hex_encode(&Sha256::digest(consent_text.as_bytes())),
            text: consent_text,
            method: sub.method.clone(),
            requested_at: now,
            confirmed_at: None,
            withdrawn_at: None,
            withdraw_method: None,
        };
        let (confirm_token, confirm_hash) = new_token()?;
        let (unsubscribe_token, unsubscribe_hash) = new_token()?;
        let expires = now + CONFIRMATION_DAYS * 86_400_000_000;
        prepared.change.ops.push(Op::RecordConsent(consent.clone()));
        prepared.change.ops.push(Op::PutLinkToken(LinkToken {
            hash: confirm_hash,
            subject,
            consent: consent.id,
            kind: "confirm".into(),
            expires_at: Some(expires),
            used_at: None,
        }));
        prepared.change.ops.push(Op::PutLinkToken(LinkToken {
            hash: unsubscribe_hash,
            subject,
            consent: consent.id,
            kind: "unsubscribe".into(),
            expires_at: None,
            used_at: None,
        }));
        let mail = self.confirmation_mail(&sub, &confirm_token, &unsubscribe_token);
        prepared.change.ops.push(self.mail_op(subject, &prepared.key, "newsletter_confirmation", mail)?);
        prepared.change.audit.push(AuditEvent::new(
            "subject",
            "consent.request",
            Some(subject),
            serde_json::json!({
                "consent": consent.id.to_string(),
                "purpose": PURPOSE,
                "method": sub.method,
                "policy_version": consent.policy_version,
                "text_hash": consent.text_hash,
                "lang": consent.lang,
            }),
        ));
        self.store.commit(prepared.change).await?;
        self.mail_ready.notify_one();
        Ok(SubscribeOutcome::ConfirmationSent { consent: consent.id })
    }

    fn confirmation_mail(&self, sub: &Subscription, confirm: &str, unsubscribe: &str) -> OutgoingMail {
        let base = &self.settings.public_url;
        let confirm_url = format!("{base}{}", confirm_path(sub.lang, confirm));
        let unsubscribe_url = format!("{base}{}", unsubscribe_path(sub.lang, unsubscribe));
        let controller = &self.policy.controller.name;
        let (subject, text) = match sub.lang {
            Lang::Da => (
                "Bekræft din tilmelding til vores nyhedsmails".to_string(),
                format!(
                    "Hej\n\nTak for din tilmelding til nyhedsmails fra {controller}.\n\nBekræft den ved at åbne dette link:\n{confirm_url}\n\n\
                     Bekræfter du ikke inden for {CONFIRMATION_DAYS} dage, sletter vi din tilmelding.\n\
                     Har du ikke selv tilmeldt dig, kan du se bort fra denne mail.\n\nAfmeld: {unsubscribe_url}\n"
                ),
            ),
            Lang::En => (
                "Confirm your newsletter subscription".to_string(),
                format!(
                    "Hello\n\nThank you for signing up for newsletters from {controller}.\n\nConfirm it by opening this link:\n{confirm_url}\n\n\
                     If you do not confirm within {CONFIRMATION_DAYS} days, we delete your sign-up.\n\
                     If you did not sign up yourself, you can ignore this mail.\n\nUnsubscribe: {unsubscribe_url}\n"
                ),
            ),
        };
        OutgoingMail { to: sub.email.trim().to_string(), subject, text, headers: unsubscribe_headers(&unsubscribe_url) }
    }

    /// Confirms a pending consent from the e-mailed link. Using a link twice is harmless.
    pub async fn confirm_consent(&self, token: &str) -> Result<ConsentRecord, CoreError> {
        let backend = self.store.backend();
        let link = backend
            .link_token(&token_hash(token))
            .await?
            .filter(|t| t.kind == "confirm")
            .ok_or(CoreError::InvalidLink)?;
        let consent = backend.consent(link.consent).await?.ok_or(CoreError::InvalidLink)?;
        match consent.state {
            ConsentState::Active => return Ok(consent),
            ConsentState::Withdrawn => return Err(CoreError::InvalidLink),
            ConsentState::Pending => {}
        }
        let now = self.clock.now_micros();
        if link.expires_at.is_some_and(|e| now > e) {
            return Err(CoreError::LinkExpired);
        }
        // Signed up twice before confirming: one subscription, never two (one mail per newsletter,
        // and one click ends it). The spare pending one runs out with its confirmation period.
        if let Some(active) = backend
            .consents_of(consent.subject)
            .await?
            .into_iter()
            .find(|c| c.purpose == consent.purpose && c.state == ConsentState::Active)
        {
            return Ok(active);
        }
        let event = AuditEvent::new(
            "subject",
            "consent.grant",
            Some(consent.subject),
            serde_json::json!({"consent": consent.id.to_string(), "purpose": consent.purpose, "method": "double-opt-in link", "text_hash": consent.text_hash}),
        );
        let ops = vec![
            Op::ConfirmConsent { id: consent.id, at: now },
            Op::UseLinkToken { hash: link.hash, at: now },
            Op::ClearRetention { instance: consent.instance },
        ];
        self.store.commit(Change { at: now, ops, audit: vec![event] }).await?;
        backend.consent(consent.id).await?.ok_or(CoreError::InvalidLink)
    }

    /// Whether `token` is an unsubscribe link Pactum made, so that the page asking to confirm is
    /// shown only for a link that would work. Changes nothing.
    pub async fn unsubscribe_link_known(&self, token: &str) -> Result<bool, CoreError> {
        let link = self.store.backend().link_token(&token_hash(token)).await?;
        Ok(link.is_some_and(|t| t.kind == "unsubscribe"))
    }

    /// Withdraws the consent behind an unsubscribe link, at once (P21, L11), and with it every other
    /// newsletter consent of the same person, pending ones included: one click ends the
    /// newsletter, however often the person signed up. Idempotent.
    pub async fn unsubscribe(&self, token: &str, method: &str) -> Result<Withdrawal, CoreError> {
        let backend = self.store.backend();
        let link = backend
            .link_token(&token_hash(token))
            .await?
            .filter(|t| t.kind == "unsubscribe")
            .ok_or(CoreError::InvalidLink)?;
        let consent = backend.consent(link.consent).await?.ok_or(CoreError::InvalidLink)?;
        let others = backend
            .consents_of(consent.subject)
            .await?
            .into_iter()
            .filter(|c| c.id != consent.id && c.purpose == consent.purpose && c.state != ConsentState::Withdrawn);
        for other in others {
            self.withdraw_consent(other, method).await?;
        }
        // Last, so that what it reports as kept leaves out the newsletter consents just ended.
        self.withdraw_consent(consent, method).await
    }

    /// The consent `raw_id` names, when it is one of `subject`'s own; `None` for any other id.
    pub async fn own_consent(&self, subject: SubjectId, raw_id: &str) -> Result<Option<ConsentRecord>, CoreError> {
        let Ok(id) = uuid::Uuid::parse_str(raw_id).map(ConsentId) else { return Ok(None) };
        Ok(self.store.backend().consent(id).await?.filter(|c| c.subject == subject))
    }

    /// Withdraws a consent and ends the purpose it covers; lists what other purposes keep.
    pub async fn withdraw_consent(&self, consent: ConsentRecord, method: &str) -> Result<Withdrawal, CoreError> {
        let backend = self.store.backend();
        let newly = consent.state != ConsentState::Withdrawn;
        if newly {
            let now = self.clock.now_micros();
            let (end, end_event, _) =
                self.end_purpose_op(consent.subject, consent.instance, "withdrawal", "subject").await?;
            let event = AuditEvent::new(
                "subject",
                "consent.withdraw",
                Some(consent.subject),
                serde_json::json!({"consent": consent.id.to_string(), "purpose": consent.purpose, "method": method}),
            );
            // The unsubscribe link sits in a mail; the portal is the other way in.
            let channel = if matches!(method, "portal" | "objection") { "portal" } else { "email" };
            let (record, record_event) =
                self.self_service_record(consent.subject, RequestKind::Withdrawal, &consent.purpose, channel);
            let mut ops =
                vec![Op::WithdrawConsent { id: consent.id, at: now, method: method.to_string() }, end, record];
            if consent.purpose == PURPOSE {
                // A newsletter queued but not yet sent stops too (P21, P35).
                ops.push(Op::DeletePendingMail { subject: consent.subject, kind: NEWSLETTER_MAIL.into() });
            }
            self.store.commit(Change { at: now, ops, audit: vec![event, end_event, record_event] }).await?;
        }
        let today = self.clock.today();
        let purposes = backend.purposes_of(consent.subject).await?;
        let retain_until = purposes.iter().find(|p| p.id == consent.instance).and_then(|p| p.retain_until);
        let kept = purposes
            .iter()
            .filter(|p| p.id != consent.instance && p.is_live(today))
            .map(|p| Kept { purpose: p.purpose.clone(), basis: p.basis.clone(), retain_until: p.retain_until })
            .collect();
        Ok(Withdrawal { consent: consent.id, newly, retain_until, kept })
    }

    /// Queues a newsletter to every active subscription, and only to those (P05, P07, L11).
    /// With `interest`, only subscribers whose stated interests mention it are included.
    pub async fn send_newsletter(
        &self,
        subject_line: &str,
        text: &str,
        interest: Option<&str>,
    ) -> Result<usize, CoreError> {
        let backend = self.store.backend();
        let mut queued = 0;
        // One mail per person, even if an earlier version left two consents active.
        let mut mailed = std::collections::HashSet::new();
        for consent in backend.active_consents(PURPOSE).await? {
            if !mailed.insert(consent.subject) {
                continue;
            }
            // Restricted while an objection or dispute is open: stored, not used (L3, P35).
            if self.is_restricted(consent.subject).await? {
                continue;
            }
            let Some(wrapped) = backend.subject_key(consent.subject).await? else { continue };
            let key = self.keys.subject_key(consent.subject, &wrapped)?;
            let items = backend.items_of(consent.subject).await?;
            let open = |item: &StoredItem| -> Option<String> {
                let binding = Binding { table: "items", column: "value", row_id: item.id.as_bytes() };
                key.open(binding, &item.value).ok().map(|v| String::from_utf8_lossy(&v).into_owned())
            };
            let Some(email) = items.iter().filter(|i| i.category == "email").find_map(open) else { continue };
            if let Some(wanted) = interest {
                let interests: String =
                    items.iter().filter(|i| i.category == "newsletter_interests").filter_map(open).collect();
                if !interests.to_lowercase().contains(&wanted.to_lowercase()) {
                    continue;
                }
            }
            let lang = Lang::from_code(&consent.lang).unwrap_or(Lang::Da);
            let (unsubscribe_token, unsubscribe_hash) = new_token()?;
            let unsubscribe_url = format!("{}{}", self.settings.public_url, unsubscribe_path(lang, &unsubscribe_token));
            let footer = match lang {
                Lang::Da => format!(
                    "\n\n--\nDu får denne mail, fordi du har sagt ja til nyhedsmails. Afmeld med ét klik: {unsubscribe_url}\n"
                ),
                Lang::En => format!(
                    "\n\n--\nYou receive this mail because you agreed to newsletters. Unsubscribe in one click: {unsubscribe_url}\n"
                ),
            };
            let mail = OutgoingMail {
                to: email,
                subject: subject_line.to_string(),
                text: format!("{text}{footer}"),
                headers: unsubscribe_headers(&unsubscribe_url),
            };
            let now = self.clock.now_micros();
            let ops = vec![
                Op::PutLinkToken(LinkToken {
                    hash: unsubscribe_hash,
                    subject: consent.subject,
                    consent: consent.id,
                    kind: "unsubscribe".into(),
                    expires_at: None,
                    used_at: None,
                }),
                self.mail_op(consent.subject, &key, NEWSLETTER_MAIL, mail)?,
            ];
            let event = AuditEvent::new(
                "system",
                "newsletter.queue",
                Some(consent.subject),
                serde_json::json!({"consent": consent.id.to_string(), "interest_filter": interest.is_some()}),
            );
            self.store.commit(Change { at: now, ops, audit: vec![event] }).await?;
            queued += 1;
        }
        self.mail_ready.notify_one();
        Ok(queued)
    }
}

/// RFC 8058 one-click unsubscribe headers (L11).
pub fn unsubscribe_headers(url: &str) -> Vec<(&'static str, String)> {
    vec![("List-Unsubscribe", format!("<{url}>")), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_string())]
}
