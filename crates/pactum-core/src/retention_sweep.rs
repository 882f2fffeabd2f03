//! The retention sweep: data lives only while a purpose holds it (DESIGN invariant 2).
//!
//! A purpose instance holds its categories until its `retain_until`. The sweep visits every subject
//! with a purpose past that day. When no purpose of the subject is live any more, the subject is
//! erased: its key is shredded and every row goes, with a deletion proof. Otherwise only what no
//! live purpose holds is deleted (the items of categories no live purpose declares, and the expired
//! purposes with their enrolments and consents), again with a proof. Every recipient the ledger
//! shows received what goes is told (Art. 19, L4).
//!
//! People are swept a page at a time: one round of reads for the whole page, then one transaction
//! for it, with a proof and an audit entry per person, while the next page is read. A sweep stopped
//! half-way resumes where it stopped, and running it twice changes nothing the second time.
//!
//! One sweep runs at a time, whichever process starts it (`serve`'s hourly schedule, `pactum
//! retention run`, on any node): a real sweep holds the lease [`SWEEP_LEASE`] while it runs, and
//! another one meanwhile is refused ([`CoreError::SweepRunning`]) instead of deleting the same
//! people again, with a second proof and a second notice to every recipient.
//!
//! The records of Pactum's own duties (the Art. 19 notices, the breach register) hold no personal
//! value but are not kept for ever either: the policy's `[records]` rules end them, each deleted
//! record with its own proof.

use std::collections::BTreeMap;

use pactum_policy::{Lang, RecordClass, RecordRule};
use pactum_store::{
    AuditEvent, Backend, CertificationMessage, Change, ConsentRecord, ConsentState, DeletionProof, Disclosure, Op,
    Participation, ProofId, PurposeInstance, PurposeInstanceId, StoredItem, SubjectId,
};
use time::Date;

use crate::{Clock, CoreError, Pactum};

/// The lease a real sweep holds while it runs, so that no second sweep starts meanwhile.
pub const SWEEP_LEASE: &str = "retention.sweep";
/// How long the sweep's lease lasts unless renewed: a sweep that stopped without releasing it (the
/// process was killed) keeps the next one out no longer than this.
const SWEEP_LEASE_MINUTES: i64 = 10;
/// How often a running sweep renews its lease.
const SWEEP_LEASE_RENEWAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Subjects read, and committed, per page.
const PAGE: u32 = 500;
/// Who the audit trail names for what the sweep does.
const SWEEPER: &str = "system:retention";

/// One person's rows, as the sweep reads them a page at a time.
#[derive(Default)]
struct PersonRows {
    purposes: Vec<PurposeInstance>,
    items: Vec<StoredItem>,
    messages: Vec<CertificationMessage>,
    participations: Vec<Participation>,
    consents: Vec<ConsentRecord>,
    email_index: Option<Vec<u8>>,
    disclosures: Vec<Disclosure>,
}

/// What a page of the sweep writes, gathered person by person.
#[derive(Default)]
struct PageChange {
    ops: Vec<Op>,
    audit: Vec<AuditEvent>,
    notify: Vec<pactum_store::RecipientNotification>,
}

/// Waits for the page being committed, if there is one.
async fn finish(committing: Option<tokio::task::JoinHandle<Result<(), CoreError>>>) -> Result<(), CoreError> {
    match committing {
        None => Ok(()),
        Some(task) => task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a retention sweep commit stopped");
            Err(CoreError::TaskFailed)
        }),
    }
}
/// Records of Pactum's own duties deleted per change.
const RECORDS_PAGE: u32 = 500;

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
    /// The records of Pactum's own duties whose retention ran out, oldest first per class.
    pub records: Vec<SweptRecord>,
}

/// A record of Pactum's own duties that the sweep deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptRecord {
    pub class: RecordClass,
    /// The record's id.
    pub id: String,
    /// The last day the policy kept it.
    pub retain_until: Date,
}

