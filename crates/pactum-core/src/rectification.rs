//! Rectification by the person (GDPR Art. 16, P25, P32, L4): edits to their own data in "My data",
//! checked like any form value, effective at once; a new e-mail address is used only once a link
//! mailed to it has been followed. Each change is recorded as a closed rights request naming the
//! categories changed (never the values): that is the change history the access report shows.
//! Every recipient that received a changed category is told (Art. 19).

use pactum_policy::{FieldKind, Lang};
use pactum_store::{AuditEvent, Change, ItemId, Op, PurposeInstance, StoreError, StoredItem, SubjectId};
use pactum_vault::{Binding, SubjectKey};

use crate::mail::OutgoingMail;
use crate::personal::item_binding;
use crate::rights::RequestKind;
use crate::values::{FieldError, Problem, parse_email, parse_value};
use crate::{Backend, Clock, CoreError, Pactum};

/// How long the link that confirms a new e-mail address works.
pub const EMAIL_CHANGE_HOURS: i64 = 24;

const TOKEN_DOMAIN: &str = "email_change";

/// The source of a value the person corrected themself.
const SOURCE: &str = "rectification:subject";

/// What a person asked to change, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rectification {
    /// The categories whose value changed now.
    pub changed: Vec<String>,
    /// A new e-mail address waiting for its link to be followed.
    pub email_pending: Option<String>,
}

/// The path of the link that confirms a new e-mail address.
pub fn email_change_path(lang: Lang, token: &str) -> String {
    match lang {
        Lang::Da => format!("/mine-data/ny-email/{token}"),
        Lang::En => format!("/en/my-data/new-email/{token}"),
    }
}

