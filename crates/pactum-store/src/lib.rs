//! Pactum's storage contract, shared by the SQLite and PostgreSQL adapters.
//!
//! - [`records`]: the rows Pactum stores, and [`Change`], one atomic unit of work.
//! - [`Backend`]: what an adapter implements: reads, and applying a batch of changes in one transaction.
//! - [`Store`]: the single writer in front of a backend. It group-commits concurrent changes into
//!   one transaction, links their audit events into the hash chain, and acknowledges each change
//!   only after its commit is durable (DESIGN invariants 4 and 6).
//!   Look-ups of people by e-mail address go through it too: on a backend that asks for it,
//!   many concurrent ones are answered by one read.
//! - [`audit`]: verifying the chain.
//! - [`schema`]: the privacy classification of every column.
//! - [`conformance`]: the behaviour every backend must show, run by each adapter's tests.

pub mod audit;
pub mod conformance;
mod ledger_adapter;
mod lookups;
mod records;
pub mod schema;
pub mod sql;
mod writer;

pub use records::*;
/// For the adapter macros in [`sql`], so that an adapter needs no tokio of its own.
#[doc(hidden)]
pub use tokio as __tokio;
pub use uuid::Uuid;
pub use writer::Store;

use std::future::Future;

/// Why a storage operation failed. Messages never carry personal data.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the database refused a duplicate: {0}")]
    Conflict(String),
    #[error("the database is not reachable: {0}")]
    Unavailable(String),
    #[error("the stored data is not what Pactum expects: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("there are no seats left")]
    Full,
    #[error("another node holds the lease on this job")]
    LeaseHeld,
}

