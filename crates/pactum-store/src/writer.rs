//! The single writer: group commit and the audit chain.
//!
//! Every change is sent to one task per node. It takes whatever changes are waiting (up to
//! [`MAX_BATCH`]), numbers and links their audit events, and applies them all in one transaction.
//! Each caller gets its answer only after that transaction committed, so an acknowledged write is
//! durable, yet a thousand concurrent writes cost one commit instead of a thousand. Because the
//! chain head lives in this task, linking the chain never takes a database lock.
//!
//! If a batch fails, its changes are retried one by one, so one bad change cannot fail its
//! neighbours. A batch that failed because another process appended to the same chain (a `pactum`
//! command beside `serve`) is linked again from the chain's stored head and retried.
//!
//! After a change that deleted personal data or a key, the writer also scrubs the files of it
//! ([`Backend::scrub`]), but not on the path of the answer: it waits until no change has come for
//! [`SCRUB_WHEN_IDLE`], or at the most [`SCRUB_WITHIN`] while changes keep coming.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pactum_vault::AuditKey;
use tokio::sync::{mpsc, oneshot};

use crate::lookups::EmailLookups;
use crate::{AuditEntry, AuditHead, Backend, Change, Op, PreparedChange, StoreError, SubjectId};

/// The most changes one transaction takes.
pub const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;
/// After a deletion, the files are scrubbed once the writer has had nothing to do for this long…
pub const SCRUB_WHEN_IDLE: Duration = Duration::from_millis(20);
/// …or this long after the deletion at the latest.
pub const SCRUB_WITHIN: Duration = Duration::from_secs(1);
/// How often one commit reads the chain's head again when another writer keeps moving it.
const HEAD_REREADS: u32 = 8;

type Answer = oneshot::Sender<Result<(), StoreError>>;

struct Job {
    change: Change,
    done: Answer,
}

/// A backend with its writer. Cheap to clone; all clones share the writer.
pub struct Store<B: Backend> {
    backend: B,
    jobs: mpsc::Sender<Job>,
    chain: Arc<str>,
    /// Present where the backend coalesces e-mail look-ups ([`Backend::COALESCE_EMAIL_LOOKUPS`]).
    lookups: Option<EmailLookups>,
}

impl<B: Backend> Clone for Store<B> {
    fn clone(&self) -> Self {
        Store {
            backend: self.backend.clone(),
            jobs: self.jobs.clone(),
            chain: self.chain.clone(),
            lookups: self.lookups.clone(),
        }
    }
}

impl<B: Backend> Store<B> {
    /// Starts the writer for `chain` (one chain per node, see docs/operations.md).
    pub async fn start(backend: B, audit_key: AuditKey, chain: &str) -> Result<Store<B>, StoreError> {
        let head = stored_head(&backend, chain).await?.unwrap_or(AuditHead {
            chain: chain.to_string(),
            seq: 0,
            hash: vec![0; 32],
            mac: Vec::new(),
        });
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writer = Writer { backend: backend.clone(), audit_key, head };
        tokio::spawn(writer.run(queue));
        let lookups = B::COALESCE_EMAIL_LOOKUPS.then(|| EmailLookups::start(backend.clone()));
        Ok(Store { backend, jobs, chain: chain.into(), lookups })
    }

    /// Reads go straight to the backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// The subject whose e-mail blind index is `index`, if any. Where the backend coalesces
    /// look-ups, concurrent ones are answered together by one read (see [`crate::lookups`]).
    pub async fn subject_by_email_index(&self, index: &[u8]) -> Result<Option<SubjectId>, StoreError> {
        match &self.lookups {
            Some(lookups) => lookups.subject(index).await,
            None => self.backend.subject_by_email_index(index).await,
        }
    }

    /// Commits a change; returns once it is durable.
    pub async fn commit(&self, change: Change) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { change, done })
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the writer stopped before answering".into()))?
    }
}

/// The head of `chain` as stored, if the chain has any entry yet.
async fn stored_head<B: Backend>(backend: &B, chain: &str) -> Result<Option<AuditHead>, StoreError> {
    Ok(backend.audit_heads().await?.into_iter().find(|h| h.chain == chain))
}

struct Writer<B: Backend> {
    backend: B,
    audit_key: AuditKey,
    head: AuditHead,
}

