//! Telling recipients (Art. 19, L4): when a person's data is erased or restricted (or, P14, they
//! object to the certification disclosure), every recipient
//! the disclosure ledger shows received it is notified, by e-mail or by a signed webhook as the
//! policy's `notify` says. A notification names the person only by the reference the recipient got
//! in its export, so it holds no personal value and outlives the person's shredded key as the proof
//! that notice was given. It is queued in the same transaction as the erasure; a worker delivers it
//! with retries and backoff, and the DPO sees every attempt in the delivery log.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use pactum_policy::Notify;
use pactum_store::{
    AuditEvent, Backend, Change, Disclosure, MailId, NotificationId, Op, PurposeInstanceId, RecipientNotification,
};
use sha2::Sha256;

use crate::http_client::HttpsClient;
use crate::mail::{Mailer, backoff_micros};
use crate::{Clock, CoreError, Pactum};

/// Attempts before a notification is given up: with the mail backoff, about a day.
pub const MAX_ATTEMPTS: u32 = 30;
const LEASE: i64 = 120_000_000;

/// The `t=…,v1=…` signature header value for `body` at `timestamp`: an HMAC-SHA256 over
/// `"<timestamp>.<body>"`, the scheme payment providers use too.
pub fn signature_header(secret: &str, body: &[u8], timestamp: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// The notifications an erasure or restriction of `entries` needs: one per recipient and
    /// reference; `restricted` instances are kept restricted, the rest erased.
    pub(crate) fn notifications_for(
        &self,
        entries: &[Disclosure],
        restricted: &[PurposeInstanceId],
    ) -> Vec<RecipientNotification> {
        self.notifications_with(entries, |d| if restricted.contains(&d.instance) { "restriction" } else { "erasure" })
    }

    /// The notifications that tell every recipient of `entries` of one `kind` of change
    /// (`rectification`, `restriction`): one per recipient and reference.
    pub(crate) fn notifications_of_kind(
        &self,
        entries: &[Disclosure],
        kind: &'static str,
    ) -> Vec<RecipientNotification> {
        self.notifications_with(entries, |_| kind)
    }

    fn notifications_with(
        &self,
        entries: &[Disclosure],
        kind_of: impl Fn(&Disclosure) -> &'static str,
    ) -> Vec<RecipientNotification> {
        let now = self.clock.now_micros();
        let mut seen = BTreeMap::new();
        for d in entries {
            seen.entry((d.recipient.clone(), d.reference.clone(), kind_of(d))).or_insert((d.at, d.subject));
        }
        seen.into_iter()
            .map(|((recipient, reference, kind), (disclosed_at, subject))| {
                let channel = match self.policy.recipient(&recipient).and_then(|r| r.notify.as_ref()) {
                    Some(Notify::Email(_)) => "email",
                    Some(Notify::Webhook { .. }) => "webhook",
                    None => "manual",
                };
                RecipientNotification {
                    id: NotificationId::new(),
                    recipient,
                    channel: channel.into(),
                    kind: kind.into(),
                    reference,
                    disclosed_at,
                    subject_ref: subject.to_string(),
                    status: if channel == "manual" { "manual" } else { "pending" }.into(),
                    attempts: 0,
                    created_at: now,
                    next_attempt_at: now,
                    delivered_at: None,
                    last_error: None,
                }
            })
            .collect()
    }

    /// The e-mail that tells a recipient, in Danish and English, what to do with the reference.
    fn notification_mail(&self, n: &RecipientNotification, to: &str) -> Result<Vec<u8>, String> {
        let disclosed = crate::clock::from_micros(n.disclosed_at).date();
        let (da, en) = match n.kind.as_str() {
            "objection" => (
                "må ikke længere bruges til certificeringen: personen har gjort indsigelse, og certificeringen er annulleret",
                "may no longer be used for the certification: the person objected, and the certification is cancelled",
            ),
            "rectification" => (
                "er rettet af personen: bed os om de rettede oplysninger, og ret jeres kopi",
                "were corrected by the person: ask us for the corrected data and correct your copy",
            ),
            "restriction" => (
                "er nu begrænset: I må kun opbevare dem, ikke bruge dem",
                "are now restricted: you may only store them, not use them",
            ),
            _ => (
                "skal slettes: personen har fået sine data slettet hos os",
                "must be erased: the person had their data erased with us",
            ),
        };
        let text = format!(
            "Oplysningerne om deltageren med referencen {reference}, som I modtog fra os {date}, {da} \
             (databeskyttelsesforordningen art. 19).\n\n\
             The data about the participant with the reference {reference}, which you received from us on {date}, {en} \
             (GDPR Art. 19).\n\nNotifikation / notification: {id}\n",
            reference = n.reference,
            date = pactum_store::date_to_text(disclosed),
            id = n.id,
        );
        self.direct_message(to, &format!("Art. 19: {} – {}", n.kind, n.reference), text)
    }

    async fn deliver_notification<M: Mailer>(
        &self,
        n: &RecipientNotification,
        mailer: &M,
        http: &HttpsClient,
    ) -> Result<(), String> {
        match self.policy.recipient(&n.recipient).and_then(|r| r.notify.as_ref()) {
            Some(Notify::Email(to)) => {
                let message = self.notification_mail(n, to)?;
                let sender = self.settings.mail_from(&self.policy);
                mailer.deliver(MailId(n.id.0), &sender, to, &message).await.map_err(|e| e.to_string())
            }
            Some(Notify::Webhook { url, secret_env }) => {
                let secret =
                    self.settings.notify_secrets.get(secret_env).ok_or_else(|| {
                        format!("the environment variable {secret_env} was not set when Pactum started")
                    })?;
                let body = serde_json::json!({
                    "id": n.id.to_string(),
                    "kind": n.kind,
                    "recipient": n.recipient,
                    "reference": n.reference,
                    "disclosed_at": crate::clock::from_micros(n.disclosed_at)
                        .format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "sent_at": self.clock.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                })
                .to_string()
                .into_bytes();
                let signature = signature_header(secret, &body, self.clock.now().unix_timestamp());
                let (status, _) = http.post(url, &[("pactum-signature", signature)], "application/json", body).await?;
                if (200..300).contains(&status) { Ok(()) } else { Err(format!("the webhook answered {status}")) }
            }
            None => Err("the policy gives no `notify` for this recipient".into()),
        }
    }
}

