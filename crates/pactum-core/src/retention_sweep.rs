//! The retention sweep: data lives only while a purpose holds it (DESIGN invariant 2).
//!
//! A purpose instance holds its categories until its `retain_until`. The sweep visits every subject
//! with a purpose past that day. When no purpose of the subject is live any more, the subject is
//! erased: its key is shredded and every row goes, with a deletion proof. Otherwise only what no
//! live purpose holds is deleted (the items of categories no live purpose declares, and the expired
//! purposes with their enrolments and consents), again with a proof. Each subject is one
//! transaction, so a sweep stopped half-way resumes where it stopped, and running it twice changes
//! nothing the second time.

use std::collections::BTreeMap;

use pactum_policy::Lang;
use pactum_store::{
    AuditEvent, Backend, Change, ConsentState, DeletionProof, Op, ProofId, PurposeInstance, StoredItem, SubjectId,
};
use time::Date;

use crate::{Clock, CoreError, Pactum};

/// Subjects read per page.
const PAGE: u32 = 500;
/// People swept at the same time.
pub const IN_FLIGHT: usize = 64;

/// Adds one person's part of a sweep to the whole.
fn merge(report: &mut SweepReport, part: SweepReport) {
    report.subjects_erased += part.subjects_erased;
    report.items_deleted += part.items_deleted;
    for (purpose, n) in part.purposes_ended {
        *report.purposes_ended.entry(purpose).or_default() += n;
    }
    for (class, n) in part.records_deleted {
        *report.records_deleted.entry(class).or_default() += n;
    }
    report.subjects.extend(part.subjects);
}

/// The outcome of a joined sweep task; a task that panicked is reported as a failure, not re-raised.
fn joined(
    done: Option<Result<Result<SweepReport, CoreError>, tokio::task::JoinError>>,
) -> Result<SweepReport, CoreError> {
    match done {
        Some(Ok(result)) => result,
        Some(Err(e)) => {
            tracing::error!(error = %e, "a retention sweep task stopped");
            Err(CoreError::TaskFailed)
        }
        None => Ok(SweepReport::default()),
    }
}

/// How far a running sweep is: people visited, of how many found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepProgress {
    pub people: u64,
    pub total: u64,
}

/// What a sweep did, or with `dry_run`, would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub dry_run: bool,
    /// Subjects erased completely, because none of their purposes is live.
    pub subjects_erased: usize,
    /// Personal values deleted (erased subjects' included).
    pub items_deleted: usize,
    /// Purpose instances whose retention ran out, per purpose key.
    pub purposes_ended: BTreeMap<String, usize>,
    /// Records other than personal values that went with those purposes (the certification
    /// partner's messages, participation records), per record class; each has its own proof.
    pub records_deleted: BTreeMap<String, usize>,
    /// What was (or would be) deleted of each person, by pseudonymous id, in subject order.
    pub subjects: Vec<SweptSubject>,
}

/// What the sweep deletes of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptSubject {
    pub subject: SubjectId,
    /// Erased completely: key shredded, every row deleted.
    pub erased: bool,
    /// The categories of the personal values deleted, one per value, sorted.
    pub values: Vec<String>,
    /// The purposes whose retention ran out, sorted.
    pub purposes: Vec<String>,
    /// The record classes deleted with them, one per record, sorted.
    pub records: Vec<String>,
}

