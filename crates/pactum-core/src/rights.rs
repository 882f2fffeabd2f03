//! Rights requests and their legal deadlines (GDPR Art. 12, P34, L1, L3, P35).
//!
//! Every request has `received_at` and a `due_on` one calendar month later (a request received on
//! 31 January is due on the last day of February). Within that first month staff may extend it by
//! one or two further months, and the person is mailed the reasons at once. A request ends `done`
//! or `rejected`, always with a reason that is mailed to the person; a refusal also states the
//! right to complain to Datatilsynet. Self-service actions in "My data" are recorded closed at
//! once, so the register is complete. An objection or a restriction request restricts the person's
//! data while it is open (L3): nothing is disclosed and no marketing is sent. After the decision
//! the restriction lasts [`RESTRICTION_NOTICE_DAYS`] more days, so the person is told before it is
//! lifted.

use pactum_policy::retention::add_period;
use pactum_policy::{Lang, Period};
use pactum_store::{AuditEvent, Change, Op, RightsRequest, RightsRequestId, StoredItem, SubjectId};
use pactum_vault::Binding;
use serde::Serialize;
use time::Date;

use crate::incidents::text_field;
use crate::mail::{Mailer, OutgoingMail};
use crate::personal::Collection;
use crate::staff::Staff;
use crate::values::{FieldError, Problem};
use crate::{Backend, Clock, CoreError, Pactum};

/// The policy purpose that holds a request's contact details and text until it is closed and its
/// retention has run.
pub const RIGHTS_PURPOSE: &str = "rights_requests";

/// How long a restriction outlives the decision that ends it: the person is told first (L3).
pub const RESTRICTION_NOTICE_DAYS: i64 = 7;

/// Requests due within this many days are flagged on the queue and in the reminder.
pub const REMINDER_DAYS: i64 = 7;

const TABLE: &str = "rights_requests";

/// The lease that lets one node a day send the reminder.
const REMINDER_JOB: &str = "rights_reminder";

/// The rights a request can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Access,
    Rectification,
    Erasure,
    Restriction,
    Objection,
    Portability,
    Withdrawal,
    Other,
}

impl RequestKind {
    pub const ALL: [RequestKind; 8] = [
        RequestKind::Access,
        RequestKind::Rectification,
        RequestKind::Erasure,
        RequestKind::Restriction,
        RequestKind::Objection,
        RequestKind::Portability,
        RequestKind::Withdrawal,
        RequestKind::Other,
    ];

    pub fn key(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Rectification => "rectification",
            RequestKind::Erasure => "erasure",
            RequestKind::Restriction => "restriction",
            RequestKind::Objection => "objection",
            RequestKind::Portability => "portability",
            RequestKind::Withdrawal => "withdrawal",
            RequestKind::Other => "other",
        }
    }

    pub fn parse(key: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (RequestKind::Access, Lang::Da) => "Indsigt (art. 15)",
            (RequestKind::Access, Lang::En) => "Access (Art. 15)",
            (RequestKind::Rectification, Lang::Da) => "Berigtigelse (art. 16)",
            (RequestKind::Rectification, Lang::En) => "Rectification (Art. 16)",
            (RequestKind::Erasure, Lang::Da) => "Sletning (art. 17)",
            (RequestKind::Erasure, Lang::En) => "Erasure (Art. 17)",
            (RequestKind::Restriction, Lang::Da) => "Begrænsning (art. 18)",
            (RequestKind::Restriction, Lang::En) => "Restriction (Art. 18)",
            (RequestKind::Objection, Lang::Da) => "Indsigelse (art. 21)",
            (RequestKind::Objection, Lang::En) => "Objection (Art. 21)",
            (RequestKind::Portability, Lang::Da) => "Dataportabilitet (art. 20)",
            (RequestKind::Portability, Lang::En) => "Portability (Art. 20)",
            (RequestKind::Withdrawal, Lang::Da) => "Tilbagetrækning af samtykke (art. 7)",
            (RequestKind::Withdrawal, Lang::En) => "Withdrawal of consent (Art. 7)",
            (RequestKind::Other, Lang::Da) => "Andet",
            (RequestKind::Other, Lang::En) => "Other",
        }
    }

    /// Whether a request of this kind restricts the person's data while it is open (L3, P35).
    pub fn restricts(self) -> bool {
        matches!(self, RequestKind::Restriction | RequestKind::Objection)
    }
}

/// How a request reached the provider.
pub const CHANNELS: [&str; 5] = ["portal", "email", "phone", "letter", "in_person"];

pub fn channel_label(channel: &str, lang: Lang) -> &'static str {
    match (channel, lang) {
        ("portal", Lang::Da) => "Mine data",
        ("portal", Lang::En) => "My data",
        ("email", Lang::Da) => "E-mail",
        ("email", Lang::En) => "E-mail",
        ("phone", Lang::Da) => "Telefon",
        ("phone", Lang::En) => "Phone",
        ("letter", Lang::Da) => "Brev",
        ("letter", Lang::En) => "Letter",
        ("in_person", Lang::Da) => "Personligt fremmøde",
        ("in_person", Lang::En) => "In person",
        (_, Lang::Da) => "Ukendt",
        (_, Lang::En) => "Unknown",
    }
}

/// `date` plus `months` calendar months, with the day clamped to the target month's last day
/// (31 January + 1 month = 28 or 29 February; 31 March + 1 month = 30 April).
pub fn add_months(date: Date, months: u16) -> Date {
    add_period(date, Period { years: 0, months, days: 0 })
}