impl std::fmt::Display for SweptRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} {}: kept until {}",
            self.class.key(),
            self.id,
            pactum_store::date_to_text(self.retain_until)
        )
    }
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
        self.lease(job, &self.settings.node, now, now + minutes * 60_000_000).await
    }

    /// Has `holder` hold the lease on `job` from `now` until `until`; false while another holds it.
    async fn lease(
        &self,
        job: &str,
        holder: &str,
        now: pactum_store::Micros,
        until: pactum_store::Micros,
    ) -> Result<bool, CoreError> {
        let op = Op::TakeLease { job: job.into(), holder: holder.into(), now, until };
        match self.store.commit(Change { at: now, ops: vec![op], audit: Vec::new() }).await {
            Ok(()) => Ok(true),
            Err(pactum_store::StoreError::LeaseHeld) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes everything whose retention ran out before `today`; with `dry_run`, only reports it.
    pub async fn run_retention(&self, today: Date, dry_run: bool) -> Result<SweepReport, CoreError> {
        self.run_retention_with_progress(today, dry_run, |_| {}).await
    }

    /// [`run_retention`](Self::run_retention), telling `progress` how far it is after each page of
    /// people (and once before the first). A real sweep is refused with
    /// [`CoreError::SweepRunning`] while another one runs; a dry run never is.
    pub async fn run_retention_with_progress(
        &self,
        today: Date,
        dry_run: bool,
        progress: impl Fn(SweepProgress),
    ) -> Result<SweepReport, CoreError> {
        if dry_run {
            return self.sweep(today, true, progress, None).await;
        }
        // Each sweep is its own holder, so that two processes of one node exclude each other too.
        let holder = format!("{}:{}", self.settings.node, uuid::Uuid::now_v7());
        if !self.hold_sweep_lease(&holder, SWEEP_LEASE_MINUTES).await? {
            return Err(CoreError::SweepRunning);
        }
        let swept = self.sweep(today, false, progress, Some(&holder)).await;
        // Released whatever happened; if this fails, the lease runs out by itself.
        if let Err(e) = self.hold_sweep_lease(&holder, 0).await {
            tracing::warn!(error = %e, "the retention sweep's lease was not released; it runs out within minutes");
        }
        swept
    }

    /// Has the sweep `holder` take or renew the sweep's lease for `minutes` from now (0 releases it:
    /// it ran out a moment ago); false while another sweep holds it.
    async fn hold_sweep_lease(&self, holder: &str, minutes: i64) -> Result<bool, CoreError> {
        let now = self.clock.now_micros();
        let until = if minutes > 0 { now + minutes * 60_000_000 } else { now - 1 };
        self.lease(SWEEP_LEASE, holder, now, until).await
    }

    /// The sweep itself; a real sweep's `holder` renews the sweep's lease as it goes.
    async fn sweep(
        &self,
        today: Date,
        dry_run: bool,
        progress: impl Fn(SweepProgress),
        holder: Option<&str>,
    ) -> Result<SweepReport, CoreError> {
        let mut renewed = std::time::Instant::now();
        let backend = self.store.backend();
        let mut report = SweepReport { dry_run, ..SweepReport::default() };
        // People who become due while the sweep runs are swept too, so the total only ever grows.
        let mut so_far = SweepProgress { people: 0, total: backend.count_subjects_with_expired_purposes(today).await? };
        progress(so_far);
        let mut after = None;
        // The page being committed while the next one is read.
        let mut committing: Option<tokio::task::JoinHandle<Result<(), CoreError>>> = None;
        loop {
            let subjects = backend.subjects_with_expired_purposes(today, after, PAGE).await?;
            let Some(last) = subjects.last() else { break };
            after = Some(*last);
            let change = self.sweep_page(&subjects, today, &mut report).await?;
            finish(committing.take()).await?;
            if let (false, Some(change)) = (dry_run, change) {
                let pactum = self.clone();
                committing = Some(tokio::spawn(async move {
                    let notifying = change.ops.iter().any(|op| matches!(op, Op::QueueNotifications(_)));
                    pactum.store.commit(change).await?;
                    if notifying {
                        pactum.mail_ready.notify_one();
                    }
                    Ok(())
                }));
            }
            so_far.people += subjects.len() as u64;
            so_far.total = so_far.total.max(so_far.people);
            progress(so_far);
            if let Some(holder) = holder.filter(|_| renewed.elapsed() >= SWEEP_LEASE_RENEWAL) {
                if !self.hold_sweep_lease(holder, SWEEP_LEASE_MINUTES).await? {
                    // Only if this sweep stalled longer than its lease lasts: another took over.
                    finish(committing.take()).await?;
                    return Err(CoreError::SweepRunning);
                }
                renewed = std::time::Instant::now();
            }
        }
        finish(committing.take()).await?;
        report.subjects.sort_by_key(|s| s.subject);
        self.sweep_records(today, dry_run, &mut report).await?;
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

    /// Reads a page of people at once and works out what goes of each: added to `report`, and
    /// returned as one change (none when nothing of theirs has expired any more).
    async fn sweep_page(
        &self,
        subjects: &[SubjectId],
        today: Date,
        report: &mut SweepReport,
    ) -> Result<Option<Change>, CoreError> {
        let rows = self.store.backend().rows_of_subjects(subjects).await?;
        let mut people: BTreeMap<SubjectId, PersonRows> = BTreeMap::new();
        for p in rows.purposes {
            people.entry(p.subject).or_default().purposes.push(p);
        }
        for i in rows.items {
            people.entry(i.subject).or_default().items.push(i);
        }
        for m in rows.messages {
            people.entry(m.subject).or_default().messages.push(m);
        }
        for p in rows.participations {
            people.entry(p.subject).or_default().participations.push(p);
        }
        for c in rows.consents {
            people.entry(c.subject).or_default().consents.push(c);
        }
        for (subject, index) in rows.email_indexes {
            people.entry(subject).or_default().email_index = Some(index);
        }
        for d in rows.disclosures {
            people.entry(d.subject).or_default().disclosures.push(d);
        }
        let mut page = PageChange::default();
        for (subject, person) in &people {
            self.sweep_person(*subject, person, today, report, &mut page);
        }
        if page.ops.is_empty() {
            return Ok(None);
        }
        // All the page's shredding is one statement list over every id.
        let mut shredded = Vec::new();
        let mut ops = Vec::with_capacity(page.ops.len());
        for op in page.ops {
            match op {
                Op::ShredSubjects(ids) => shredded.extend(ids),
                other => ops.push(other),
            }
        }
        if !shredded.is_empty() {
            ops.insert(0, Op::ShredSubjects(shredded));
        }
        if !page.notify.is_empty() {
            ops.push(Op::QueueNotifications(page.notify));
        }
        Ok(Some(Change { at: self.clock.now_micros(), ops, audit: page.audit }))
    }

    /// What goes of one person whose rows are `person`: added to `report` and to `page`.
    fn sweep_person(
        &self,
        subject: SubjectId,
        person: &PersonRows,
        today: Date,
        report: &mut SweepReport,
        page: &mut PageChange,
    ) {
        let (expired, live): (Vec<&PurposeInstance>, Vec<&PurposeInstance>) =
            person.purposes.iter().partition(|p| p.retain_until.is_some_and(|until| until < today));
        if expired.is_empty() {
            return;
        }
        for p in &expired {
            *report.purposes_ended.entry(p.purpose.clone()).or_default() += 1;
        }
        let rule = self.rule_of(&expired);
        let ending: Vec<PurposeInstanceId> = expired.iter().map(|p| p.id).collect();
        let erased = live.is_empty();
        let certification = self.certification_proof_ops(
            subject,
            &person.messages,
            &person.participations,
            (!erased).then_some(ending.as_slice()),
            &rule,
        );
        let mut swept = SweptSubject {
            subject,
            erased,
            values: Vec::new(),
            purposes: expired.iter().map(|p| p.purpose.clone()).collect(),
            records: certification
                .iter()
                .filter_map(|op| match op {
                    Op::RecordDeletion(proof) => Some(proof.record_class.clone()),
                    _ => None,
                })
                .collect(),
        };
        for class in &swept.records {
            *report.records_deleted.entry(class.clone()).or_default() += 1;
        }
        swept.purposes.sort();
        swept.records.sort();
        let (ops, event) = if erased {
            swept.values = person.items.iter().map(|i| i.category.clone()).collect();
            report.subjects_erased += 1;
            report.items_deleted += person.items.len();
            page.notify.extend(self.notifications_for(&person.disclosures, &[]));
            let (ops, event, _) =
                self.erasure_ops(subject, &person.items, certification, &rule, SWEEPER, self.suppressions_for(person));
            (ops, event)
        } else {
            let doomed = unheld(&person.items, &live);
            swept.values = doomed.iter().map(|i| i.category.clone()).collect();
            report.items_deleted += doomed.len();
            let gone: Vec<Disclosure> =
                person.disclosures.iter().filter(|d| ending.contains(&d.instance)).cloned().collect();
            page.notify.extend(self.notifications_for(&gone, &[]));
            let (ops, event, _) = self.unheld_ops(
                subject,
                &doomed,
                &expired,
                certification,
                &rule,
                SWEEPER,
                "retention.delete",
                Vec::new(),
            );
            (ops, event)
        };
        swept.values.sort();
        report.subjects.push(swept);
        page.ops.extend(ops);
        page.audit.push(event);
    }

    /// Ends the records of Pactum's own duties whose retention under the policy's `[records]` ran
    /// out before `today`: one change per page, each record with its deletion proof.
    async fn sweep_records(&self, today: Date, dry_run: bool, report: &mut SweepReport) -> Result<(), CoreError> {
        if let Some(rule) = self.policy.record(RecordClass::RecipientNotifications) {
            self.sweep_notifications(rule, today, dry_run, report).await?;
        }
        if let Some(rule) = self.policy.record(RecordClass::Incidents) {
            self.sweep_incidents(rule, today, dry_run, report).await?;
        }
        Ok(())
    }

    fn record_proof(&self, rule: &RecordRule, subject_ref: String, content: &[&[u8]]) -> DeletionProof {
        DeletionProof {
            id: ProofId::new(),
            at: self.clock.now_micros(),
            record_class: rule.class.key().to_string(),
            subject_ref,
            rule: format!("retention ran out ({}: {})", rule.class.key(), rule.describe(Lang::En)),
            content_hash: pactum_vault::digest(content),
        }
    }

    async fn commit_record_deletion(
        &self,
        rule: &RecordRule,
        delete: Op,
        proofs: Vec<DeletionProof>,
    ) -> Result<(), CoreError> {
        let event = AuditEvent::new(
            SWEEPER,
            "retention.records",
            None,
            serde_json::json!({
                "class": rule.class.key(),
                "records": proofs.len(),
                "proofs": proofs.iter().map(|p| p.id.to_string()).collect::<Vec<_>>(),
            }),
        );
        let ops = std::iter::once(delete).chain(proofs.into_iter().map(Op::RecordDeletion)).collect();
        self.store.commit(Change { at: self.clock.now_micros(), ops, audit: vec![event] }).await?;
        Ok(())
    }

    async fn sweep_notifications(
        &self,
        rule: &RecordRule,
        today: Date,
        dry_run: bool,
        report: &mut SweepReport,
    ) -> Result<(), CoreError> {
        let before = crate::clock::to_micros(rule.candidates_before(today).midnight().assume_utc());
        // A dry run deletes nothing, so it reads every candidate at once; a real run reads a page,
        // deletes what ran out, and reads again.
        let limit = if dry_run { u32::MAX } else { RECORDS_PAGE };
        loop {
            let page = self.store.backend().settled_notifications(before, limit).await?;
            let full = page.len() == limit as usize;
            let mut ids = Vec::new();
            let mut proofs = Vec::new();
            for n in &page {
                let anchor = crate::clock::from_micros(n.delivered_at.unwrap_or(n.created_at)).date();
                let retain_until = rule.retain_until(anchor);
                if !pactum_policy::retention::is_expired(retain_until, today) {
                    continue;
                }
                report.records.push(SweptRecord { class: rule.class, id: n.id.to_string(), retain_until });
                ids.push(n.id);
                proofs.push(self.record_proof(
                    rule,
                    n.subject_ref.clone(),
                    &[n.id.as_bytes(), n.recipient.as_bytes(), n.kind.as_bytes(), n.reference.as_bytes()],
                ));
            }
            *report.records_deleted.entry(rule.class.key().to_string()).or_default() += ids.len();
            // Candidates come oldest first, so a page with one not yet due ends the search.
            let done = !full || ids.len() < page.len() || dry_run;
            if !dry_run && !ids.is_empty() {
                self.commit_record_deletion(rule, Op::DeleteNotifications(ids), proofs).await?;
            }
            if done {
                return Ok(());
            }
        }
    }

    async fn sweep_incidents(
        &self,
        rule: &RecordRule,
        today: Date,
        dry_run: bool,
        report: &mut SweepReport,
    ) -> Result<(), CoreError> {
        // The register is small: it is read whole, and each incident goes in its own change.
        let mut incidents = self.store.backend().incidents().await?;
        incidents.sort_by_key(|i| (i.created_at, i.id));
        for incident in incidents {
            let retain_until = rule.retain_until(crate::clock::from_micros(incident.created_at).date());
            if !pactum_policy::retention::is_expired(retain_until, today) {
                continue;
            }
            report.records.push(SweptRecord { class: rule.class, id: incident.id.to_string(), retain_until });
            *report.records_deleted.entry(rule.class.key().to_string()).or_default() += 1;
            if dry_run {
                continue;
            }
            let proof = self.record_proof(
                rule,
                incident.id.to_string(),
                &[incident.id.as_bytes(), incident.title.as_bytes(), incident.description.as_bytes()],
            );
            self.commit_record_deletion(rule, Op::DeleteIncident(incident.id), vec![proof]).await?;
        }
        Ok(())
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
    fn suppressions_for(&self, person: &PersonRows) -> Vec<Op> {
        let Some(email_index) = &person.email_index else { return Vec::new() };
        let now = self.clock.now_micros();
        person
            .consents
            .iter()
            .filter(|c| c.state == ConsentState::Withdrawn)
            .map(|c| Op::Suppress { email_index: email_index.clone(), purpose: c.purpose.clone(), since: now })
            .collect()
    }

    /// What deleting `doomed` items and the `ending` purposes of a subject whose other purposes
    /// live on writes, with the `certification` proofs of the ending purposes: the deletions, a
    /// deletion proof, `also`, and the audit entry, for one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn unheld_ops(
        &self,
        subject: SubjectId,
        doomed: &[&StoredItem],
        ending: &[&PurposeInstance],
        certification: Vec<Op>,
        rule: &str,
        actor: &str,
        action: &str,
        also: Vec<Op>,
    ) -> (Vec<Op>, AuditEvent, ProofId) {
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
        let ops = doomed
            .iter()
            .map(|i| Op::DeleteItem(i.id))
            .chain(ending.iter().map(|p| Op::DeletePurpose(p.id)))
            .chain(std::iter::once(Op::RecordDeletion(proof)))
            .chain(certification)
            .chain(also)
            .collect();
        (ops, event, proof_id)
    }
}

/// The items that none of `keeping` holds.
pub(crate) fn unheld<'i>(items: &'i [StoredItem], keeping: &[&PurposeInstance]) -> Vec<&'i StoredItem> {
    items.iter().filter(|i| !keeping.iter().any(|p| p.holds(i))).collect()
}
