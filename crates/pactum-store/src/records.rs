//! The records Pactum stores, and the operations a [`Change`] is made of.

use time::Date;
use uuid::Uuid;

/// UTC time in microseconds since the Unix epoch; every stored timestamp uses it.
pub type Micros = i64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7).
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                Uuid::from_slice(bytes).ok().map($name)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A data subject. Its id is the pseudonymous reference used in the audit chain and in logs.
    SubjectId
);
id_type!(
    /// One stored personal value.
    ItemId
);
id_type!(
    /// One purpose instance: this enrolment, this subscription, this invoice.
    PurposeInstanceId
);
id_type!(
    /// One deletion proof.
    ProofId
);
id_type!(
    /// The receipt of one cookie-consent decision (L12); the visitor can see it.
    ReceiptId
);
id_type!(
    /// One message in the mail outbox.
    MailId
);
id_type!(
    /// One consent (newsletter, sponsor sharing, …); also the id on its receipt (L12).
    ConsentId
);
id_type!(
    /// A course in the catalogue.
    CourseId
);
id_type!(
    /// One run of a course, with its dates and seats.
    SessionId
);
id_type!(
    /// A conference or event.
    EventId
);
id_type!(
    /// One person's enrolment on a course session, or sign-up for an event.
    EnrolmentId
);
id_type!(
    /// A staff account (admin, coordinator, instructor, DPO).
    StaffId
);
id_type!(
    /// An API token for a website or a partner.
    ApiTokenId
);
id_type!(
    /// An order of one or more seats on a course session (P04).
    OrderId
);
id_type!(
    /// An issued invoice or credit note.
    InvoiceId
);
id_type!(
    /// A place on a full session's waiting list.
    WaitingId
);
id_type!(
    /// One entry of the disclosure ledger: one person's data to one recipient (P08–P12).
    DisclosureId
);
id_type!(
    /// One message from the certification partner to a session's exam proctor (P15).
    CertificationMessageId
);
id_type!(
    /// One Art. 19 notification to a recipient (L4).
    NotificationId
);
id_type!(
    /// One personal-data breach in the incident register (L9).
    IncidentId
);
id_type!(
    /// One request from a person to exercise a right (P34, L1).
    RightsRequestId
);

/// The outcome of a request made under a key of its own, so that the same request again gets the
/// same answer and changes nothing (see `pactum_core::repeats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedRequest {
    /// A keyed hash of what the request is and the caller's key for it.
    pub key_hash: Vec<u8>,
    /// A keyed hash of the request's content, to tell a repeat from another request under the same key.
    pub request_hash: Vec<u8>,
    /// The outcome as JSON: ids only, never a personal value.
    pub outcome: String,
    pub expires_at: Micros,
}

/// Who holds the lease on a job, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job: String,
    pub holder: String,
    pub until: Micros,
}

/// A key wrapped by a master key, with the id of that master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub master_key_id: String,
    pub wrapped: Vec<u8>,
}

/// A system key (blind index, audit) as stored: wrapped under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultKeyRecord {
    pub name: String,
    pub key: WrappedKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubject {
    pub id: SubjectId,
    /// Keyed blind index of the e-mail address, for lookup without decryption.
    pub email_index: Option<Vec<u8>>,
    pub key: WrappedKey,
    pub created_at: Micros,
}

/// One personal value: who it is about, what category, where it came from, and when.
/// `value` is ciphertext under the subject's key, bound to this row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub id: ItemId,
    pub subject: SubjectId,
    pub category: String,
    pub source: String,
    pub collected_at: Micros,
    pub value: Vec<u8>,
}

/// A purpose holding some categories of one subject until `retain_until` (DESIGN invariant 2).
///
/// `retain_until` is `None` while the anchor event has not happened yet (a subscription that is
/// still active, a course that has not ended): then the purpose holds its data without an end date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeInstance {
    pub id: PurposeInstanceId,
    pub subject: SubjectId,
    pub purpose: String,
    pub basis: String,
    pub anchor: String,
    pub anchor_date: Option<Date>,
    pub retain_until: Option<Date>,
    pub started_at: Micros,
    pub ended_at: Option<Micros>,
    pub end_reason: Option<String>,
    /// The policy version of the notice the person saw when this purpose began (P03).
    pub notice_version: String,
    pub categories: Vec<String>,
    /// The values the person gave when this purpose began (or that it began over: a certification
    /// over its enrolment's), by id. What is shown or passed on for this purpose is these values,
    /// as long as they exist, so a later sign-up under the same address with other values does not
    /// change it. Empty when the purpose began over no values of its own.
    pub items: Vec<ItemId>,
}