fn address_binding(subject: &SubjectId) -> Binding<'_> {
    Binding { table: "email_change", column: "address", row_id: subject.as_bytes() }
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// The categories a person may correct themself: what they gave in a form (names, phone,
    /// address, company, free text), not what Pactum records (participation, consent records).
    pub fn self_editable(&self, category: &str) -> bool {
        self.policy.category(category).is_some_and(|c| {
            matches!(
                c.kind,
                FieldKind::Name | FieldKind::Phone | FieldKind::Address | FieldKind::Company | FieldKind::Text
            )
        })
    }

    /// Applies a person's own corrections: `values` are (category, new value) pairs for categories
    /// they hold and may edit, plus perhaps `email`, which is mailed a confirmation link instead.
    /// Every value is checked first; nothing changes when one is wrong.
    pub async fn rectify(
        &self,
        subject: SubjectId,
        values: &[(String, String)],
        lang: Lang,
    ) -> Result<Rectification, CoreError> {
        let backend = self.store.backend();
        let wrapped = backend.subject_key(subject).await?.ok_or(CoreError::SubjectGone)?;
        let key = self.keys.subject_key(subject, &wrapped)?;
        let mut items = backend.items_of(subject).await?;
        items.sort_by_key(|i| std::cmp::Reverse(i.collected_at));
        let current = |category: &str| -> Option<(&StoredItem, String)> {
            let item = items.iter().find(|i| i.category == category)?;
            let value = key.open(item_binding(&item.id), &item.value).ok()?;
            Some((item, String::from_utf8_lossy(&value).into_owned()))
        };
        let mut errors = Vec::new();
        let mut changes: Vec<(String, String, Vec<ItemId>)> = Vec::new();
        let mut new_email = None;
        for (category, raw) in values {
            let Some(definition) = self.policy.category(category) else {
                errors.push(FieldError::undeclared(category));
                continue;
            };
            let Some((_, old)) = current(category) else {
                errors.push(FieldError::undeclared(category));
                continue;
            };
            if category == "email" {
                match parse_email(raw.trim()) {
                    Some(address) if !address.eq_ignore_ascii_case(&old) => new_email = Some(address),
                    Some(_) => {}
                    None => errors.push(FieldError { field: category.clone(), problem: Problem::NotAnEmail }),
                }
                continue;
            }
            if !self.self_editable(category) {
                errors.push(FieldError::undeclared(category));
                continue;
            }
            match parse_value(definition, raw) {
                Ok(value) if value != old => {
                    let replaced = items.iter().filter(|i| i.category == *category).map(|i| i.id).collect();
                    changes.push((category.clone(), value, replaced));
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let mut outcome = Rectification { changed: Vec::new(), email_pending: None };
        if !changes.is_empty() {
            let purposes = backend.purposes_of(subject).await?;
            let replacements: Vec<(&str, &str, &[ItemId])> =
                changes.iter().map(|(c, v, replaced)| (c.as_str(), v.as_str(), replaced.as_slice())).collect();
            let ops = self.replacement_ops(subject, &key, &purposes, &replacements)?;
            let categories: Vec<String> = changes.iter().map(|(c, _, _)| c.clone()).collect();
            self.commit_rectification(subject, &categories, ops).await?;
            outcome.changed = categories;
        }
        if let Some(address) = new_email {
            let (old_item, _) = current("email").ok_or(CoreError::SubjectGone)?;
            let token = self.email_change_token(subject, &key, old_item.id, &address)?;
            let url = format!("{}{}", self.settings.public_url, email_change_path(lang, &token));
            let mail = self.email_change_mail(&address, &url, lang);
            let ops = vec![self.mail_op(subject, &key, "email_change", mail)?];
            let event =
                AuditEvent::new("subject", "subject.email_change_requested", Some(subject), serde_json::json!({}));
            self.store.commit(Change { at: self.clock.now_micros(), ops, audit: vec![event] }).await?;
            self.mail_ready.notify_one();
            outcome.email_pending = Some(address);
        }
        Ok(outcome)
    }

    /// Follows the link mailed to a new address: from now on it is the person's address, found by
    /// it and written to. The old address is told. A link whose address was changed meanwhile, or
    /// that is older than [`EMAIL_CHANGE_HOURS`], does nothing.
    pub async fn confirm_email_change(&self, token: &str) -> Result<(), CoreError> {
        let (subject, replaced, sealed) = self.read_email_change_token(token)?;
        let backend = self.store.backend();
        let wrapped = backend.subject_key(subject).await?.ok_or(CoreError::InvalidLink)?;
        let key = self.keys.subject_key(subject, &wrapped)?;
        let items = backend.items_of(subject).await?;
        let Some(old) = items.iter().find(|i| i.id == replaced) else { return Err(CoreError::InvalidLink) };
        let old_address = key
            .open(item_binding(&old.id), &old.value)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .map_err(|_| CoreError::InvalidLink)?;
        let address = key
            .open(address_binding(&subject), &sealed)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .map_err(|_| CoreError::InvalidLink)?;
        let replaced: Vec<ItemId> = items.iter().filter(|i| i.category == "email").map(|i| i.id).collect();
        let purposes = backend.purposes_of(subject).await?;
        let mut ops = self.replacement_ops(subject, &key, &purposes, &[("email", &address, &replaced)])?;
        ops.push(Op::SetEmailIndex { subject, email_index: self.keys.blind_index.email(&address) });
        ops.push(self.mail_op(subject, &key, "email_change", self.email_changed_mail(&old_address))?);
        match self.commit_rectification(subject, &["email".to_string()], ops).await {
            Ok(()) => Ok(()),
            Err(CoreError::Store(StoreError::Conflict(_))) => Err(CoreError::EmailTaken),
            Err(e) => Err(e),
        }
    }

    /// Replaces values of `subject`, each `(category, value, replaced)`: the replaced values are
    /// deleted, the corrected one is stored, and each of `purposes` that held a replaced value holds
    /// the corrected one instead, so that a correction applies wherever the value was given.
    fn replacement_ops(
        &self,
        subject: SubjectId,
        key: &SubjectKey,
        purposes: &[PurposeInstance],
        replacements: &[(&str, &str, &[ItemId])],
    ) -> Result<Vec<Op>, CoreError> {
        let mut ops = Vec::new();
        let mut swaps = Vec::new();
        for (category, value, replaced) in replacements {
            ops.extend(replaced.iter().copied().map(Op::DeleteItem));
            let item = self.new_item(subject, key, category, value, SOURCE)?;
            swaps.push((*replaced, item.id));
            ops.push(Op::PutItem(item));
        }
        for purpose in purposes.iter().filter(|p| !p.items.is_empty()) {
            let mut items = purpose.items.clone();
            for (replaced, corrected) in &swaps {
                if items.iter().any(|i| replaced.contains(i)) {
                    items.retain(|i| !replaced.contains(i));
                    items.push(*corrected);
                }
            }
            if items != purpose.items {
                ops.push(Op::SetPurposeItems { instance: purpose.id, items });
            }
        }
        Ok(ops)
    }

    /// Commits a rectification with its record, its audit entry and the Art. 19 notices to every
    /// recipient that received one of `categories` (L4).
    async fn commit_rectification(
        &self,
        subject: SubjectId,
        categories: &[String],
        mut ops: Vec<Op>,
    ) -> Result<(), CoreError> {
        let disclosures = self.store.backend().disclosures_of(subject).await?;
        let received: Vec<pactum_store::Disclosure> =
            disclosures.into_iter().filter(|d| d.categories.iter().any(|c| categories.contains(c))).collect();
        let notify = self.notifications_of_kind(&received, "rectification");
        let notifying = !notify.is_empty();
        if notifying {
            ops.push(Op::QueueNotifications(notify));
        }
        let (record, record_event) =
            self.self_service_record(subject, RequestKind::Rectification, &categories.join(","), "portal");
        ops.push(record);
        let event = AuditEvent::new(
            "subject",
            "subject.rectify",
            Some(subject),
            serde_json::json!({"categories": categories, "recipients_notified": received.len()}),
        );
        self.store.commit(Change { at: self.clock.now_micros(), ops, audit: vec![event, record_event] }).await?;
        self.mail_ready.notify_one();
        Ok(())
    }

    fn email_change_token(
        &self,
        subject: SubjectId,
        key: &pactum_vault::SubjectKey,
        replaced: ItemId,
        address: &str,
    ) -> Result<String, CoreError> {
        let expires = self.clock.now().unix_timestamp() + EMAIL_CHANGE_HOURS * 3600;
        let sealed =
            key.seal(address_binding(&subject), address.as_bytes()).map_err(|e| CoreError::Vault(e.to_string()))?;
        let mut payload = Vec::with_capacity(40 + sealed.len());
        payload.extend_from_slice(subject.as_bytes());
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.extend_from_slice(replaced.as_bytes());
        payload.extend_from_slice(&sealed);
        let tag = self.keys.blind_index.tag(TOKEN_DOMAIN, &payload);
        Ok(format!("{}.{}", hex::encode(&payload), hex::encode(&tag[..16])))
    }

    fn read_email_change_token(&self, token: &str) -> Result<(SubjectId, ItemId, Vec<u8>), CoreError> {
        let (payload, tag) = token.trim().split_once('.').ok_or(CoreError::InvalidLink)?;
        let payload = hex::decode(payload).map_err(|_| CoreError::InvalidLink)?;
        let tag = hex::decode(tag).map_err(|_| CoreError::InvalidLink)?;
        let expected = self.keys.blind_index.tag(TOKEN_DOMAIN, &payload);
        let same = tag.len() == 16 && expected[..16].iter().zip(&tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same || payload.len() <= 40 {
            return Err(CoreError::InvalidLink);
        }
        let subject = SubjectId::from_slice(&payload[..16]).ok_or(CoreError::InvalidLink)?;
        let expires = i64::from_be_bytes(payload[16..24].try_into().map_err(|_| CoreError::InvalidLink)?);
        let replaced = ItemId::from_slice(&payload[24..40]).ok_or(CoreError::InvalidLink)?;
        if self.clock.now().unix_timestamp() > expires {
            return Err(CoreError::LinkExpired);
        }
        Ok((subject, replaced, payload[40..].to_vec()))
    }

    fn email_change_mail(&self, to: &str, url: &str, lang: Lang) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let (subject, text) = match lang {
            Lang::Da => (
                format!("Bekræft din nye e-mailadresse hos {controller}"),
                format!(
                    "Hej\n\nDu har bedt os bruge denne adresse fremover. Bekræft det her:\n{url}\n\n\
                     Linket virker i {EMAIL_CHANGE_HOURS} timer. Indtil da bruger vi din gamle adresse.\n\
                     Har du ikke selv bedt om det, kan du se bort fra denne mail.\n"
                ),
            ),
            Lang::En => (
                format!("Confirm your new e-mail address at {controller}"),
                format!(
                    "Hello\n\nYou asked us to use this address from now on. Confirm it here:\n{url}\n\n\
                     The link works for {EMAIL_CHANGE_HOURS} hours. Until then we use your old address.\n\
                     If you did not ask for it, ignore this mail.\n"
                ),
            ),
        };
        OutgoingMail { to: to.into(), subject, text, headers: Vec::new() }
    }

    /// Told to the old address, in both languages, since the person's choice of language is not
    /// known here.
    fn email_changed_mail(&self, to: &str) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let contact = &self.policy.controller.email;
        let text = format!(
            "Hej\n\nVi bruger ikke længere denne adresse til dig: din nye adresse er bekræftet.\n\
             Var det ikke dig, så skriv til {contact}.\n\n\
             Hello\n\nWe no longer use this address for you: your new address has been confirmed.\n\
             If this was not you, write to {contact}.\n"
        );
        let subject = format!("Din e-mailadresse er ændret / Your e-mail address was changed – {controller}");
        OutgoingMail { to: to.into(), subject, text, headers: Vec::new() }
    }
}