/// A storage backend. Reads go straight to it; every write goes through [`Store`].
pub trait Backend: Clone + Send + Sync + 'static {
    /// Applies the batch in one transaction: either every change in it is durable, or none is.
    fn apply_batch(
        &self,
        batch: &[PreparedChange],
        head: &AuditHead,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes what committed changes deleted unrecoverable from the files as well, not only from the
    /// tables (SQLite: the write-ahead log, whose older page images still hold deleted rows, is
    /// copied into the database file, where `secure_delete` zeroed them, and truncated). The writer
    /// calls it soon after a change that forgot something; see [`Store`].
    fn scrub(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// Inserts the system keys if none exist yet, then returns the ones stored (several nodes may race here).
    fn bootstrap_vault_keys(
        &self,
        keys: &[VaultKeyRecord],
    ) -> impl Future<Output = Result<Vec<VaultKeyRecord>, StoreError>> + Send;

    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn vault_keys(&self) -> impl Future<Output = Result<Vec<VaultKeyRecord>, StoreError>> + Send;

    /// Whether [`Store::subject_by_email_index`] should answer concurrent look-ups together, with
    /// one [`subjects_by_email_indexes`](Self::subjects_by_email_indexes) read: worth it where
    /// every read is a hand-off to the database's own thread (SQLite). Where concurrent reads run
    /// side by side on separate server connections (PostgreSQL), the look-ups go one by one: the
    /// coalesced read measured slower there (docs/BENCHMARKS.md).
    const COALESCE_EMAIL_LOOKUPS: bool = false;

    /// The subjects whose e-mail blind index is one of `indexes`, each with its index, in no
    /// particular order; an index nobody has is left out.
    fn subjects_by_email_indexes(
        &self,
        indexes: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<(Vec<u8>, SubjectId)>, StoreError>> + Send;

    /// The subject whose e-mail blind index is `index`, read on its own.
    fn subject_by_email_index(
        &self,
        index: &[u8],
    ) -> impl Future<Output = Result<Option<SubjectId>, StoreError>> + Send {
        async move { Ok(self.subjects_by_email_indexes(&[index.to_vec()]).await?.first().map(|(_, subject)| *subject)) }
    }

    fn subject_key(&self, subject: SubjectId) -> impl Future<Output = Result<Option<WrappedKey>, StoreError>> + Send;

    /// Subject keys in id order after `after`, for re-wrapping under a new master key.
    fn subject_keys_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(SubjectId, WrappedKey)>, StoreError>> + Send;

    fn items_of(&self, subject: SubjectId) -> impl Future<Output = Result<Vec<StoredItem>, StoreError>> + Send;

    fn purposes_of(&self, subject: SubjectId) -> impl Future<Output = Result<Vec<PurposeInstance>, StoreError>> + Send;

    fn access_link(&self, hash: &[u8]) -> impl Future<Output = Result<Option<AccessLink>, StoreError>> + Send;

    /// The keyed blind index of a subject's e-mail address, if it has one.
    fn email_index_of(&self, subject: SubjectId) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// The outcome kept under `key_hash`, expired or not.
    fn remembered_request(
        &self,
        key_hash: &[u8],
    ) -> impl Future<Output = Result<Option<RememberedRequest>, StoreError>> + Send;

    /// The leases on jobs whose name starts with `prefix` that still run at `now`, by job.
    fn live_leases(&self, prefix: &str, now: Micros) -> impl Future<Output = Result<Vec<Lease>, StoreError>> + Send;

    /// The purpose an address was suppressed for, if it was.
    fn suppression(&self, email_index: &[u8]) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// How many subjects have a purpose whose `retain_until` is before `today`.
    fn count_subjects_with_expired_purposes(
        &self,
        today: time::Date,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Subjects (in id order, after `after`) with a purpose whose `retain_until` is before `today`.
    fn subjects_with_expired_purposes(
        &self,
        today: time::Date,
        after: Option<SubjectId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SubjectId>, StoreError>> + Send;

    /// The purposes, items, certification rows, consents and e-mail indexes of `subjects`, for the
    /// retention sweep: one page of people read at once instead of person by person.
    fn rows_of_subjects(&self, subjects: &[SubjectId]) -> impl Future<Output = Result<SubjectRows, StoreError>> + Send;

    fn deletion_proofs_of(
        &self,
        subject_ref: &str,
    ) -> impl Future<Output = Result<Vec<DeletionProof>, StoreError>> + Send;

    fn audit_heads(&self) -> impl Future<Output = Result<Vec<AuditHead>, StoreError>> + Send;

    /// Entries of one chain with `seq > after`, in stored order of `seq`, at most `limit`.
    fn audit_entries(
        &self,
        chain: &str,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// The decisions of one device (by its pseudonymous token), oldest first.
    fn cookie_consents_of_device(
        &self,
        device: &[u8],
    ) -> impl Future<Output = Result<Vec<CookieConsent>, StoreError>> + Send;

    fn cookie_consent(
        &self,
        receipt: ReceiptId,
    ) -> impl Future<Output = Result<Option<CookieConsent>, StoreError>> + Send;

    /// Leases up to `limit` pending messages due at `now` until `lease_until`, so that only one
    /// worker (on any node) delivers each.
    fn claim_mail(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxMail>, StoreError>> + Send;

    fn mail(&self, id: MailId) -> impl Future<Output = Result<Option<OutboxMail>, StoreError>> + Send;

    fn consent(&self, id: ConsentId) -> impl Future<Output = Result<Option<ConsentRecord>, StoreError>> + Send;

    fn consents_of(&self, subject: SubjectId) -> impl Future<Output = Result<Vec<ConsentRecord>, StoreError>> + Send;

    /// Every active consent for `purpose`, in id order.
    fn active_consents(&self, purpose: &str) -> impl Future<Output = Result<Vec<ConsentRecord>, StoreError>> + Send;

    fn link_token(&self, hash: &[u8]) -> impl Future<Output = Result<Option<LinkToken>, StoreError>> + Send;

    fn courses(&self) -> impl Future<Output = Result<Vec<Course>, StoreError>> + Send;

    fn sessions(&self) -> impl Future<Output = Result<Vec<CourseSession>, StoreError>> + Send;

    fn events(&self) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Seats taken on a session or event.
    fn seats_taken(&self, activity: Uuid) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Enrolments on one session or event, cancelled ones included, in id order.
    fn enrolments_of(&self, activity: uuid::Uuid) -> impl Future<Output = Result<Vec<Enrolment>, StoreError>> + Send;

    fn enrolments_of_subject(
        &self,
        subject: SubjectId,
    ) -> impl Future<Output = Result<Vec<Enrolment>, StoreError>> + Send;

    fn staff_accounts(&self) -> impl Future<Output = Result<Vec<StaffAccount>, StoreError>> + Send;

    fn staff_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<StaffAccount>, StoreError>> + Send;

    fn staff_by_setup_hash(&self, hash: &[u8])
    -> impl Future<Output = Result<Option<StaffAccount>, StoreError>> + Send;

    fn staff_account(&self, id: StaffId) -> impl Future<Output = Result<Option<StaffAccount>, StoreError>> + Send;

    fn staff_session(&self, token_hash: &[u8])
    -> impl Future<Output = Result<Option<StaffSession>, StoreError>> + Send;

    fn api_tokens(&self) -> impl Future<Output = Result<Vec<ApiToken>, StoreError>> + Send;

    fn api_token_by_hash(&self, hash: &[u8]) -> impl Future<Output = Result<Option<ApiToken>, StoreError>> + Send;

    fn order(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Orders placed by a buyer, oldest first.
    fn orders_of_buyer(&self, buyer: SubjectId) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;

    fn invoice(&self, id: InvoiceId) -> impl Future<Output = Result<Option<Invoice>, StoreError>> + Send;

    /// Invoices and credit notes of an order, by number.
    fn invoices_of_order(&self, order: OrderId) -> impl Future<Output = Result<Vec<Invoice>, StoreError>> + Send;

    /// Invoices and credit notes numbered after `after`, by number, at most `limit`.
    fn invoices_after(&self, after: u64, limit: u32) -> impl Future<Output = Result<Vec<Invoice>, StoreError>> + Send;

    /// Invoices and credit notes whose buyer is `buyer`, by number.
    fn invoices_of_buyer(&self, buyer: SubjectId) -> impl Future<Output = Result<Vec<Invoice>, StoreError>> + Send;

    /// Periodic upkeep of the storage itself (PostgreSQL: the consent log's next monthly partitions).
    fn maintain(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// The disclosure ledger's entries about a subject, oldest first.
    fn disclosures_of(&self, subject: SubjectId) -> impl Future<Output = Result<Vec<Disclosure>, StoreError>> + Send;

    /// The certification partner's messages for a session, oldest first.
    fn certification_messages_of_session(
        &self,
        session: SessionId,
    ) -> impl Future<Output = Result<Vec<CertificationMessage>, StoreError>> + Send;

    /// The certification partner's messages about a subject, oldest first.
    fn certification_messages_of_subject(
        &self,
        subject: SubjectId,
    ) -> impl Future<Output = Result<Vec<CertificationMessage>, StoreError>> + Send;

    fn certification_message(
        &self,
        id: CertificationMessageId,
    ) -> impl Future<Output = Result<Option<CertificationMessage>, StoreError>> + Send;

    /// Leases up to `limit` pending recipient notifications due at `now` until `lease_until`.
    fn claim_notifications(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RecipientNotification>, StoreError>> + Send;

    /// Recipient notifications no longer being delivered (delivered, given up or manual) whose
    /// retention counts from before `before`: the day of delivery, else the day they were queued.
    /// Oldest first, at most `limit`.
    fn settled_notifications(
        &self,
        before: Micros,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RecipientNotification>, StoreError>> + Send;

    /// Recipient notifications, newest first, at most `limit`: the DPO's delivery log.
    fn notifications(&self, limit: u32) -> impl Future<Output = Result<Vec<RecipientNotification>, StoreError>> + Send;

    /// The disclosure ledger summed per recipient and purpose, for the record of processing (L7).
    fn disclosure_counts(&self) -> impl Future<Output = Result<Vec<DisclosureCount>, StoreError>> + Send;

    /// The incident register, newest first.
    fn incidents(&self) -> impl Future<Output = Result<Vec<Incident>, StoreError>> + Send;

    fn incident(&self, id: IncidentId) -> impl Future<Output = Result<Option<Incident>, StoreError>> + Send;

    /// Open rights requests by due date (`open`), or closed ones newest first, at most `limit`.
    fn rights_requests(
        &self,
        open: bool,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RightsRequest>, StoreError>> + Send;

    fn rights_request(
        &self,
        id: RightsRequestId,
    ) -> impl Future<Output = Result<Option<RightsRequest>, StoreError>> + Send;

    /// A subject's rights requests, oldest first.
    fn rights_requests_of(
        &self,
        subject: SubjectId,
    ) -> impl Future<Output = Result<Vec<RightsRequest>, StoreError>> + Send;

    /// The disclosure ledger's entries for `recipient` made between `from` and `to` (inclusive).
    fn disclosures_to(
        &self,
        recipient: &str,
        from: Micros,
        to: Micros,
    ) -> impl Future<Output = Result<Vec<Disclosure>, StoreError>> + Send;

    /// A subject's participation records, by course end.
    fn participations_of(
        &self,
        subject: SubjectId,
    ) -> impl Future<Output = Result<Vec<Participation>, StoreError>> + Send;

    /// A session's waiting list, in the order people joined.
    fn waiting_list(&self, session: SessionId) -> impl Future<Output = Result<Vec<WaitingEntry>, StoreError>> + Send;

    /// Whether a payment-provider event with this id was applied to an order already.
    fn payment_event_applied(&self, event_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn latest_policy_activation(&self) -> impl Future<Output = Result<Option<PolicyActivation>, StoreError>> + Send;

    /// Every (table, column) of Pactum's own tables, for the classification check.
    fn schema_columns(&self) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
}