impl PurposeInstance {
    /// Whether this purpose holds `item`: a value of a category it declares, and one of the values
    /// it began with, where it recorded those (a purpose that began before values were recorded,
    /// or over no values of its own, holds every value of its categories).
    pub fn holds(&self, item: &StoredItem) -> bool {
        self.categories.contains(&item.category) && (self.items.is_empty() || self.items.contains(&item.id))
    }

    /// Whether this purpose still holds its data on `today`.
    pub fn is_live(&self, today: Date) -> bool {
        self.retain_until.is_none_or(|until| today <= until)
    }
}

/// The record of a deletion. It holds no personal data: what class of record, whose (by
/// pseudonymous reference), under which rule, when, and a digest of what was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionProof {
    pub id: ProofId,
    pub at: Micros,
    pub record_class: String,
    pub subject_ref: String,
    pub rule: String,
    pub content_hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyActivation {
    pub version: String,
    pub source_digest: String,
    pub cookie_version: String,
    pub activated_at: Micros,
}

/// Something that happened, to be linked into the audit chain with the change that caused it.
/// `details` is JSON without clear personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub actor: String,
    pub action: String,
    pub subject_ref: Option<String>,
    pub details: String,
}

impl AuditEvent {
    pub fn new(actor: &str, action: &str, subject: Option<SubjectId>, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            actor: actor.to_string(),
            action: action.to_string(),
            subject_ref: subject.map(|s| s.to_string()),
            details: details.to_string(),
        }
    }
}

/// One cookie-consent decision from the consent widget (P28, L12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConsent {
    pub receipt: ReceiptId,
    /// Keyed hash of the widget's random device id: pseudonymous, and links a device's decisions.
    pub device: Vec<u8>,
    /// The cookie categories granted, comma-separated in a fixed order (`necessary` is always there).
    pub granted: String,
    /// How the decision was made: `click`, or `gpc` for a browser's Global Privacy Control signal.
    pub method: String,
    pub cookie_version: String,
    pub policy_version: String,
    /// The visitor's address truncated to its network (IPv4 /24, IPv6 /48).
    pub ip_prefix: String,
    pub decided_at: Micros,
}

/// A message waiting in the outbox. Its recipient and content are personal data, sealed under the
/// subject's key; once delivered (or given up) only the delivery record remains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: MailId,
    pub subject: SubjectId,
    /// What kind of message: `newsletter_confirmation`, `newsletter`, … (no personal data).
    pub kind: String,
    /// The envelope recipient and the whole RFC 5322 message, sealed. Empty once delivered or given up.
    pub sealed: Vec<u8>,
    pub status: MailStatus,
    pub attempts: u32,
    pub created_at: Micros,
    pub next_attempt_at: Micros,
    pub sent_at: Option<Micros>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    Pending,
    Sent,
    Failed,
}

impl MailStatus {
    pub fn key(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    pub fn from_key(key: &str) -> Option<MailStatus> {
        match key {
            "pending" => Some(MailStatus::Pending),
            "sent" => Some(MailStatus::Sent),
            "failed" => Some(MailStatus::Failed),
            _ => None,
        }
    }
}

/// A consent given through a form or the API, with the exact text the person saw (P07, L12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub id: ConsentId,
    pub subject: SubjectId,
    pub purpose: String,
    /// The purpose instance that holds the data this consent covers.
    pub instance: PurposeInstanceId,
    pub state: ConsentState,
    pub lang: String,
    pub policy_version: String,
    /// The exact consent text shown next to the box, and its SHA-256.
    pub text: String,
    pub text_hash: String,
    /// How it was given, e.g. `form:newsletter`, `api`.
    pub method: String,
    pub requested_at: Micros,
    pub confirmed_at: Option<Micros>,
    pub withdrawn_at: Option<Micros>,
    pub withdraw_method: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Waiting for the e-mailed confirmation (double opt-in).
    Pending,
    Active,
    Withdrawn,
}

impl ConsentState {
    pub fn key(self) -> &'static str {
        match self {
            ConsentState::Pending => "pending",
            ConsentState::Active => "active",
            ConsentState::Withdrawn => "withdrawn",
        }
    }

    pub fn from_key(key: &str) -> Option<ConsentState> {
        match key {
            "pending" => Some(ConsentState::Pending),
            "active" => Some(ConsentState::Active),
            "withdrawn" => Some(ConsentState::Withdrawn),
            _ => None,
        }
    }
}