/// Claims the notifications due now and delivers them; returns how many were delivered.
pub async fn deliver_due_notifications<B: Backend, C: Clock, M: Mailer>(
    pactum: &Pactum<B, C>,
    mailer: &M,
    http: &HttpsClient,
) -> Result<usize, CoreError> {
    let now = pactum.clock.now_micros();
    let mut delivered = 0;
    for n in pactum.store.backend().claim_notifications(now, now + LEASE, 32).await? {
        let result = pactum.deliver_notification(&n, mailer, http).await;
        let at = pactum.clock.now_micros();
        let (op, action) = match result {
            Ok(()) => {
                delivered += 1;
                (Op::NotificationDelivered { id: n.id, at }, "recipient.notified")
            }
            Err(error) => {
                let attempts = n.attempts + 1;
                let give_up = attempts >= MAX_ATTEMPTS;
                tracing::warn!(notification = %n.id, recipient = %n.recipient, attempts, give_up, %error,
                    "a recipient notification failed");
                let op = Op::NotificationFailed {
                    id: n.id,
                    attempts,
                    next_attempt_at: at + backoff_micros(attempts),
                    give_up,
                    error,
                };
                (op, if give_up { "recipient.notification_given_up" } else { "recipient.notification_failed" })
            }
        };
        let event = AuditEvent::new(
            "system",
            action,
            None,
            serde_json::json!({"notification": n.id.to_string(), "recipient": n.recipient, "kind": n.kind}),
        );
        pactum.store.commit(Change { at, ops: vec![op], audit: vec![event] }).await?;
    }
    Ok(delivered)
}