/// The Art. 12(3) deadline of a request received on `received`: one calendar month. A deadline
/// that falls on a weekend or holiday is not moved later: Pactum holds itself to the month (C9).
pub fn due_on(received: Date) -> Date {
    add_months(received, 1)
}

/// The deadline after extending by `months` (1 or 2) further months, counted from receipt.
pub fn extended_due(received: Date, months: u16) -> Date {
    add_months(received, 1 + months)
}

/// Whether a request may still be extended on `today`: only once, and only within the first
/// month, since the reasons must reach the person by then (Art. 12(3)).
pub fn may_extend(request: &RightsRequest, today: Date) -> bool {
    request.is_open() && request.extended_to.is_none() && today <= request.due_on
}

/// A request registered by staff from another channel, or sent from "My data".
#[derive(Debug, Clone)]
pub struct RequestDraft {
    pub email: String,
    pub name: String,
    pub kind: String,
    pub channel: String,
    /// The day the request reached the provider; the deadline counts from here.
    pub received_on: Date,
    /// What the person asked, in their words.
    pub details: String,
    /// Whether to restrict the person's data meanwhile; restriction and objection requests
    /// always do.
    pub restrict: bool,
    pub lang: Lang,
    /// The key this request was sent under, if any (see [`crate::repeats`]): the "My data" form's
    /// own token, so that a request sent twice is registered once.
    pub repeat_key: Option<String>,
}

/// What registering a request answered, kept for a repeat of it (see [`crate::repeats`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct Registered {
    request: RightsRequestId,
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Rejected,
}

impl Outcome {
    pub fn parse(key: &str) -> Option<Outcome> {
        match key {
            "done" => Some(Outcome::Done),
            "rejected" => Some(Outcome::Rejected),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Where a request stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Open,
    /// Open and due within [`REMINDER_DAYS`].
    DueSoon,
    /// Open past its deadline: the alarm.
    Overdue,
    Done,
    Rejected,
}

impl Standing {
    pub fn of(request: &RightsRequest, today: Date) -> Standing {
        match request.status.as_str() {
            "done" => Standing::Done,
            "rejected" => Standing::Rejected,
            _ if today > request.effective_due() => Standing::Overdue,
            _ if (request.effective_due() - today).whole_days() <= REMINDER_DAYS => Standing::DueSoon,
            _ => Standing::Open,
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Standing::Open, Lang::Da) => "åben",
            (Standing::Open, Lang::En) => "open",
            (Standing::DueSoon, Lang::Da) => "frist snart",
            (Standing::DueSoon, Lang::En) => "due soon",
            (Standing::Overdue, Lang::Da) => "OVERSKREDET",
            (Standing::Overdue, Lang::En) => "OVERDUE",
            (Standing::Done, Lang::Da) => "gennemført",
            (Standing::Done, Lang::En) => "done",
            (Standing::Rejected, Lang::Da) => "afvist",
            (Standing::Rejected, Lang::En) => "rejected",
        }
    }
}

/// A request as the person sees it in "My data" and in the access report (P30, P34).
#[derive(Debug, Clone, Serialize)]
pub struct RequestReport {
    pub id: RightsRequestId,
    pub kind: String,
    pub kind_label: String,
    pub channel: String,
    pub scope: String,
    pub received_on: Date,
    pub due_on: Date,
    pub extended_to: Option<Date>,
    pub extension_reason: Option<String>,
    pub standing: Standing,
    pub decided_on: Option<Date>,
    pub decision_reason: Option<String>,
    pub restricts: bool,
}

/// A request as the DPO's queue shows it: the report, plus the person's own words.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub report: RequestReport,
    pub subject: SubjectId,
    pub details: Option<String>,
    pub may_extend: bool,
    pub decided_by: Option<String>,
    pub created_by: String,
}

fn reason_binding<'a>(id: &'a RightsRequestId, column: &'static str) -> Binding<'a> {
    Binding { table: TABLE, column, row_id: id.as_bytes() }
}