/// A single-purpose link token, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub hash: Vec<u8>,
    pub subject: SubjectId,
    pub consent: ConsentId,
    /// `confirm` or `unsubscribe`.
    pub kind: String,
    pub expires_at: Option<Micros>,
    pub used_at: Option<Micros>,
}

/// A link into "My data" (L1), stored only as its hash: the mailed one (`mail`, single-use) or
/// the portal token it is exchanged for (`portal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLink {
    pub hash: Vec<u8>,
    pub subject: SubjectId,
    pub kind: String,
    pub expires_at: Micros,
    pub used_at: Option<Micros>,
}

/// A course in the catalogue. Catalogue records hold no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Course {
    pub id: CourseId,
    pub slug: String,
    pub title_da: String,
    pub title_en: String,
    pub summary_da: String,
    pub summary_en: String,
    /// The policy recipient (a course partner) that delivers it; `None` when the provider does (P08).
    pub delivered_by: Option<String>,
    /// Whether certification through the certification partner is offered (P13).
    pub certification: bool,
    /// A buyer may cancel free of charge until this many days before a session starts.
    pub cancel_free_days: u32,
    /// After that, this share of the price is kept as a cancellation fee (100: no refund).
    pub cancel_late_fee_percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSession {
    pub id: SessionId,
    pub course: CourseId,
    pub starts_on: Date,
    /// The course end: the anchor of the participation record's five years (P18).
    pub ends_on: Date,
    pub location: String,
    pub online: bool,
    pub language: String,
    /// Price per seat in øre, VAT excluded.
    pub price_ore: i64,
    pub seats: u32,
    /// The username of the staff account that teaches it; only that instructor sees its roster.
    pub instructor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub slug: String,
    pub title_da: String,
    pub title_en: String,
    pub summary_da: String,
    pub summary_en: String,
    pub starts_on: Date,
    pub ends_on: Date,
    pub location: String,
    /// The policy recipient that co-organises it, shown before sign-up (P09).
    pub co_organiser: Option<String>,
    /// The policy recipient that sponsors it; receives data only with the separate box ticked (C3).
    pub sponsor: Option<String>,
    pub seats: u32,
}

/// One person on a course session's roster, or on an event's attendee list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub id: EnrolmentId,
    /// The session or event id.
    pub activity: uuid::Uuid,
    /// `course_session` or `event`.
    pub kind: String,
    pub subject: SubjectId,
    /// The purpose instance of the enrolment itself.
    pub instance: PurposeInstanceId,
    /// The certification purpose instance, when the person opted in (P13).
    pub certification: Option<PurposeInstanceId>,
    /// The sponsor-sharing consent, when the person ticked that box (P09, C3).
    pub sponsor_consent: Option<ConsentId>,
    pub created_at: Micros,
    pub cancelled_at: Option<Micros>,
}

/// A staff account. It holds no data subject's data; its TOTP seed is sealed and its password
/// is kept only as an argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccount {
    pub id: StaffId,
    pub username: String,
    /// `admin`, `coordinator`, `instructor` or `dpo`.
    pub role: String,
    /// The argon2id hash in PHC form; `None` until the account is set up.
    pub password_hash: Option<String>,
    /// The TOTP seed, sealed under a key derived from the vault's system key.
    pub totp_secret: Vec<u8>,
    /// Consecutive failed logins since the last success.
    pub failed_logins: u32,
    pub locked_until: Option<Micros>,
    /// The hash of the one-time setup link, while the account waits to be set up.
    pub setup_hash: Option<Vec<u8>>,
    pub setup_expires_at: Option<Micros>,
    pub created_at: Micros,
    pub disabled_at: Option<Micros>,
}

/// A signed-in staff member's session; the cookie holds the token, the database only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub token_hash: Vec<u8>,
    pub staff: StaffId,
    pub created_at: Micros,
    pub expires_at: Micros,
}

/// A scoped API token; the database keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub token_hash: Vec<u8>,
    pub name: String,
    /// Scopes, comma-separated (e.g. `catalogue:write`).
    pub scopes: String,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