impl std::fmt::Display for SweptSubject {
    /// One line per person, the same for a dry run and the real one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "subject {}: ", self.subject)?;
        if self.erased {
            write!(f, "erased completely ({} values)", self.values.len())?;
        } else if self.values.is_empty() {
            write!(f, "no values")?;
        } else {
            write!(f, "values {}", self.values.join(", "))?;
        }
        write!(f, "; purposes ended {}", self.purposes.join(", "))?;
        if !self.records.is_empty() {
            write!(f, "; records {}", self.records.join(", "))?;
        }
        Ok(())
    }
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Takes (or renews) this node's lease on `job` for `minutes`; false while another node holds it.
    pub async fn take_lease(&self, job: &str, minutes: i64) -> Result<bool, CoreError> {
        let now = self.clock.now_micros();
        let op = Op::TakeLease {
            job: job.into(),
            holder: self.settings.node.clone(),
            now,
            until: now + minutes * 60_000_000,
        };
        match self.store.commit(Change { at: now, ops: vec![op], audit: Vec::new() }).await {
            Ok(()) => Ok(true),
            Err(pactum_store::StoreError::LeaseHeld) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes everything whose retention ran out before `today`; with `dry_run`, only reports it.
    ///
    /// Up to [`IN_FLIGHT`] people are swept at once: each is still its own change, and the
    /// group-committing writer commits those that wait together in one transaction.
    pub async fn run_retention(&self, today: Date, dry_run: bool) -> Result<SweepReport, CoreError> {
        self.run_retention_with_progress(today, dry_run, |_| {}).await
    }

    /// [`run_retention`](Self::run_retention), telling `progress` how far it is after each page of
    /// people (and once before the first).
    pub async fn run_retention_with_progress(
        &self,
        today: Date,
        dry_run: bool,
        progress: impl Fn(SweepProgress),
    ) -> Result<SweepReport, CoreError> {
        let backend = self.store.backend();
        let mut report = SweepReport { dry_run, ..SweepReport::default() };
        // People who become due while the sweep runs are swept too, so the total only ever grows.
        let mut so_far = SweepProgress { people: 0, total: backend.count_subjects_with_expired_purposes(today).await? };
        progress(so_far);
        let mut after = None;
        loop {
            let subjects = backend.subjects_with_expired_purposes(today, after, PAGE).await?;
            let Some(last) = subjects.last() else { break };
            after = Some(*last);
            let page = subjects.len() as u64;
            let mut tasks = tokio::task::JoinSet::new();
            for subject in subjects {
                let pactum = self.clone();
                tasks.spawn(async move {
                    let mut part = SweepReport::default();
                    pactum.sweep_subject(subject, today, dry_run, &mut part).await.map(|()| part)
                });
                while tasks.len() >= IN_FLIGHT {
                    merge(&mut report, joined(tasks.join_next().await)?);
                }
            }
            while let Some(done) = tasks.join_next().await {
                merge(&mut report, joined(Some(done))?);
            }
            so_far.people += page;
            so_far.total = so_far.total.max(so_far.people);
            progress(so_far);
        }
        report.subjects.sort_by_key(|s| s.subject);
        if !dry_run {
            tracing::info!(
                subjects_erased = report.subjects_erased,
                items_deleted = report.items_deleted,
                purposes_ended = report.purposes_ended.values().sum::<usize>(),
                "retention sweep finished"
            );
        }
        Ok(report)
    }

    fn rule_of(&self, expired: &[&PurposeInstance]) -> String {
        let rules: Vec<String> = expired
            .iter()
            .map(|p| match self.policy.purpose(&p.purpose) {
                Some(purpose) => format!("{}: {}", p.purpose, purpose.retention.describe(Lang::En)),
                None => p.purpose.clone(),
            })
            .collect();
        format!("retention ran out ({})", rules.join("; "))
    }

    /// For a subject about to be erased: the address stays suppressed for every purpose whose
    /// consent it withdrew, as a keyed hash only, so that it is not added again by mistake (P20).
    async fn suppressions_for(&self, subject: SubjectId) -> Result<Vec<Op>, CoreError> {
        let backend = self.store.backend();
        let Some(email_index) = backend.email_index_of(subject).await? else { return Ok(Vec::new()) };
        let now = self.clock.now_micros();
        Ok(backend
            .consents_of(subject)
            .await?
            .into_iter()
            .filter(|c| c.state == ConsentState::Withdrawn)
            .map(|c| Op::Suppress { email_index: email_index.clone(), purpose: c.purpose, since: now })
            .collect())
    }

    async fn sweep_subject(
        &self,
        subject: SubjectId,
        today: Date,
        dry_run: bool,
        report: &mut SweepReport,
    ) -> Result<(), CoreError> {
        let backend = self.store.backend();
        let purposes = backend.purposes_of(subject).await?;
        let (expired, live): (Vec<&PurposeInstance>, Vec<&PurposeInstance>) =
            purposes.iter().partition(|p| p.retain_until.is_some_and(|until| until < today));
        if expired.is_empty() {
            return Ok(());
        }
        for p in &expired {
            *report.purposes_ended.entry(p.purpose.clone()).or_default() += 1;
        }
        let rule = self.rule_of(&expired);
        let ending: Vec<_> = expired.iter().map(|p| p.id).collect();
        let records =
            self.certification_proofs(subject, (!live.is_empty()).then_some(ending.as_slice()), &rule).await?;
        for op in &records {
            if let Op::RecordDeletion(proof) = op {
                *report.records_deleted.entry(proof.record_class.clone()).or_default() += 1;
            }
        }
        let items = backend.items_of(subject).await?;
        let mut swept = SweptSubject {
            subject,
            erased: live.is_empty(),
            values: Vec::new(),
            purposes: expired.iter().map(|p| p.purpose.clone()).collect(),
            records: records
                .iter()
                .filter_map(|op| match op {
                    Op::RecordDeletion(proof) => Some(proof.record_class.clone()),
                    _ => None,
                })
                .collect(),
        };
        swept.purposes.sort();
        swept.records.sort();
        if live.is_empty() {
            swept.values = items.iter().map(|i| i.category.clone()).collect();
            swept.values.sort();
            report.subjects.push(swept);
            report.subjects_erased += 1;
            report.items_deleted += items.len();
            if !dry_run {
                let suppress = self.suppressions_for(subject).await?;
                match self.erase_subject_with(subject, &rule, "system:retention", suppress).await {
                    Ok(_) | Err(CoreError::SubjectGone) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        let doomed = unheld(&items, &live);
        report.items_deleted += doomed.len();
        swept.values = doomed.iter().map(|i| i.category.clone()).collect();
        swept.values.sort();
        report.subjects.push(swept);
        if dry_run {
            return Ok(());
        }
        self.delete_unheld(subject, &doomed, &expired, &rule, "system:retention", "retention.delete", Vec::new())
            .await?;
        Ok(())
    }

    /// Deletes `doomed` items and the `ending` purposes of a subject whose other purposes live on, in
    /// one transaction with a deletion proof and an audit entry; `also` joins the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn delete_unheld(
        &self,
        subject: SubjectId,
        doomed: &[&StoredItem],
        ending: &[&PurposeInstance],
        rule: &str,
        actor: &str,
        action: &str,
        also: Vec<Op>,
    ) -> Result<ProofId, CoreError> {
        let mut parts: Vec<&[u8]> = vec![subject.as_bytes()];
        parts.extend(doomed.iter().map(|i| i.value.as_slice()));
        let now = self.clock.now_micros();
        let proof = DeletionProof {
            id: ProofId::new(),
            at: now,
            record_class: "purposes".into(),
            subject_ref: subject.to_string(),
            rule: rule.to_string(),
            content_hash: pactum_vault::digest(&parts),
        };
        let proof_id = proof.id;
        let event = AuditEvent::new(
            actor,
            action,
            Some(subject),
            serde_json::json!({
                "purposes": ending.iter().map(|p| p.purpose.as_str()).collect::<Vec<_>>(),
                "items": doomed.len(),
                "proof": proof.id.to_string(),
            }),
        );
        let ending_ids: Vec<_> = ending.iter().map(|p| p.id).collect();
        let certification = self.certification_proofs(subject, Some(&ending_ids), rule).await?;
        let ops = doomed
            .iter()
            .map(|i| Op::DeleteItem(i.id))
            .chain(ending.iter().map(|p| Op::DeletePurpose(p.id)))
            .chain(std::iter::once(Op::RecordDeletion(proof)))
            .chain(certification)
            .chain(also)
            .collect();
        self.store.commit(Change { at: now, ops, audit: vec![event] }).await?;
        Ok(proof_id)
    }
}

/// The items that none of `keeping` holds.
pub(crate) fn unheld<'i>(items: &'i [StoredItem], keeping: &[&PurposeInstance]) -> Vec<&'i StoredItem> {
    items.iter().filter(|i| !keeping.iter().any(|p| p.categories.contains(&i.category))).collect()
}