fn date_of(micros: i64) -> Date {
    crate::clock::from_micros(micros).date()
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// A self-service action, recorded closed in the same change as the action itself (P34): the
    /// row holds no personal value, only what it concerned (`scope`, policy keys) and when.
    pub(crate) fn self_service_record(
        &self,
        subject: SubjectId,
        kind: RequestKind,
        scope: &str,
        channel: &str,
    ) -> (Op, AuditEvent) {
        let now = self.clock.now_micros();
        let today = self.clock.today();
        let request = RightsRequest {
            id: RightsRequestId::new(),
            subject,
            kind: kind.key().into(),
            channel: channel.into(),
            scope: scope.into(),
            received_at: now,
            due_on: due_on(today),
            extended_to: None,
            extension_reason: None,
            status: "done".into(),
            restricts: false,
            restricted_until: None,
            decision_reason: None,
            decided_at: Some(now),
            decided_by: Some("subject".into()),
            instance: None,
            details_item: None,
            created_by: "subject".into(),
            lang: Lang::Da.code().into(),
        };
        let event = AuditEvent::new(
            "subject",
            "rights_request.self_service",
            Some(subject),
            serde_json::json!({"request": request.id.to_string(), "kind": request.kind, "scope": scope}),
        );
        (Op::PutRightsRequest(request), event)
    }

    /// Registers a request that staff handle: received by mail, phone or letter (registered by
    /// staff, `actor` is theirs), or sent from "My data" (`actor` is `subject`). The person's
    /// address and words are collected under the `rights_requests` purpose, and a receipt with
    /// the deadline is mailed in the same change.
    pub async fn register_request(&self, actor: &str, draft: RequestDraft) -> Result<RightsRequestId, CoreError> {
        self.retried_if_raced(|| self.register_request_attempt(actor, draft.clone())).await
    }

    /// One try of [`Self::register_request`].
    async fn register_request_attempt(&self, actor: &str, draft: RequestDraft) -> Result<RightsRequestId, CoreError> {
        // A repeat is answered first: the request it repeats, registered once, with one receipt.
        let (repeat_key, first) = self
            .earlier::<Registered>("rights_request", draft.repeat_key.as_deref(), || {
                serde_json::json!({
                    "email": draft.email,
                    "name": draft.name,
                    "kind": draft.kind,
                    "channel": draft.channel,
                    "received_on": pactum_store::date_to_text(draft.received_on),
                    "details": draft.details,
                    "restrict": draft.restrict,
                })
            })
            .await?;
        if let Some(first) = first {
            return Ok(first.request);
        }
        let mut errors = Vec::new();
        let kind = RequestKind::parse(&draft.kind);
        if kind.is_none() {
            errors.push(FieldError { field: "kind".into(), problem: Problem::UnknownChoice });
        }
        if !CHANNELS.contains(&draft.channel.as_str()) {
            errors.push(FieldError { field: "channel".into(), problem: Problem::UnknownChoice });
        }
        let today = self.clock.today();
        // Not in the future, and not so old that its deadline has long passed unnoticed.
        if draft.received_on > today || draft.received_on < add_months(today, 0) - time::Duration::days(366) {
            errors.push(FieldError { field: "received_on".into(), problem: Problem::NotADate });
        }
        let details = text_field("details", &draft.details, 1, 4000, &mut errors);
        let (Some(kind), true) = (kind, errors.is_empty()) else {
            // The collection below checks e-mail and name; report every problem at once.
            let mut values = vec![("email".to_string(), draft.email.clone())];
            if !draft.name.trim().is_empty() {
                values.push(("name".into(), draft.name.clone()));
            }
            values.push(("request_record".into(), "-".into()));
            if let Err(CoreError::Invalid(more)) = self.check_collection(&Collection {
                purpose: RIGHTS_PURPOSE.into(),
                values,
                source: String::new(),
                anchor_date: None,
                actor: actor.into(),
            }) {
                errors.extend(more);
            }
            return Err(CoreError::Invalid(errors));
        };
        let mut values = vec![("email".to_string(), draft.email.clone()), ("request_record".into(), details)];
        if !draft.name.trim().is_empty() {
            values.push(("name".into(), draft.name.clone()));
        }
        let source = if draft.channel == "portal" { "portal".to_string() } else { format!("staff:{}", draft.channel) };
        let prepared = self
            .prepare_collection(Collection {
                purpose: RIGHTS_PURPOSE.into(),
                values,
                source,
                anchor_date: None,
                actor: actor.into(),
            })
            .await?;
        let mut change = prepared.change;
        let subject = prepared.collected.subject;
        let details_item = change.ops.iter().find_map(|op| match op {
            Op::PutItem(StoredItem { id, category, .. }) if category == "request_record" => Some(*id),
            _ => None,
        });
        // The text is new unless the very same words were recorded before: then that item holds it.
        let details_item = match details_item {
            Some(id) => Some(id),
            None => self.newest_item(subject, "request_record").await?,
        };
        let received_at = if draft.received_on == today {
            self.clock.now_micros()
        } else {
            crate::clock::to_micros(draft.received_on.midnight().assume_utc())
        };
        let request = RightsRequest {
            id: RightsRequestId::new(),
            subject,
            kind: kind.key().into(),
            channel: draft.channel.clone(),
            scope: String::new(),
            received_at,
            due_on: due_on(draft.received_on),
            extended_to: None,
            extension_reason: None,
            status: "open".into(),
            restricts: draft.restrict || kind.restricts(),
            restricted_until: None,
            decision_reason: None,
            decided_at: None,
            decided_by: None,
            instance: Some(prepared.collected.instance),
            details_item,
            created_by: actor.into(),
            lang: draft.lang.code().into(),
        };
        let id = request.id;
        let address = crate::values::parse_email(draft.email.trim()).unwrap_or_default();
        let receipt = self.receipt_mail(&address, &request, draft.lang);
        change.ops.push(self.mail_op(subject, &prepared.key, "rights_request", receipt)?);
        change.audit.push(AuditEvent::new(
            actor,
            "rights_request.register",
            Some(subject),
            serde_json::json!({
                "request": id.to_string(),
                "kind": request.kind,
                "channel": request.channel,
                "due_on": pactum_store::date_to_text(request.due_on),
                "restricts": request.restricts,
            }),
        ));
        if request.restricts {
            // Every recipient that has the person's data is told it is now restricted (L4).
            let disclosures = self.store.backend().disclosures_of(subject).await?;
            let notify = self.notifications_of_kind(&disclosures, "restriction");
            if !notify.is_empty() {
                change.ops.push(Op::QueueNotifications(notify));
            }
        }
        change.ops.push(Op::PutRightsRequest(request));
        if let Some(first) = self.commit_once(change, repeat_key.as_ref(), &Registered { request: id }).await? {
            return Ok(first.request);
        }
        self.mail_ready.notify_one();
        Ok(id)
    }

    async fn newest_item(&self, subject: SubjectId, category: &str) -> Result<Option<pactum_store::ItemId>, CoreError> {
        let items = self.store.backend().items_of(subject).await?;
        Ok(items.iter().filter(|i| i.category == category).max_by_key(|i| i.collected_at).map(|i| i.id))
    }

    /// A request sent from "My data" by the person themself (an objection to processing on a
    /// legitimate interest, a dispute of accuracy, anything else): queued for the DPO, with the
    /// person's data restricted meanwhile when `restrict` (L3, P35).
    pub async fn request_from_portal(
        &self,
        subject: SubjectId,
        kind: RequestKind,
        details: &str,
        restrict: bool,
        lang: Lang,
        repeat_key: Option<String>,
    ) -> Result<RightsRequestId, CoreError> {
        let values = self.open_values(subject, None, &["email", "name"]).await?.ok_or(CoreError::SubjectGone)?;
        let value = |c: &str| values.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_default();
        let draft = RequestDraft {
            email: value("email"),
            name: value("name"),
            kind: kind.key().into(),
            channel: "portal".into(),
            received_on: self.clock.today(),
            details: details.into(),
            restrict,
            lang,
            repeat_key,
        };
        self.register_request("subject", draft).await
    }

    /// Extends an open request by `months` (1 or 2) further months, within the first month, and
    /// mails the person the reasons (Art. 12(3)).
    pub async fn extend_request(
        &self,
        staff: &Staff,
        id: RightsRequestId,
        months: u16,
        reason: &str,
    ) -> Result<Date, CoreError> {
        let mut request = self.store.backend().rights_request(id).await?.ok_or(CoreError::UnknownRequest)?;
        let today = self.clock.today();
        if !may_extend(&request, today) {
            return Err(CoreError::NotExtendable);
        }
        let mut errors = Vec::new();
        if !(1..=2).contains(&months) {
            errors.push(FieldError { field: "months".into(), problem: Problem::UnknownChoice });
        }
        let reason = text_field("reason", reason, 1, 2000, &mut errors);
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let (key, email) = self.contact(request.subject).await?;
        let received = date_of(request.received_at);
        let until = extended_due(received, months);
        request.extended_to = Some(until);
        request.extension_reason = Some(self.seal_reason(&key, &id, "extension_reason", &reason)?);
        let lang = Lang::from_code(&request.lang).unwrap_or(Lang::Da);
        let mail = self.extension_mail(&email, &request, &reason, lang);
        let event = AuditEvent::new(
            &staff.actor(),
            "rights_request.extend",
            Some(request.subject),
            serde_json::json!({"request": id.to_string(), "months": months, "extended_to": pactum_store::date_to_text(until)}),
        );
        let ops = vec![self.mail_op(request.subject, &key, "rights_request", mail)?, Op::PutRightsRequest(request)];
        self.store.commit(Change { at: self.clock.now_micros(), ops, audit: vec![event] }).await?;
        self.mail_ready.notify_one();
        Ok(until)
    }

    /// Closes an open request `done` or `rejected`, with a reason mailed to the person (P32, L1);
    /// a refusal states the right to complain to Datatilsynet. The request's own record is then
    /// kept as its retention rule says, counted from today.
    pub async fn decide_request(
        &self,
        staff: &Staff,
        id: RightsRequestId,
        outcome: Outcome,
        reason: &str,
    ) -> Result<(), CoreError> {
        let mut request = self.store.backend().rights_request(id).await?.ok_or(CoreError::UnknownRequest)?;
        if !request.is_open() {
            return Err(CoreError::RequestClosed);
        }
        let mut errors = Vec::new();
        let reason = text_field("reason", reason, 1, 4000, &mut errors);
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let (key, email) = self.contact(request.subject).await?;
        let lang = Lang::from_code(&request.lang).unwrap_or(Lang::Da);
        let today = self.clock.today();
        let now = self.clock.now_micros();
        request.status = outcome.key().into();
        request.decided_at = Some(now);
        request.decided_by = Some(staff.actor());
        request.decision_reason = Some(self.seal_reason(&key, &id, "decision_reason", &reason)?);
        if request.restricts {
            request.restricted_until = Some(today + time::Duration::days(RESTRICTION_NOTICE_DAYS));
        }
        let mut ops = vec![self.mail_op(
            request.subject,
            &key,
            "rights_request",
            self.decision_mail(&email, &request, outcome, &reason, lang),
        )?];
        let mut audit = vec![AuditEvent::new(
            &staff.actor(),
            "rights_request.decide",
            Some(request.subject),
            serde_json::json!({"request": id.to_string(), "outcome": outcome.key(), "on_time": today <= request.effective_due()}),
        )];
        if let Some(instance) = request.instance {
            let rule = &self.purpose(RIGHTS_PURPOSE)?.retention;
            let retain_until = rule.retain_until(today, self.policy.financial_year_end);
            ops.push(Op::SetRetention { instance, anchor_date: today, retain_until });
            audit.push(AuditEvent::new(
                &staff.actor(),
                "purpose.anchor_event",
                Some(request.subject),
                serde_json::json!({"purpose": RIGHTS_PURPOSE, "instance": instance.to_string(), "anchor": "request_closed", "retain_until": pactum_store::date_to_text(retain_until)}),
            ));
        }
        ops.push(Op::PutRightsRequest(request));
        self.store.commit(Change { at: now, ops, audit }).await?;
        self.mail_ready.notify_one();
        Ok(())
    }

    /// Carries out an open erasure request that came by mail, phone or letter (P19, P33): everything
    /// no legal obligation keeps is erased now, with a deletion proof and Art. 19 notices. The
    /// request's own record is such a hold until it is answered, so the decision can still be
    /// mailed; close the request with [`Self::decide_request`].
    pub async fn erase_for_request(
        &self,
        staff: &Staff,
        id: RightsRequestId,
    ) -> Result<crate::personal::Erasure, CoreError> {
        let request = self.open_request(id, RequestKind::Erasure).await?;
        let rule = format!("erasure requested by the person (GDPR Art. 17), by {}", request.channel);
        self.erase_on_request(request.subject, &rule, &staff.actor(), None).await
    }

    /// Mails the person of an open access or portability request a "My data" link, where the
    /// report and the portable copy are (P30, L5).
    pub async fn mail_access_link_for(&self, staff: &Staff, id: RightsRequestId) -> Result<(), CoreError> {
        let request = self.store.backend().rights_request(id).await?.ok_or(CoreError::UnknownRequest)?;
        if !request.is_open() {
            return Err(CoreError::RequestClosed);
        }
        if !matches!(RequestKind::parse(&request.kind), Some(RequestKind::Access | RequestKind::Portability)) {
            return Err(CoreError::WrongRequestKind);
        }
        let (_, email) = self.contact(request.subject).await?;
        self.request_access(&email, Lang::from_code(&request.lang).unwrap_or(Lang::Da)).await?;
        let event = AuditEvent::new(
            &staff.actor(),
            "rights_request.access_link_mailed",
            Some(request.subject),
            serde_json::json!({"request": id.to_string()}),
        );
        self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit: vec![event] }).await?;
        Ok(())
    }

    async fn open_request(&self, id: RightsRequestId, kind: RequestKind) -> Result<RightsRequest, CoreError> {
        let request = self.store.backend().rights_request(id).await?.ok_or(CoreError::UnknownRequest)?;
        if !request.is_open() {
            return Err(CoreError::RequestClosed);
        }
        if request.kind != kind.key() {
            return Err(CoreError::WrongRequestKind);
        }
        Ok(request)
    }

    /// Whether a purpose is marketing in the sense of Art. 21(2)–(3) (P35, C2): the newsletter,
    /// and every consent purpose whose data the policy passes to a recipient (a sponsor, the
    /// marketing partners).
    pub fn is_marketing(&self, purpose: &str) -> bool {
        let Some(p) = self.policy.purpose(purpose) else { return false };
        p.key == crate::newsletter::PURPOSE
            || (p.basis == pactum_policy::LegalBasis::Consent
                && self.policy.recipients.iter().any(|r| r.purposes.contains(&p.key)))
    }

    /// An objection to marketing (Art. 21(3), P35, C2): at once and unconditionally, every
    /// marketing consent is withdrawn (which is what the objection counts as), newsletters already
    /// queued are dropped, and the objection is recorded. Returns the purposes it ended. Under a
    /// `repeat_key`, the same objection sent again gets the first one's answer and is recorded once.
    pub async fn object_to_marketing(
        &self,
        subject: SubjectId,
        repeat_key: Option<&str>,
    ) -> Result<Vec<String>, CoreError> {
        let (repeat_key, first) = self
            .earlier::<Vec<String>>("marketing_objection", repeat_key, || serde_json::json!({ "subject": subject }))
            .await?;
        if let Some(first) = first {
            return Ok(first);
        }
        let backend = self.store.backend();
        if backend.subject_key(subject).await?.is_none() {
            return Err(CoreError::SubjectGone);
        }
        let mut ended = Vec::new();
        for consent in backend.consents_of(subject).await? {
            if consent.state != pactum_store::ConsentState::Withdrawn && self.is_marketing(&consent.purpose) {
                let purpose = consent.purpose.clone();
                self.withdraw_consent(consent, "objection").await?;
                ended.push(purpose);
            }
        }
        let (record, event) = self.self_service_record(subject, RequestKind::Objection, "marketing", "portal");
        let ops = vec![Op::DeletePendingMail { subject, kind: crate::newsletter::NEWSLETTER_MAIL.into() }, record];
        let change = Change { at: self.clock.now_micros(), ops, audit: vec![event] };
        if let Some(first) = self.commit_once(change, repeat_key.as_ref(), &ended).await? {
            return Ok(first);
        }
        Ok(ended)
    }

    /// Whether the person's data is restricted today: an open objection or restriction request,
    /// or one decided less than [`RESTRICTION_NOTICE_DAYS`] ago (L3).
    pub async fn is_restricted(&self, subject: SubjectId) -> Result<bool, CoreError> {
        let today = self.clock.today();
        Ok(self.store.backend().rights_requests_of(subject).await?.iter().any(|r| r.restricts_on(today)))
    }

    /// The person's requests, oldest first, with staff's reasons opened for them (P30).
    pub async fn requests_of(&self, subject: SubjectId, lang: Lang) -> Result<Vec<RequestReport>, CoreError> {
        let backend = self.store.backend();
        let key = match backend.subject_key(subject).await? {
            Some(wrapped) => Some(self.keys.subject_key(subject, &wrapped)?),
            None => None,
        };
        let today = self.clock.today();
        Ok(backend
            .rights_requests_of(subject)
            .await?
            .iter()
            .map(|r| self.request_report(r, key.as_ref(), today, lang))
            .collect())
    }

    pub(crate) fn request_report(
        &self,
        r: &RightsRequest,
        key: Option<&pactum_vault::SubjectKey>,
        today: Date,
        lang: Lang,
    ) -> RequestReport {
        let open = |column: &'static str, sealed: &Option<Vec<u8>>| -> Option<String> {
            let (key, sealed) = (key?, sealed.as_ref()?);
            key.open(reason_binding(&r.id, column), sealed).ok().map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        RequestReport {
            id: r.id,
            kind: r.kind.clone(),
            kind_label: RequestKind::parse(&r.kind).map(|k| k.label(lang)).unwrap_or("?").to_string(),
            channel: r.channel.clone(),
            scope: r.scope.clone(),
            received_on: date_of(r.received_at),
            due_on: r.due_on,
            extended_to: r.extended_to,
            extension_reason: open("extension_reason", &r.extension_reason),
            standing: Standing::of(r, today),
            decided_on: r.decided_at.map(date_of),
            decision_reason: open("decision_reason", &r.decision_reason),
            restricts: r.restricts_on(today),
        }
    }

    /// The DPO's queue: open requests by deadline (`open`), or the latest closed ones. Reading it
    /// is audited, since it opens the people's words.
    pub async fn request_queue(&self, staff: &Staff, open: bool, lang: Lang) -> Result<Vec<RequestView>, CoreError> {
        let requests = self.store.backend().rights_requests(open, 500).await?;
        let mut views = Vec::with_capacity(requests.len());
        for request in &requests {
            views.push(self.view(request, lang).await?);
        }
        let event = AuditEvent::new(
            &staff.actor(),
            "rights_request.queue_read",
            None,
            serde_json::json!({"open": open, "requests": views.len()}),
        );
        self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit: vec![event] }).await?;
        Ok(views)
    }

    /// One request for the DPO, audited as a read of the person's data.
    pub async fn request_view(&self, staff: &Staff, id: RightsRequestId, lang: Lang) -> Result<RequestView, CoreError> {
        let request = self.store.backend().rights_request(id).await?.ok_or(CoreError::UnknownRequest)?;
        let view = self.view(&request, lang).await?;
        let event = AuditEvent::new(
            &staff.actor(),
            "rights_request.read",
            Some(request.subject),
            serde_json::json!({"request": id.to_string()}),
        );
        self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit: vec![event] }).await?;
        Ok(view)
    }

    async fn view(&self, request: &RightsRequest, lang: Lang) -> Result<RequestView, CoreError> {
        let backend = self.store.backend();
        let key = match backend.subject_key(request.subject).await? {
            Some(wrapped) => Some(self.keys.subject_key(request.subject, &wrapped)?),
            None => None,
        };
        let today = self.clock.today();
        let details = match (&key, request.details_item) {
            (Some(key), Some(item)) => backend
                .items_of(request.subject)
                .await?
                .iter()
                .find(|i| i.id == item)
                .and_then(|i| key.open(crate::personal::item_binding(&i.id), &i.value).ok())
                .map(|v| String::from_utf8_lossy(&v).into_owned()),
            _ => None,
        };
        Ok(RequestView {
            report: self.request_report(request, key.as_ref(), today, lang),
            subject: request.subject,
            details,
            may_extend: may_extend(request, today),
            decided_by: request.decided_by.clone(),
            created_by: request.created_by.clone(),
        })
    }

    /// How many open requests are past their deadline today: the alarm on every staff page.
    pub async fn overdue_requests(&self) -> Result<usize, CoreError> {
        let today = self.clock.today();
        let open = self.store.backend().rights_requests(true, 10_000).await?;
        Ok(open.iter().filter(|r| today > r.effective_due()).count())
    }

    /// Mails the controller's privacy contact (the DPO, if there is one) the open requests that
    /// are overdue or due within [`REMINDER_DAYS`], by pseudonymous reference only, at most once a
    /// day across all nodes (under a lease). Returns how many were listed; nothing is sent when
    /// none is.
    pub async fn remind_due_requests<M: Mailer>(&self, mailer: &M) -> Result<usize, CoreError> {
        let today = self.clock.today();
        let open = self.store.backend().rights_requests(true, 10_000).await?;
        let due: Vec<&RightsRequest> =
            open.iter().filter(|r| matches!(Standing::of(r, today), Standing::DueSoon | Standing::Overdue)).collect();
        if due.is_empty() || !self.take_lease(REMINDER_JOB, 24 * 60).await? {
            return Ok(0);
        }
        let url = &self.settings.public_url;
        let lines: Vec<String> = due
            .iter()
            .map(|r| {
                format!(
                    "- {} / {}: {} – {} – {url}/admin/requests/{}",
                    Standing::of(r, today).label(Lang::Da),
                    Standing::of(r, today).label(Lang::En),
                    r.kind,
                    pactum_store::date_to_text(r.effective_due()),
                    r.id
                )
            })
            .collect();
        let to = match &self.policy.controller.dpo {
            Some(dpo) => dpo.email.clone(),
            None => self.policy.controller.email.clone(),
        };
        let text = format!(
            "Disse anmodninger om rettigheder har frist inden for {REMINDER_DAYS} dage eller er overskredet              (GDPR art. 12, stk. 3).\nThese rights requests are due within {REMINDER_DAYS} days or overdue.\n\n{}\n\n\
             {url}/admin/requests\n",
            lines.join("\n"),
        );
        let subject = format!("Pactum: {} anmodning(er) med frist / rights request(s) due", due.len());
        let message = self.direct_message(&to, &subject, text).map_err(CoreError::Vault)?;
        let sender = self.settings.mail_from(&self.policy);
        mailer
            .deliver(pactum_store::MailId::new(), &sender, &to, &message)
            .await
            .map_err(|e| CoreError::Vault(e.to_string()))?;
        let event =
            AuditEvent::new("system", "rights_request.reminder", None, serde_json::json!({"requests": due.len()}));
        self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit: vec![event] }).await?;
        Ok(due.len())
    }

    async fn contact(&self, subject: SubjectId) -> Result<(pactum_vault::SubjectKey, String), CoreError> {
        let backend = self.store.backend();
        let wrapped = backend.subject_key(subject).await?.ok_or(CoreError::SubjectGone)?;
        let key = self.keys.subject_key(subject, &wrapped)?;
        let values = self.open_values(subject, None, &["email"]).await?.ok_or(CoreError::SubjectGone)?;
        let email = values.into_iter().next().map(|(_, v)| v).ok_or(CoreError::SubjectGone)?;
        Ok((key, email))
    }

    fn seal_reason(
        &self,
        key: &pactum_vault::SubjectKey,
        id: &RightsRequestId,
        column: &'static str,
        reason: &str,
    ) -> Result<Vec<u8>, CoreError> {
        key.seal(reason_binding(id, column), reason.as_bytes()).map_err(|e| CoreError::Vault(e.to_string()))
    }

    fn receipt_mail(&self, to: &str, request: &RightsRequest, lang: Lang) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let kind = RequestKind::parse(&request.kind).map(|k| k.label(lang)).unwrap_or("?");
        let due = pactum_policy::format_date(request.due_on, lang);
        let restricted = request.restricts;
        let (subject, text) = match lang {
            Lang::Da => (
                format!("Vi har modtaget din anmodning – {controller}"),
                format!(
                    "Hej\n\nVi har modtaget din anmodning: {kind}.\nVi svarer senest {due}.{}\n\n\
                     Du kan se anmodningen under «Mine data»: {}/mine-data\n\nVenlig hilsen\n{controller}\n",
                    if restricted {
                        "\nIndtil vi har svaret, bruger vi ikke dine oplysninger til andet end at opbevare dem."
                    } else {
                        ""
                    },
                    self.settings.public_url
                ),
            ),
            Lang::En => (
                format!("We have received your request – {controller}"),
                format!(
                    "Hello\n\nWe have received your request: {kind}.\nWe will answer by {due} at the latest.{}\n\n\
                     You can see the request under \"My data\": {}/en/my-data\n\nKind regards\n{controller}\n",
                    if restricted {
                        "\nUntil we have answered, we only store your data and use it for nothing else."
                    } else {
                        ""
                    },
                    self.settings.public_url
                ),
            ),
        };
        OutgoingMail { to: to.into(), subject, text, headers: Vec::new() }
    }

    fn extension_mail(&self, to: &str, request: &RightsRequest, reason: &str, lang: Lang) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let kind = RequestKind::parse(&request.kind).map(|k| k.label(lang)).unwrap_or("?");
        let until = pactum_policy::format_date(request.effective_due(), lang);
        let (subject, text) = match lang {
            Lang::Da => (
                format!("Vi skal bruge mere tid på din anmodning – {controller}"),
                format!(
                    "Hej\n\nVi har brug for mere tid til at besvare din anmodning ({kind}). Vi svarer senest {until}.\n\n\
                     Begrundelse: {reason}\n\nDu kan klage til Datatilsynet, www.datatilsynet.dk.\n\nVenlig hilsen\n{controller}\n"
                ),
            ),
            Lang::En => (
                format!("We need more time for your request – {controller}"),
                format!(
                    "Hello\n\nWe need more time to answer your request ({kind}). We will answer by {until} at the latest.\n\n\
                     Reason: {reason}\n\nYou can complain to Datatilsynet, the Danish Data Protection Agency, www.datatilsynet.dk.\n\n\
                     Kind regards\n{controller}\n"
                ),
            ),
        };
        OutgoingMail { to: to.into(), subject, text, headers: Vec::new() }
    }

    fn decision_mail(
        &self,
        to: &str,
        request: &RightsRequest,
        outcome: Outcome,
        reason: &str,
        lang: Lang,
    ) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let kind = RequestKind::parse(&request.kind).map(|k| k.label(lang)).unwrap_or("?");
        let lifted = request.restricted_until.map(|d| pactum_policy::format_date(d, lang));
        let (subject, mut text) = match (lang, outcome) {
            (Lang::Da, Outcome::Done) => (
                format!("Din anmodning er gennemført – {controller}"),
                format!("Hej\n\nVi har gennemført din anmodning ({kind}).\n\n{reason}\n"),
            ),
            (Lang::Da, Outcome::Rejected) => (
                format!("Svar på din anmodning – {controller}"),
                format!(
                    "Hej\n\nVi kan ikke imødekomme din anmodning ({kind}).\n\nBegrundelse: {reason}\n\n\
                     Du har ret til at klage til Datatilsynet, Carl Jacobsens Vej 35, 2500 Valby, www.datatilsynet.dk, \
                     og til at indbringe sagen for domstolene.\n"
                ),
            ),
            (Lang::En, Outcome::Done) => (
                format!("Your request has been carried out – {controller}"),
                format!("Hello\n\nWe have carried out your request ({kind}).\n\n{reason}\n"),
            ),
            (Lang::En, Outcome::Rejected) => (
                format!("Answer to your request – {controller}"),
                format!(
                    "Hello\n\nWe cannot grant your request ({kind}).\n\nReason: {reason}\n\n\
                     You have the right to complain to Datatilsynet, the Danish Data Protection Agency, \
                     Carl Jacobsens Vej 35, 2500 Valby, www.datatilsynet.dk, and to take the matter to court.\n"
                ),
            ),
        };
        if let Some(lifted) = lifted {
            text.push_str(&match lang {
                Lang::Da => format!("\nBegrænsningen af behandlingen af dine oplysninger ophæves den {lifted}.\n"),
                Lang::En => format!("\nThe restriction of the processing of your data will be lifted on {lifted}.\n"),
            });
        }
        text.push_str(&format!("\n{controller}\n"));
        OutgoingMail { to: to.into(), subject, text, headers: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn p34_due_one_calendar_month_later() {
        assert_eq!(due_on(date!(2027 - 03 - 05)), date!(2027 - 04 - 05));
        assert_eq!(due_on(date!(2027 - 12 - 15)), date!(2028 - 01 - 15));
    }

    #[test]
    fn p34_month_ends_clamp_to_the_last_day_of_the_next_month() {
        assert_eq!(due_on(date!(2027 - 01 - 31)), date!(2027 - 02 - 28));
        assert_eq!(due_on(date!(2028 - 01 - 31)), date!(2028 - 02 - 29));
        assert_eq!(due_on(date!(2028 - 01 - 29)), date!(2028 - 02 - 29));
        assert_eq!(due_on(date!(2027 - 01 - 29)), date!(2027 - 02 - 28));
        assert_eq!(due_on(date!(2027 - 03 - 31)), date!(2027 - 04 - 30));
        assert_eq!(due_on(date!(2027 - 08 - 31)), date!(2027 - 09 - 30));
        // February's last day is followed by the same day, not by March's last.
        assert_eq!(due_on(date!(2027 - 02 - 28)), date!(2027 - 03 - 28));
    }

    #[test]
    fn l1_extension_adds_at_most_two_months_counted_from_receipt() {
        assert_eq!(extended_due(date!(2027 - 01 - 31), 2), date!(2027 - 04 - 30));
        assert_eq!(extended_due(date!(2027 - 01 - 31), 1), date!(2027 - 03 - 31));
        assert_eq!(extended_due(date!(2027 - 11 - 30), 2), date!(2028 - 02 - 29));
    }

    fn request(received: Date) -> RightsRequest {
        RightsRequest {
            id: RightsRequestId::new(),
            subject: SubjectId::new(),
            kind: "access".into(),
            channel: "letter".into(),
            scope: String::new(),
            received_at: crate::clock::to_micros(received.midnight().assume_utc()),
            due_on: due_on(received),
            extended_to: None,
            extension_reason: None,
            status: "open".into(),
            restricts: false,
            restricted_until: None,
            decision_reason: None,
            decided_at: None,
            decided_by: None,
            instance: None,
            details_item: None,
            created_by: "staff:x".into(),
            lang: "da".into(),
        }
    }

    #[test]
    fn l1_extension_only_once_and_only_within_the_first_month() {
        let mut r = request(date!(2027 - 01 - 31));
        assert!(may_extend(&r, date!(2027 - 02 - 28)), "on the deadline day itself");
        assert!(!may_extend(&r, date!(2027 - 03 - 01)), "after the first month");
        r.extended_to = Some(extended_due(date!(2027 - 01 - 31), 1));
        assert!(!may_extend(&r, date!(2027 - 02 - 10)), "a second extension");
        r.extended_to = None;
        r.status = "done".into();
        assert!(!may_extend(&r, date!(2027 - 02 - 10)), "a closed request");
    }

    #[test]
    fn p34_overdue_is_the_day_after_the_effective_deadline() {
        let mut r = request(date!(2027 - 01 - 31));
        assert_eq!(Standing::of(&r, date!(2027 - 02 - 01)), Standing::Open);
        assert_eq!(Standing::of(&r, date!(2027 - 02 - 21)), Standing::DueSoon);
        assert_eq!(Standing::of(&r, date!(2027 - 02 - 28)), Standing::DueSoon);
        assert_eq!(Standing::of(&r, date!(2027 - 03 - 01)), Standing::Overdue);
        r.extended_to = Some(extended_due(date!(2027 - 01 - 31), 2));
        assert_eq!(Standing::of(&r, date!(2027 - 03 - 01)), Standing::Open);
        assert_eq!(Standing::of(&r, date!(2027 - 05 - 01)), Standing::Overdue);
        r.status = "rejected".into();
        assert_eq!(Standing::of(&r, date!(2027 - 05 - 01)), Standing::Rejected);
    }

    #[test]
    fn l3_restriction_outlives_the_decision_until_the_person_was_told() {
        let mut r = request(date!(2027 - 01 - 10));
        r.restricts = true;
        assert!(r.restricts_on(date!(2027 - 01 - 11)));
        r.status = "done".into();
        r.restricted_until = Some(date!(2027 - 01 - 20));
        assert!(r.restricts_on(date!(2027 - 01 - 19)));
        assert!(!r.restricts_on(date!(2027 - 01 - 20)));
    }
}