/// An order of seats on one course session, by a person or a company (P04). It holds no personal
/// data: the buyer's details are items of the buyer subject, held by the order's purpose instance;
/// each named participant is a subject of their own with an [`Enrolment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub session: SessionId,
    /// The person who ordered, or the company's contact person.
    pub buyer: SubjectId,
    /// `person` or `company`.
    pub buyer_kind: String,
    /// The `order` purpose instance that holds the buyer's details.
    pub instance: PurposeInstanceId,
    pub participants: Vec<EnrolmentId>,
    /// Price per seat in øre, VAT excluded, as it was when ordered.
    pub unit_price_ore: i64,
    /// `placed` or `cancelled`.
    pub status: String,
    /// `invoice` (bank transfer) or a payment provider's key.
    pub payment_method: String,
    /// `pending`, `paid`, `refunded` or `cancelled`.
    pub payment_status: String,
    /// The payment provider's checkout session, while one is open or after it completed.
    pub payment_session: Option<String>,
    /// The provider's reference of the payment itself (what a refund names).
    pub payment_ref: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// A place on a full session's waiting list. The person's details are items of `subject`, held by
/// the `waiting_list` purpose instance until the course has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingEntry {
    pub id: WaitingId,
    pub session: SessionId,
    pub subject: SubjectId,
    pub instance: PurposeInstanceId,
    pub created_at: Micros,
    /// When the person was told that a seat became free.
    pub notified_at: Option<Micros>,
}

/// One event from a payment provider, applied to an order once (by `event_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The provider's own event id (or one Pactum makes for a change it starts, such as a refund).
    pub event_id: String,
    pub order: OrderId,
    /// `checkout_started`, `paid`, `expired`, `refunded`, …
    pub kind: String,
    /// The order's status and payment status the event was decided on; the event is applied only
    /// while the order still has them.
    pub expected: (String, String),
    /// The order's payment status after the event.
    pub payment_status: String,
    pub session: Option<String>,
    pub payment_ref: Option<String>,
    pub at: Micros,
}

/// One person's data disclosed to one recipient (P08–P12, L4): who received which categories,
/// for which purpose, on which basis, and when. Every subject of one export shares its `batch`.
/// It holds no personal value itself; the entry goes with the purpose instance it was made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    pub id: DisclosureId,
    pub batch: Uuid,
    /// The policy key of the recipient.
    pub recipient: String,
    pub purpose: String,
    pub basis: String,
    /// The categories disclosed, in policy order.
    pub categories: Vec<String>,
    pub subject: SubjectId,
    /// The purpose instance the data was disclosed under.
    pub instance: PurposeInstanceId,
    /// The session or event the export was for.
    pub activity: Option<Uuid>,
    /// How the export named the person to the recipient (an enrolment id, an invoice number), so
    /// that a later notification can name them the same way without personal data (L4).
    pub reference: String,
    /// For a disclosure under a legal obligation: the statute the request cites (P12).
    pub statute: Option<String>,
    /// Who made it: a staff account (`staff:…`) or an API token (`token:…`).
    pub actor: String,
    pub at: Micros,
}

/// How many ledger entries one recipient has for one purpose, and when the newest was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureCount {
    pub recipient: String,
    pub purpose: String,
    pub entries: u64,
    pub newest: Micros,
}

/// A message from the certification partner to the exam proctor of one session (P15): the
/// registration notice before the exam, or the result after it. Its content (subject line and
/// body) is sealed under the participant's key and bound to this row. It is held by the
/// participant's `exam_proctoring` purpose instance and goes when that instance does (P16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificationMessage {
    pub id: CertificationMessageId,
    pub session: SessionId,
    pub enrolment: EnrolmentId,
    pub subject: SubjectId,
    pub instance: PurposeInstanceId,
    /// `registration` or `result`.
    pub kind: String,
    pub sealed: Vec<u8>,
    pub received_at: Micros,
}

/// The participation record (P17): the course attended, its end date and whether the person passed
/// the certification, and nothing else. `passed` is sealed under the subject's key. It is held by
/// the `certification_record` purpose instance for five years after the course end (P18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participation {
    pub enrolment: EnrolmentId,
    pub subject: SubjectId,
    pub instance: PurposeInstanceId,
    pub course: CourseId,
    pub ends_on: Date,
    pub passed: Vec<u8>,
    pub recorded_at: Micros,
}

