//! Waiting lists of full sessions. Only a full session takes names; a person is on a list once.
//! When a seat becomes free (a cancellation), the first person not yet told gets a mail with the
//! session's booking link, in the same transaction as the cancellation; the first to book gets the
//! seat. The entry's data is held by the `waiting_list` purpose until the course has ended.

use pactum_policy::Lang;
use pactum_store::{AuditEvent, Backend, Op, SessionId, WaitingEntry, WaitingId};

use crate::mail::OutgoingMail;
use crate::personal::{Collection, item_binding};
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

pub const WAITING_PURPOSE: &str = "waiting_list";

#[derive(Debug, Clone)]
pub struct WaitingRequest {
    pub session: SessionId,
    pub values: Vec<(String, String)>,
    pub lang: Lang,
    pub method: String,
    pub notice_version: String,
}

/// A place on the list: the entry and its number (1 is next).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub entry: WaitingId,
    pub position: usize,
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Puts a person on a full session's waiting list.
    pub async fn join_waiting_list(&self, request: WaitingRequest) -> Result<Waiting, CoreError> {
        self.retried_if_raced(|| self.join_waiting_list_attempt(request.clone())).await
    }

    /// One try of [`Self::join_waiting_list`].
    async fn join_waiting_list_attempt(&self, request: WaitingRequest) -> Result<Waiting, CoreError> {
        if request.notice_version != self.policy.version {
            return Err(CoreError::NoticeChanged);
        }
        let catalogue = self.catalogue().await?;
        let session = catalogue.sessions.iter().find(|s| s.id == request.session).ok_or(CoreError::UnknownActivity)?;
        let backend = self.store.backend();
        if backend.seats_taken(session.id.0).await? < session.seats {
            // Seats are free: the person books instead.
            return Err(CoreError::Invalid(vec![FieldError {
                field: "session".into(),
                problem: Problem::NotAccepted,
            }]));
        }
        let prepared = self
            .prepare_collection(Collection {
                purpose: WAITING_PURPOSE.into(),
                values: request.values,
                source: request.method,
                anchor_date: Some(session.ends_on),
                actor: "subject".into(),
            })
            .await?;
        let subject = prepared.collected.subject;
        let list = backend.waiting_list(session.id).await?;
        if let Some(place) = list.iter().position(|e| e.subject == subject) {
            return Ok(Waiting { entry: list[place].id, position: place + 1 });
        }
        let entry = WaitingEntry {
            id: WaitingId::new(),
            session: session.id,
            subject,
            instance: prepared.collected.instance,
            created_at: self.clock.now_micros(),
            notified_at: None,
        };
        let mut change = prepared.change;
        change.ops.push(Op::JoinWaitingList(entry.clone()));
        change.audit.push(AuditEvent::new(
            "subject",
            "waiting_list.join",
            Some(subject),
            serde_json::json!({"session": session.id.to_string(), "entry": entry.id.to_string()}),
        ));
        self.store.commit(change).await?;
        Ok(Waiting { entry: entry.id, position: list.len() + 1 })
    }

    /// The operations that tell the next `freed` people on `session`'s waiting list that a seat is
    /// free: a mail each and the mark that they were told. For the caller's own change.
    pub(crate) async fn waiting_list_notices(
        &self,
        session: SessionId,
        freed: usize,
    ) -> Result<(Vec<Op>, Vec<AuditEvent>), CoreError> {
        let backend = self.store.backend();
        let catalogue = self.catalogue().await?;
        let Some(found) = catalogue.sessions.iter().find(|s| s.id == session) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let Some(course) = catalogue.courses.iter().find(|c| c.id == found.course) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let today = self.clock.today();
        if found.starts_on <= today {
            return Ok((Vec::new(), Vec::new()));
        }
        let (mut ops, mut audit) = (Vec::new(), Vec::new());
        for entry in backend.waiting_list(session).await?.into_iter().filter(|e| e.notified_at.is_none()).take(freed) {
            let Some(wrapped) = backend.subject_key(entry.subject).await? else { continue };
            let key = self.keys.subject_key(entry.subject, &wrapped)?;
            let email = backend.items_of(entry.subject).await?.into_iter().find(|i| i.category == "email");
            let Some(email) = email else { continue };
            let address =
                key.open(item_binding(&email.id), &email.value).map_err(|e| CoreError::Vault(e.to_string()))?;
            let address = String::from_utf8_lossy(&address).into_owned();
            let link = format!("{}/kurser/{}", self.settings.public_url, course.slug);
            let dates = format!(
                "{} – {}, {}",
                pactum_store::date_to_text(found.starts_on),
                pactum_store::date_to_text(found.ends_on),
                found.location
            );
            let mail = OutgoingMail {
                to: address,
                subject: format!("Ledig plads: {} / A seat is free", course.title_da),
                text: format!(
                    "Hej\n\nDer er blevet en plads ledig på {}, {dates}, som du står på venteliste til.\n\
                     Den første, der tilmelder sig, får pladsen: {link}\n\n\
                     Hello\n\nA seat has become free on {}, {dates}, whose waiting list you are on.\n\
                     The first to book gets the seat: {link}\n",
                    course.title_da, course.title_en
                ),
                headers: Vec::new(),
            };
            ops.push(self.mail_op(entry.subject, &key, "waiting_list_seat", mail)?);
            ops.push(Op::WaitingNotified { id: entry.id, at: self.clock.now_micros() });
            audit.push(AuditEvent::new(
                "system",
                "waiting_list.notify",
                Some(entry.subject),
                serde_json::json!({"session": session.to_string(), "entry": entry.id.to_string()}),
            ));
        }
        Ok((ops, audit))
    }
}