impl<B: Backend> Writer<B> {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        // Since when a deletion has waited for its scrub.
        let mut scrub_due: Option<Instant> = None;
        loop {
            let received = match scrub_due {
                None => queue.recv_many(&mut jobs, MAX_BATCH).await,
                Some(since) => {
                    let wait = SCRUB_WHEN_IDLE.min(SCRUB_WITHIN.saturating_sub(since.elapsed()));
                    match tokio::time::timeout(wait, queue.recv_many(&mut jobs, MAX_BATCH)).await {
                        Ok(received) => received,
                        Err(_quiet) => {
                            scrub_due = self.scrub().await;
                            continue;
                        }
                    }
                }
            };
            if received == 0 {
                break;
            }
            if jobs.iter().any(|job| job.change.ops.iter().any(Op::forgets)) {
                scrub_due.get_or_insert_with(Instant::now);
            }
            let batch = std::mem::take(&mut jobs);
            self.commit_batch(batch).await;
            if scrub_due.is_some_and(|since| since.elapsed() >= SCRUB_WITHIN) {
                scrub_due = self.scrub().await;
            }
        }
        if scrub_due.is_some() {
            self.scrub().await;
        }
    }

    /// Scrubs the files; returns when the next try is due if it failed.
    async fn scrub(&self) -> Option<Instant> {
        let result = self.backend.scrub().await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "the files could not be scrubbed after a deletion; trying again");
        }
        result.is_err().then(Instant::now)
    }

    async fn commit_batch(&mut self, jobs: Vec<Job>) {
        let (done, changes): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.done, j.change)).unzip();
        let (result, changes) = self.apply(changes).await;
        match result {
            Ok(()) => {
                for d in done {
                    let _ = d.send(Ok(()));
                }
            }
            Err(e) if changes.len() == 1 => {
                if matches!(e, StoreError::Full | StoreError::LeaseHeld | StoreError::Conflict(_)) {
                    // An expected refusal (a full session, a lease held elsewhere, a value taken by a
                    // concurrent change): the caller answers it.
                    tracing::debug!(error = %e, "a change was refused");
                } else {
                    tracing::warn!(error = %e, "a change was not committed");
                }
                for d in done {
                    let _ = d.send(Err(e.clone()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = changes.len(), "a batch failed; committing its changes one by one");
                for (change, d) in changes.into_iter().zip(done) {
                    let (result, _) = self.apply(vec![change]).await;
                    let _ = d.send(result);
                }
            }
        }
    }

    /// Links `changes` to the chain and applies them in one transaction, moving the head when they
    /// committed. Another process may have written to the same chain meanwhile (a `pactum` command
    /// run beside `serve`, or a second node given the same name): then the chain's head is read
    /// again and the changes are linked anew, so both writers' entries stay one unbroken chain.
    /// Gives the changes back, for a retry one by one.
    async fn apply(&mut self, mut changes: Vec<Change>) -> (Result<(), StoreError>, Vec<Change>) {
        let mut rereads = 0;
        loop {
            let (prepared, head) = self.prepare(changes);
            let result = self.backend.apply_batch(&prepared, &head).await;
            changes = prepared.into_iter().map(|p| p.change).collect();
            match result {
                Ok(()) => {
                    self.head = head;
                    return (Ok(()), changes);
                }
                Err(e) => {
                    if rereads < HEAD_REREADS && self.reread_moved_head().await {
                        rereads += 1;
                        continue;
                    }
                    return (Err(e), changes);
                }
            }
        }
    }

    /// Reads this chain's stored head; true (and taken as the head) when another writer moved it.
    async fn reread_moved_head(&mut self) -> bool {
        let stored = match stored_head(&self.backend, &self.head.chain).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "the audit chain's head could not be read again");
                return false;
            }
        };
        match stored {
            Some(stored) if stored.seq != self.head.seq || stored.hash != self.head.hash => {
                tracing::info!(
                    chain = %self.head.chain,
                    from = self.head.seq,
                    to = stored.seq,
                    "another writer extended this audit chain; continuing from its head"
                );
                self.head = stored;
                true
            }
            _ => false,
        }
    }

    /// Numbers and links the audit events of `changes`, continuing from the current head.
    fn prepare(&self, changes: Vec<Change>) -> (Vec<PreparedChange>, AuditHead) {
        let mut seq = self.head.seq;
        let mut prev = self.head.hash.clone();
        let prepared = changes
            .into_iter()
            .map(|change| {
                let entries = change
                    .audit
                    .iter()
                    .map(|event| {
                        seq += 1;
                        let mut entry = AuditEntry {
                            chain: self.head.chain.clone(),
                            seq,
                            at: change.at,
                            actor: event.actor.clone(),
                            action: event.action.clone(),
                            subject_ref: event.subject_ref.clone(),
                            details: event.details.clone(),
                            prev_hash: prev.clone(),
                            hash: Vec::new(),
                        };
                        entry.hash = crate::audit::link(&self.audit_key, &entry);
                        prev = entry.hash.clone();
                        entry
                    })
                    .collect();
                PreparedChange { change, entries }
            })
            .collect();
        let mac = self.audit_key.head(&self.head.chain, seq, &prev);
        (prepared, AuditHead { chain: self.head.chain.clone(), seq, hash: prev, mac })
    }
}