/// An Art. 19 notification to a recipient (L4): that data it received under `reference` was erased
/// or restricted. It holds no personal value: the recipient, the pseudonymous reference from its
/// export and the delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientNotification {
    pub id: NotificationId,
    pub recipient: String,
    /// `email`, `webhook`, or `manual` for a recipient the policy gives no `notify` for.
    pub channel: String,
    /// `erasure`, `restriction`, or `objection` (to the certification disclosure, P14).
    pub kind: String,
    pub reference: String,
    pub disclosed_at: Micros,
    /// The person, by pseudonymous id, for the DPO's log.
    pub subject_ref: String,
    /// `pending`, `delivered`, `failed` (given up) or `manual`.
    pub status: String,
    pub attempts: u32,
    pub created_at: Micros,
    pub next_attempt_at: Micros,
    pub delivered_at: Option<Micros>,
    /// Why the last attempt failed, without personal data.
    pub last_error: Option<String>,
}

/// A personal-data breach as staff record it (GDPR Art. 33–34, L9). Who is affected is not stored
/// but derived when read: the people in the audit chain within the window (those an `actor` touched,
/// if one is named) and those disclosed to `recipient` within it. Staff are asked to write no
/// names into the texts; the record is about the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: IncidentId,
    pub title: String,
    /// The nature of the breach (Art. 33(3)(a)).
    pub description: String,
    /// When the provider became aware: the 72-hour clock runs from here (Art. 33(1)).
    pub aware_at: Micros,
    pub occurred_from: Micros,
    pub occurred_to: Micros,
    /// A recipient whose copy of the data was affected.
    pub recipient: Option<String>,
    /// A staff account or API token (`staff:…`, `token:…`) whose actions were affected.
    pub actor: Option<String>,
    /// The policy categories concerned.
    pub categories: Vec<String>,
    /// Likely consequences (Art. 33(3)(c)).
    pub consequences: String,
    /// Measures taken or proposed (Art. 33(3)(d)).
    pub measures: String,
    /// `unlikely` (no risk: recorded, not reported), `risk` (report to the authority) or `high`
    /// (report, and tell the people affected, Art. 34).
    pub risk: String,
    pub authority_notified_at: Option<Micros>,
    pub created_by: String,
    pub created_at: Micros,
}

/// A request from a person to exercise a right (GDPR Art. 12–22, P34, L1): received on a channel,
/// due one calendar month later, perhaps extended by up to two more, and closed `done` or
/// `rejected` with a reason. Self-service actions in "My data" are recorded closed at once.
///
/// A request staff must handle is held by its own `rights_requests` purpose instance, which holds
/// the person's contact and the request's text as items (`details_item`) until the request is
/// closed and its retention has run. A self-service entry holds no personal value: only the
/// pseudonymous subject id, what it concerned (`scope`, e.g. a purpose or category keys) and when.
/// Staff's reasons are sealed under the person's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightsRequest {
    pub id: RightsRequestId,
    pub subject: SubjectId,
    /// `access`, `rectification`, `erasure`, `restriction`, `objection`, `portability`,
    /// `withdrawal` or `other`.
    pub kind: String,
    /// `portal`, `email`, `phone`, `letter` or `in_person`.
    pub channel: String,
    /// What the request concerns, as policy keys (purposes or categories), never values.
    pub scope: String,
    pub received_at: Micros,
    pub due_on: Date,
    pub extended_to: Option<Date>,
    pub extension_reason: Option<Vec<u8>>,
    /// `open`, `done` or `rejected`.
    pub status: String,
    /// Whether the person's data is restricted while the request is open (L3, P35).
    pub restricts: bool,
    /// After a decision on a restricting request, the restriction lasts until this date, so that
    /// the person is told before it is lifted (L3).
    pub restricted_until: Option<Date>,
    pub decision_reason: Option<Vec<u8>>,
    pub decided_at: Option<Micros>,
    pub decided_by: Option<String>,
    pub instance: Option<PurposeInstanceId>,
    pub details_item: Option<ItemId>,
    pub created_by: String,
    /// The language the person is answered in (`da`, `en`).
    pub lang: String,
}

impl RightsRequest {
    /// The date the answer is due, after any extension.
    pub fn effective_due(&self) -> Date {
        self.extended_to.unwrap_or(self.due_on)
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    /// Whether the request restricts the person's data on `today`.
    pub fn restricts_on(&self, today: Date) -> bool {
        self.restricts && (self.is_open() || self.restricted_until.is_some_and(|until| today < until))
    }
}

/// The one series invoices and credit notes are numbered in.
pub const INVOICE_SERIES: &str = "invoice";

/// An issued invoice or credit note. Immutable: there is no operation that changes one; a correction
/// is a credit note. Its number comes from one gapless series, assigned in the issuing transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: InvoiceId,
    /// Assigned by the backend when the invoice is issued; 0 in an [`Op::IssueInvoice`].
    pub number: u64,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// The invoice a credit note corrects.
    pub credits: Option<InvoiceId>,
    pub order: OrderId,
    pub buyer: SubjectId,
    /// The `bookkeeping` purpose instance (legal obligation, L6) that keeps it.
    pub instance: PurposeInstanceId,
    pub issued_on: Date,
    pub due_on: Date,
    /// The lines as JSON: description, quantity, unit price and VAT rate. No personal data.
    pub lines: String,
    pub net_ore: i64,
    pub vat_ore: i64,
    pub total_ore: i64,
    /// The buyer block as issued (name, company, CVR, address, reference), sealed under the
    /// buyer's key and bound to this row.
    pub buyer_sealed: Vec<u8>,
    pub created_at: Micros,
}

/// An audit event as stored: numbered within its chain and linked to its predecessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub chain: String,
    pub seq: u64,
    pub at: Micros,
    pub actor: String,
    pub action: String,
    pub subject_ref: Option<String>,
    pub details: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditEntry {
    /// The fields the link covers, in a fixed order.
    pub fn linked_fields(&self) -> [Vec<u8>; 7] {
        [
            self.chain.as_bytes().to_vec(),
            self.seq.to_be_bytes().to_vec(),
            self.at.to_be_bytes().to_vec(),
            self.actor.as_bytes().to_vec(),
            self.action.as_bytes().to_vec(),
            self.subject_ref.as_deref().unwrap_or("").as_bytes().to_vec(),
            self.details.as_bytes().to_vec(),
        ]
    }
}

/// The last link of a chain, MACed so that cutting entries off the end is detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    pub chain: String,
    pub seq: u64,
    pub hash: Vec<u8>,
    pub mac: Vec<u8>,
}

/// One operation inside a [`Change`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateSubject(NewSubject),
    PutItem(StoredItem),
    StartPurpose(PurposeInstance),
    /// The anchor event of a purpose happened: from now on it holds its data until `retain_until`.
    SetRetention {
        instance: PurposeInstanceId,
        anchor_date: Date,
        retain_until: Date,
    },
    /// The purpose ended early (withdrawal, objection, erasure); it holds data until `retain_until`.
    EndPurpose {
        instance: PurposeInstanceId,
        ended_at: Micros,
        reason: String,
        retain_until: Date,
    },
    /// The values a purpose holds are now `items` (see [`PurposeInstance::items`]): a value the
    /// person corrected is replaced by the corrected one.
    SetPurposeItems {
        instance: PurposeInstanceId,
        items: Vec<ItemId>,
    },
    DeleteItem(ItemId),
    PutAccessLink(AccessLink),
    /// Uses a single-use link; fails with [`StoreError::Conflict`](crate::StoreError::Conflict) if it was used already.
    UseAccessLink {
        hash: Vec<u8>,
        at: Micros,
    },
    /// Takes or renews the lease on a periodic job until `until`. Fails with
    /// [`StoreError::LeaseHeld`](crate::StoreError::LeaseHeld) while another holder's lease runs.
    TakeLease {
        job: String,
        holder: String,
        now: Micros,
        until: Micros,
    },
    /// Keeps a request's outcome under its key. Fails with a conflict when the key is kept already
    /// (the same request, made twice at once), so that the change it belongs to is not made twice.
    RememberRequest(RememberedRequest),
    /// Forgets the kept outcomes that expired before `now`.
    ForgetExpiredRequests {
        now: Micros,
    },
    /// Gives up `holder`'s lease on `job` at once: the lease is gone, not merely run out.
    ReleaseLease {
        job: String,
        holder: String,
    },
    /// Forgets every lease on a job whose name starts with `prefix` that ran out before `now` (the
    /// registrations of servers that were killed, which nobody releases).
    ForgetExpiredLeases {
        prefix: String,
        now: Micros,
    },
    /// Keeps the blind index of an address whose consent to `purpose` was withdrawn (P20).
    Suppress {
        email_index: Vec<u8>,
        purpose: String,
        since: Micros,
    },
    /// Removes a purpose instance whose retention ran out, with what hangs on it: its holds, the
    /// enrolment it is the purpose of, and its consents with their link tokens.
    DeletePurpose(PurposeInstanceId),
    /// Crypto-shreds subjects: their keys are deleted first, then every row that belongs to them.
    ShredSubjects(Vec<SubjectId>),
    RecordDeletion(DeletionProof),
    RewrapSubjectKey {
        subject: SubjectId,
        key: WrappedKey,
    },
    RewrapVaultKey(VaultKeyRecord),
    ActivatePolicy(PolicyActivation),
    RecordCookieConsent(CookieConsent),
    EnqueueMail(OutboxMail),
    /// Points a subject's lookup index at a new, verified e-mail address (rectification, P25).
    SetEmailIndex {
        subject: SubjectId,
        email_index: Vec<u8>,
    },
    /// Drops every message to or about a subject, pending or delivered, except the answers to its
    /// rights requests, which the `rights_requests` hold keeps (erasure with a legal hold).
    DeleteMailOf(SubjectId),
    /// Drops a subject's messages of one kind that are not yet delivered (a marketing objection
    /// stops the newsletter already queued, P35).
    DeletePendingMail {
        subject: SubjectId,
        kind: String,
    },
    /// Delivered: the sealed content is dropped, the delivery record stays.
    MailDelivered {
        id: MailId,
        at: Micros,
    },
    /// A delivery attempt failed; retry at `next_attempt_at`, or give up (dropping the content).
    MailAttemptFailed {
        id: MailId,
        attempts: u32,
        next_attempt_at: Micros,
        give_up: bool,
    },
    RecordConsent(ConsentRecord),
    ConfirmConsent {
        id: ConsentId,
        at: Micros,
    },
    WithdrawConsent {
        id: ConsentId,
        at: Micros,
        method: String,
    },
    PutLinkToken(LinkToken),
    UseLinkToken {
        hash: Vec<u8>,
        at: Micros,
    },
    /// The purpose holds its data with no end date again (a confirmed subscription).
    ClearRetention {
        instance: PurposeInstanceId,
    },
    PutCourse(Course),
    PutSession(CourseSession),
    PutEvent(Event),
    /// Adds the enrolment only while fewer than `seats` enrolments on its activity are active;
    /// otherwise the change fails with [`StoreError::Full`](crate::StoreError::Full).
    Enrol {
        enrolment: Enrolment,
        seats: u32,
    },
    /// Adds a staff account or replaces it whole (set-up, role change, disabling).
    PutStaff(StaffAccount),
    /// A failed login: counts it, and locks the account until `locked_until` once `lock_after`
    /// consecutive failures are reached.
    StaffLoginFailed {
        staff: StaffId,
        lock_after: u32,
        locked_until: Micros,
    },
    /// A successful login: the failure count starts again, and the TOTP step used is recorded. Fails
    /// with [`StoreError::Conflict`](crate::StoreError::Conflict) if that step (or a later one) was used
    /// already, so that a code works once.
    StaffLoginSucceeded {
        staff: StaffId,
        totp_step: i64,
    },
    PutStaffSession(StaffSession),
    /// Ends one session, or every session that expired before `expired_before`.
    DeleteStaffSession {
        token_hash: Vec<u8>,
    },
    DeleteExpiredStaffSessions {
        expired_before: Micros,
    },
    PutApiToken(ApiToken),
    RevokeApiToken {
        id: ApiTokenId,
        at: Micros,
    },
    /// Adds an order, with its participants; their enrolments are [`Op::Enrol`]s of the same change.
    PutOrder(Order),
    /// Changes an order's status and payment status, only while it still has the `expected` ones
    /// (status, payment status); otherwise the change fails with
    /// [`StoreError::Conflict`](crate::StoreError::Conflict), so a decision made on a stale read
    /// (a payment and a cancellation crossing) is never written.
    UpdateOrder {
        id: OrderId,
        expected: (String, String),
        status: String,
        payment_status: String,
        at: Micros,
    },
    /// Applies a payment event to its order; fails with [`StoreError::Conflict`](crate::StoreError::Conflict)
    /// when an event with the same id was applied already.
    RecordPayment(PaymentEvent),
    JoinWaitingList(WaitingEntry),
    /// The person on the waiting list was told that a seat became free.
    WaitingNotified {
        id: WaitingId,
        at: Micros,
    },
    /// Issues an invoice under the next number of the gapless series (its `number` is ignored).
    IssueInvoice(Invoice),
    /// Cancels an enrolment and gives its seat back.
    CancelEnrolment {
        id: EnrolmentId,
        activity: Uuid,
        at: Micros,
    },
    /// Writes entries into the disclosure ledger.
    RecordDisclosures(Vec<Disclosure>),
    PutCertificationMessage(CertificationMessage),
    /// Records a participation, or replaces the result of the one recorded for that enrolment.
    PutParticipation(Participation),
    QueueNotifications(Vec<RecipientNotification>),
    /// Adds an incident or replaces it whole (e.g. once the authority was notified).
    PutIncident(Incident),
    /// Adds a rights request or replaces it whole (extended, decided).
    PutRightsRequest(RightsRequest),
    NotificationDelivered {
        id: NotificationId,
        at: Micros,
    },
    /// A delivery attempt failed; retry at `next_attempt_at`, or give up.
    NotificationFailed {
        id: NotificationId,
        attempts: u32,
        next_attempt_at: Micros,
        give_up: bool,
        error: String,
    },
    /// Deletes recipient notifications whose retention ran out (the retention sweep).
    DeleteNotifications(Vec<NotificationId>),
    /// Deletes an incident whose retention ran out (the retention sweep).
    DeleteIncident(IncidentId),
}

impl Op {
    /// Whether this operation deletes personal data or a key, so that the files must be scrubbed
    /// of it afterwards (see [`Backend::scrub`](crate::Backend::scrub)).
    pub fn forgets(&self) -> bool {
        matches!(
            self,
            Op::ShredSubjects(_)
                | Op::RewrapSubjectKey { .. }
                | Op::DeleteItem(_)
                | Op::DeletePurpose(_)
                | Op::DeleteIncident(_)
        )
    }
}

/// What the retention sweep reads of a page of subjects, in one round.
#[derive(Debug, Clone, Default)]
pub struct SubjectRows {
    pub purposes: Vec<PurposeInstance>,
    pub items: Vec<StoredItem>,
    pub messages: Vec<CertificationMessage>,
    pub participations: Vec<Participation>,
    pub consents: Vec<ConsentRecord>,
    /// The e-mail blind index of each subject that has one.
    pub email_indexes: Vec<(SubjectId, Vec<u8>)>,
    /// What the disclosure ledger shows they were disclosed to, for the Art. 19 notices.
    pub disclosures: Vec<Disclosure>,
}

/// One atomic unit of work: its operations and the audit events that describe it are committed
/// together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub at: Micros,
    pub ops: Vec<Op>,
    pub audit: Vec<AuditEvent>,
}

/// A change ready for a backend: its audit events numbered and linked.
#[derive(Debug, Clone)]
pub struct PreparedChange {
    pub change: Change,
    pub entries: Vec<AuditEntry>,
}

/// `YYYY-MM-DD`, the stored form of dates in both backends.
pub fn date_to_text(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

pub fn date_from_text(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = time::Month::try_from(parts.next()?.parse::<u8>().ok()?).ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(category: &str) -> StoredItem {
        StoredItem {
            id: ItemId::new(),
            subject: SubjectId::new(),
            category: category.into(),
            source: "form:test".into(),
            collected_at: 0,
            value: Vec::new(),
        }
    }

    fn purpose(categories: &[&str], items: Vec<ItemId>) -> PurposeInstance {
        PurposeInstance {
            id: PurposeInstanceId::new(),
            subject: SubjectId::new(),
            purpose: "event_sponsor_sharing".into(),
            basis: "consent".into(),
            anchor: "event_end".into(),
            anchor_date: None,
            retain_until: None,
            started_at: 0,
            ended_at: None,
            end_reason: None,
            notice_version: "2026.1".into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            items,
        }
    }

    #[test]
    fn a_purpose_holds_its_own_values_of_its_own_categories() {
        let (name, phone, other_name) = (item("name"), item("phone"), item("name"));
        let recorded = purpose(&["name", "email"], vec![name.id, phone.id]);
        assert!(recorded.holds(&name));
        assert!(!recorded.holds(&other_name), "a value given for another purpose");
        assert!(!recorded.holds(&phone), "a category the purpose does not declare");
        let unrecorded = purpose(&["name", "email"], Vec::new());
        assert!(unrecorded.holds(&name) && unrecorded.holds(&other_name), "every value of its categories");
        assert!(!unrecorded.holds(&phone));
    }
}
