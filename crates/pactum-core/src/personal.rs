//! Personal data and the purposes that hold it (DESIGN invariant 2).
//!
//! Data enters only through [`Pactum::collect`]: for one purpose, only the categories that purpose
//! declares (deny by default, P01/P24), each value sealed under the subject's own key. A purpose
//! instance holds its categories until a `retain_until` the policy computes from an anchor event.
//! [`Pactum::subject_report`] lists every item with its source, purposes and retention;
//! [`Pactum::erase_subject`] shreds the subject's key and deletes its rows in one transaction.

use pactum_policy::{Anchor, Lang, Purpose};
use pactum_store::{
    AuditEvent, Backend, Change, ConsentRecord, ConsentState, DeletionProof, ItemId, NewSubject, Op, ProofId,
    PurposeInstance, PurposeInstanceId, StoredItem, SubjectId,
};
use pactum_vault::{Binding, SubjectKey};
use serde::Serialize;
use time::Date;

use crate::values::{FieldError, Problem, parse_value};
use crate::{Clock, CoreError, Pactum};

const ITEMS_TABLE: &str = "items";
/// The end reason of a legal hold whose subject asked for erasure: kept, not used (L3, L6).
pub const RESTRICTED_AFTER_ERASURE: &str = "restricted: erasure requested";
const VALUE_COLUMN: &str = "value";

pub(crate) fn item_binding(item: &ItemId) -> Binding<'_> {
    Binding { table: ITEMS_TABLE, column: VALUE_COLUMN, row_id: item.as_bytes() }
}

/// A request to collect personal data for one purpose.
#[derive(Debug, Clone)]
pub struct Collection {
    pub purpose: String,
    /// (category, raw value) pairs, straight from the form or API.
    pub values: Vec<(String, String)>,
    /// Where the data comes from, e.g. `form:course_enrolment` or `partner:certification_partner`.
    pub source: String,
    /// The date of the purpose's anchor event when it is already known (a course's end date).
    pub anchor_date: Option<Date>,
    /// Who collects: `subject` for self-service, or a pseudonymous staff or partner id.
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub subject: SubjectId,
    pub instance: PurposeInstanceId,
    pub retain_until: Option<Date>,
    /// The values given for the purpose, by id (see [`PurposeInstance::items`]).
    pub items: Vec<ItemId>,
    /// Whether the person was already stored, found by e-mail address.
    pub known: bool,
}

/// A collection ready to commit, with the subject's key for sealing whatever goes with it.
pub struct PreparedCollection {
    pub change: Change,
    pub collected: Collected,
    pub key: SubjectKey,
}

/// How many times an operation that lost a race to create the same person is tried again.
const RACE_RETRIES: usize = 2;

/// Subjects a change creates before it is committed, by the blind index of their e-mail address,
/// so that a second collection in the same change (the buyer who is also a participant) finds the
/// same person instead of creating a duplicate.
#[derive(Default)]
pub struct PendingSubjects(Vec<(Vec<u8>, SubjectId, pactum_store::WrappedKey)>);

/// One purpose holding an item, as the access report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    pub purpose: String,
    pub purpose_label: String,
    pub basis: String,
    pub basis_label: String,
    pub retain_until: Option<Date>,
    pub rule: String,
    pub live: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    pub category: String,
    pub category_label: String,
    pub value: String,
    pub source: String,
    pub collected_at: i64,
    pub held_by: Vec<Hold>,
    /// Who received this item, from the disclosure ledger (P08, P30).
    pub received_by: Vec<crate::disclosure::Received>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubjectReport {
    pub subject: SubjectId,
    pub items: Vec<ItemReport>,
    /// Every disclosure of the person's data, oldest first (P08–P12, L4).
    pub disclosures: Vec<crate::disclosure::DisclosureReport>,
    /// Course participation and certification results (P17, P18).
    pub participations: Vec<crate::certification::ParticipationReport>,
    /// The certification partner's messages about the person, until the course ends (P15, P16).
    pub certification_messages: Vec<crate::certification::MessageReport>,
    /// The person's rights requests, open and closed, with deadlines and answers (P30, P34).
    pub requests: Vec<crate::rights::RequestReport>,
    /// Whether the person's data is restricted today (L3): stored, not used.
    pub restricted: bool,
    /// What the report withholds, with the reason (P31).
    pub redactions: Vec<crate::portability::Redaction>,
    /// Every consent the person gave, pending, active or withdrawn, with the exact text shown,
    /// oldest first (P30, L11).
    pub consents: Vec<ConsentReport>,
    /// That no decision about the person is made by automated processing alone (P30, Art. 22).
    pub automated_decisions: &'static str,
}

/// One consent in the access report: what was asked, in which words, how and when it was given,
/// confirmed and withdrawn.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentReport {
    pub id: pactum_store::ConsentId,
    pub purpose: String,
    pub purpose_label: String,
    /// `pending` (waiting for the e-mailed confirmation), `active` or `withdrawn`.
    pub state: &'static str,
    pub state_label: &'static str,
    pub policy_version: String,
    pub lang: String,
    pub text: String,
    pub text_hash: String,
    pub method: String,
    pub requested_at: i64,
    pub confirmed_at: Option<i64>,
    pub withdrawn_at: Option<i64>,
    pub withdraw_method: Option<String>,
}

/// The statement, in the report and the notice, that Pactum's controller makes no decision about a
/// person by automated processing alone: nothing in Pactum decides anything about a person.
pub const fn no_automated_decisions(lang: Lang) -> &'static str {
    match lang {
        Lang::Da => {
            "Vi træffer ingen afgørelser om dig alene ved automatisk behandling, og vi laver ikke profilering med retsvirkning."
        }
        Lang::En => {
            "We make no decisions about you based solely on automated processing, and we do no profiling with legal effects."
        }
    }
}

/// A consent's state in words.
pub fn consent_state_label(state: ConsentState, lang: Lang) -> &'static str {
    match (state, lang) {
        (ConsentState::Pending, Lang::Da) => "afventer din bekræftelse",
        (ConsentState::Pending, Lang::En) => "waiting for your confirmation",
        (ConsentState::Active, Lang::Da) => "givet",
        (ConsentState::Active, Lang::En) => "given",
        (ConsentState::Withdrawn, Lang::Da) => "trukket tilbage",
        (ConsentState::Withdrawn, Lang::En) => "withdrawn",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Erasure {
    pub subject: SubjectId,
    pub items_deleted: usize,
    pub proof: ProofId,
    /// What the law requires to be kept, restricted to that purpose, and until when (P33, L6).
    /// Empty when everything was erased and the subject's key shredded.
    pub kept: Vec<KeptHold>,
}

/// A legal-obligation purpose that outlives an erasure request: its data is restricted (stored,
/// not used) until `retain_until`, then the retention sweep deletes it. `retain_until` is `None`
/// while the hold's anchor event is still to come (a rights request not yet answered): its rule
/// then says when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KeptHold {
    pub purpose: String,
    pub statute: Option<String>,
    pub categories: Vec<String>,
    pub retain_until: Option<Date>,
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    pub fn purpose(&self, key: &str) -> Result<&Purpose, CoreError> {
        self.policy.purpose(key).ok_or_else(|| CoreError::UnknownPurpose(key.to_string()))
    }

    /// The operation that stores one value of `subject`, sealed under its key and bound to its row.
    pub fn item_op(
        &self,
        subject: SubjectId,
        key: &SubjectKey,
        category: &str,
        value: &str,
        source: &str,
    ) -> Result<Op, CoreError> {
        self.new_item(subject, key, category, value, source).map(Op::PutItem)
    }

    /// One new value of `subject`, sealed under its key and bound to its row.
    pub(crate) fn new_item(
        &self,
        subject: SubjectId,
        key: &SubjectKey,
        category: &str,
        value: &str,
        source: &str,
    ) -> Result<StoredItem, CoreError> {
        let id = ItemId::new();
        let sealed = key.seal(item_binding(&id), value.as_bytes()).map_err(|e| CoreError::Vault(e.to_string()))?;
        Ok(StoredItem {
            id,
            subject,
            category: category.into(),
            source: source.into(),
            collected_at: self.clock.now_micros(),
            value: sealed,
        })
    }

    /// A new instance of `purpose` for `subject`, holding every category the purpose declares,
    /// with `retain_until` computed when the anchor event's date is known.
    pub fn start_purpose(&self, subject: SubjectId, purpose: &Purpose, anchor_date: Option<Date>) -> PurposeInstance {
        let anchor_date = match purpose.retention.anchor {
            Anchor::Collection => Some(self.clock.today()),
            _ => anchor_date,
        };
        PurposeInstance {
            id: PurposeInstanceId::new(),
            subject,
            purpose: purpose.key.clone(),
            basis: purpose.basis.key().to_string(),
            anchor: purpose.retention.anchor.key().to_string(),
            anchor_date,
            retain_until: anchor_date.map(|d| purpose.retention.retain_until(d, self.policy.financial_year_end)),
            started_at: self.clock.now_micros(),
            ended_at: None,
            end_reason: None,
            notice_version: self.policy.version.clone(),
            categories: purpose.fields.iter().map(|f| f.category.clone()).collect(),
            items: Vec::new(),
        }
    }

    /// Checks a collection against the policy without storing anything: every undeclared field,
    /// every missing required field and every malformed value, all at once.
    pub fn check_collection(&self, collection: &Collection) -> Result<Vec<(String, String)>, CoreError> {
        let purpose = self.purpose(&collection.purpose)?;
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for (category, raw) in &collection.values {
            if !purpose.uses(category) {
                errors.push(FieldError::undeclared(category));
                continue;
            }
            let Some(definition) = self.policy.category(category) else {
                errors.push(FieldError::undeclared(category));
                continue;
            };
            if parsed.iter().any(|(c, _): &(String, String)| c == category) {
                continue;
            }
            if raw.trim().is_empty() {
                continue;
            }
            match parse_value(definition, raw) {
                Ok(value) => parsed.push((category.clone(), value)),
                Err(e) => errors.push(e),
            }
        }
        for field in purpose.fields.iter().filter(|f| f.required) {
            let given = parsed.iter().any(|(c, _)| *c == field.category);
            let already_failed = errors.iter().any(|e| e.field == field.category);
            if !given && !already_failed {
                errors.push(FieldError { field: field.category.clone(), problem: Problem::Missing });
            }
        }
        if errors.is_empty() { Ok(parsed) } else { Err(CoreError::Invalid(errors)) }
    }

    /// Stores personal data for one purpose. The person is recognised by e-mail address where the
    /// purpose collects one; otherwise a new subject is created.
    pub async fn collect(&self, collection: Collection) -> Result<Collected, CoreError> {
        self.retried_if_raced(|| async {
            let prepared = self.prepare_collection(collection.clone()).await?;
            self.store.commit(prepared.change).await?;
            Ok(prepared.collected)
        })
        .await
    }

    /// Runs `attempt`, and again if it lost a race: two requests at the same moment that both
    /// found an address unknown both create its person, and the second one's commit conflicts.
    /// Nothing of the lost try was stored, and the next one finds the person the first created
    /// (and answers as for anyone known: an enrolment held, a participant already enrolled).
    pub(crate) async fn retried_if_raced<T, Attempt>(
        &self,
        mut attempt: impl FnMut() -> Attempt,
    ) -> Result<T, CoreError>
    where
        Attempt: std::future::Future<Output = Result<T, CoreError>>,
    {
        for _ in 0..RACE_RETRIES {
            match attempt().await {
                Err(CoreError::Store(pactum_store::StoreError::Conflict(_))) => {
                    tracing::debug!("a write lost a race to another; trying again");
                }
                other => return other,
            }
        }
        attempt().await
    }

    /// Everything [`Pactum::collect`] would commit, not yet committed, so that a caller can add
    /// what belongs to the same transaction (a consent, a confirmation mail).
    pub async fn prepare_collection(&self, collection: Collection) -> Result<PreparedCollection, CoreError> {
        self.prepare_collection_among(collection, &mut PendingSubjects::default()).await
    }

    /// [`Self::prepare_collection`] for one of several collections in the same change: a person
    /// created by an earlier one (see [`PendingSubjects`]) is found again by e-mail address.
    pub async fn prepare_collection_among(
        &self,
        collection: Collection,
        pending: &mut PendingSubjects,
    ) -> Result<PreparedCollection, CoreError> {
        let values = self.check_collection(&collection)?;
        let purpose = self.purpose(&collection.purpose)?;
        let backend = self.store.backend();
        let now = self.clock.now_micros();

        let email_index = values.iter().find(|(c, _)| c == "email").map(|(_, v)| self.keys.blind_index.email(v));
        let pending_subject = email_index.as_ref().and_then(|index| pending.0.iter().find(|(i, _, _)| i == index));
        let existing = match (&email_index, pending_subject) {
            (_, Some(_)) => None,
            (Some(index), None) => self.store.subject_by_email_index(index).await?,
            (None, None) => None,
        };
        let mut ops = Vec::new();
        let (subject, key, known_items): (SubjectId, SubjectKey, Vec<StoredItem>) = match (existing, pending_subject) {
            (_, Some((_, subject, wrapped))) => (*subject, self.keys.subject_key(*subject, wrapped)?, Vec::new()),
            (Some(subject), None) => {
                let wrapped = backend.subject_key(subject).await?.ok_or(CoreError::SubjectGone)?;
                let key = self.keys.subject_key(subject, &wrapped)?;
                (subject, key, backend.items_of(subject).await?)
            }
            (None, None) => {
                let subject = SubjectId::new();
                let (key, wrapped) = self.keys.new_subject_key(subject)?;
                if let Some(index) = &email_index {
                    pending.0.push((index.clone(), subject, wrapped.clone()));
                }
                ops.push(Op::CreateSubject(NewSubject {
                    id: subject,
                    email_index: email_index.clone(),
                    key: wrapped,
                    created_at: now,
                }));
                (subject, key, Vec::new())
            }
        };

        let mut new_items = 0usize;
        let mut given = Vec::with_capacity(values.len());
        for (category, value) in &values {
            let same = known_items.iter().find(|i| {
                i.category == *category
                    && key.open(item_binding(&i.id), &i.value).is_ok_and(|v| v.as_slice() == value.as_bytes())
            });
            if let Some(same) = same {
                given.push(same.id);
                continue;
            }
            let item = self.new_item(subject, &key, category, value, &collection.source)?;
            given.push(item.id);
            ops.push(Op::PutItem(item));
            new_items += 1;
        }

        let started =
            PurposeInstance { items: given.clone(), ..self.start_purpose(subject, purpose, collection.anchor_date) };
        let (instance, retain_until) = (started.id, started.retain_until);
        ops.push(Op::StartPurpose(started));
        let categories: Vec<&str> = values.iter().map(|(c, _)| c.as_str()).collect();
        let event = AuditEvent::new(
            &collection.actor,
            "personal_data.collect",
            Some(subject),
            serde_json::json!({
                "purpose": purpose.key,
                "instance": instance.to_string(),
                "categories": categories,
                "new_items": new_items,
                "source": collection.source,
                "notice_version": self.policy.version,
                "retain_until": retain_until.map(pactum_store::date_to_text),
            }),
        );
        Ok(PreparedCollection {
            change: Change { at: now, ops, audit: vec![event] },
            collected: Collected { subject, instance, retain_until, items: given, known: existing.is_some() },
            key,
        })
    }

    /// The anchor event of a purpose instance happened on `date` (the course ended, the order was
    /// completed): from now on it holds its data until the date its retention rule gives.
    pub async fn anchor_event(
        &self,
        subject: SubjectId,
        instance: PurposeInstanceId,
        date: Date,
        actor: &str,
    ) -> Result<Date, CoreError> {
        let current = self.instance(subject, instance).await?;
        let purpose = self.purpose(&current.purpose)?;
        let retain_until = purpose.retention.retain_until(date, self.policy.financial_year_end);
        let event = AuditEvent::new(
            actor,
            "purpose.anchor_event",
            Some(subject),
            serde_json::json!({"purpose": purpose.key, "instance": instance.to_string(), "anchor": purpose.retention.anchor.key(), "retain_until": pactum_store::date_to_text(retain_until)}),
        );
        let op = Op::SetRetention { instance, anchor_date: date, retain_until };
        self.store.commit(Change { at: self.clock.now_micros(), ops: vec![op], audit: vec![event] }).await?;
        Ok(retain_until)
    }

    /// Ends a purpose early (withdrawal, objection). A purpose whose rule counts from withdrawal
    /// keeps its data for that period; any other ends today.
    pub async fn end_purpose(
        &self,
        subject: SubjectId,
        instance: PurposeInstanceId,
        reason: &str,
        actor: &str,
    ) -> Result<Date, CoreError> {
        let (op, event, retain_until) = self.end_purpose_op(subject, instance, reason, actor).await?;
        self.store.commit(Change { at: self.clock.now_micros(), ops: vec![op], audit: vec![event] }).await?;
        Ok(retain_until)
    }

    /// The operation and audit event that end a purpose instance, for a caller's own change.
    pub async fn end_purpose_op(
        &self,
        subject: SubjectId,
        instance: PurposeInstanceId,
        reason: &str,
        actor: &str,
    ) -> Result<(Op, AuditEvent, Date), CoreError> {
        let current = self.instance(subject, instance).await?;
        let purpose = self.purpose(&current.purpose)?;
        let today = self.clock.today();
        let retain_until = match purpose.retention.anchor {
            Anchor::Withdrawal => purpose.retention.retain_until(today, self.policy.financial_year_end),
            _ => today,
        };
        let retain_until = current.retain_until.map_or(retain_until, |r| r.min(retain_until));
        let event = AuditEvent::new(
            actor,
            "purpose.end",
            Some(subject),
            serde_json::json!({"purpose": purpose.key, "instance": instance.to_string(), "reason": reason, "retain_until": pactum_store::date_to_text(retain_until)}),
        );
        let op =
            Op::EndPurpose { instance, ended_at: self.clock.now_micros(), reason: reason.to_string(), retain_until };
        Ok((op, event, retain_until))
    }

    async fn instance(&self, subject: SubjectId, instance: PurposeInstanceId) -> Result<PurposeInstance, CoreError> {
        self.store
            .backend()
            .purposes_of(subject)
            .await?
            .into_iter()
            .find(|p| p.id == instance)
            .ok_or(CoreError::UnknownInstance)
    }

    /// Finds a subject by e-mail address, through the blind index.
    pub async fn find_subject_by_email(&self, email: &str) -> Result<Option<SubjectId>, CoreError> {
        let Some(email) = crate::values::parse_email(email.trim()) else { return Ok(None) };
        Ok(self.store.subject_by_email_index(&self.keys.blind_index.email(&email)).await?)
    }

    /// Everything stored about a subject, decrypted, with the purposes that hold each item and until when.
    pub async fn subject_report(&self, subject: SubjectId, lang: Lang) -> Result<SubjectReport, CoreError> {
        let backend = self.store.backend();
        // Every row the report shows is read in one round, all at once: the report waits for the
        // slowest read, not for their sum, and reads nothing twice.
        let (
            wrapped,
            purposes,
            stored,
            ledger,
            participations,
            messages,
            courses,
            requests,
            enrolments,
            orders,
            consents,
        ) = tokio::try_join!(
            async { Ok::<_, CoreError>(backend.subject_key(subject).await?) },
            async { Ok::<_, CoreError>(backend.purposes_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.items_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.disclosures_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.participations_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.certification_messages_of_subject(subject).await?) },
            async { Ok::<_, CoreError>(backend.courses().await?) },
            async { Ok::<_, CoreError>(backend.rights_requests_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.enrolments_of_subject(subject).await?) },
            async { Ok::<_, CoreError>(backend.orders_of_buyer(subject).await?) },
            async { Ok::<_, CoreError>(backend.consents_of(subject).await?) },
        )?;
        let wrapped = wrapped.ok_or(CoreError::SubjectGone)?;
        let key = self.keys.subject_key(subject, &wrapped)?;
        let today = self.clock.today();
        let redactions = self.redactions(&enrolments, &orders, &ledger, lang);
        let disclosed: Vec<PurposeInstanceId> = ledger.iter().map(|d| d.instance).collect();
        let disclosures = self.disclosure_report(ledger, lang);
        let (participations, certification_messages) =
            self.certification_report(&key, &purposes, &courses, participations, messages, lang)?;
        let requests = requests.iter().map(|r| self.request_report(r, Some(&key), today, lang)).collect::<Vec<_>>();
        let mut items = Vec::new();
        for item in stored {
            let value = key.open(item_binding(&item.id), &item.value).map_err(|e| CoreError::Vault(e.to_string()))?;
            let held_by = purposes
                .iter()
                .filter(|p| p.holds(&item))
                .map(|p| {
                    let policy_purpose = self.policy.purpose(&p.purpose);
                    Hold {
                        purpose: p.purpose.clone(),
                        purpose_label: policy_purpose
                            .map(|x| x.label.get(lang).to_string())
                            .unwrap_or_else(|| p.purpose.clone()),
                        basis: p.basis.clone(),
                        basis_label: policy_purpose
                            .map(|x| x.basis.label(lang).to_string())
                            .unwrap_or_else(|| p.basis.clone()),
                        retain_until: p.retain_until,
                        rule: policy_purpose.map(|x| x.retention.describe(lang)).unwrap_or_default(),
                        live: p.is_live(today),
                    }
                })
                .collect();
            // A recipient received the value if it was among what the disclosed purpose held.
            let received_by = disclosures
                .iter()
                .zip(&disclosed)
                .filter(|(d, instance)| {
                    d.categories.contains(&item.category)
                        && purposes.iter().find(|p| p.id == **instance).is_none_or(|p| p.holds(&item))
                })
                .map(|(d, _)| d)
                .map(crate::disclosure::DisclosureReport::received)
                .collect();
            items.push(ItemReport {
                category_label: self
                    .policy
                    .category(&item.category)
                    .map(|c| c.label.get(lang).to_string())
                    .unwrap_or_else(|| item.category.clone()),
                category: item.category,
                value: String::from_utf8_lossy(&value).into_owned(),
                source: item.source,
                collected_at: item.collected_at,
                held_by,
                received_by,
            });
        }
        let restricted = requests.iter().any(|r| r.restricts);
        Ok(SubjectReport {
            subject,
            items,
            disclosures,
            participations,
            certification_messages,
            requests,
            restricted,
            redactions,
            consents: self.consent_report(consents, lang),
            automated_decisions: no_automated_decisions(lang),
        })
    }

    /// The consents of the access report, oldest first.
    fn consent_report(&self, mut consents: Vec<ConsentRecord>, lang: Lang) -> Vec<ConsentReport> {
        consents.sort_by_key(|c| c.requested_at);
        consents
            .into_iter()
            .map(|c| ConsentReport {
                id: c.id,
                purpose_label: self
                    .policy
                    .purpose(&c.purpose)
                    .map(|p| p.label.get(lang).to_string())
                    .unwrap_or_else(|| c.purpose.clone()),
                purpose: c.purpose,
                state: c.state.key(),
                state_label: consent_state_label(c.state, lang),
                policy_version: c.policy_version,
                lang: c.lang,
                text: c.text,
                text_hash: c.text_hash,
                method: c.method,
                requested_at: c.requested_at,
                confirmed_at: c.confirmed_at,
                withdrawn_at: c.withdrawn_at,
                withdraw_method: c.withdraw_method,
            })
            .collect()
    }

    /// The value of each of `categories` that a subject gave for the purpose `given_for` (see
    /// [`PurposeInstance::holds`]; none where it gave none of that category), or with no purpose
    /// named, its newest value of each, opened with its key, in the order of `categories`; `None`
    /// when the subject is gone. Callers audit the read.
    pub async fn open_values(
        &self,
        subject: SubjectId,
        given_for: Option<PurposeInstanceId>,
        categories: &[&str],
    ) -> Result<Option<Vec<(String, String)>>, CoreError> {
        let backend = self.store.backend();
        let purposes = async {
            match given_for {
                Some(_) => backend.purposes_of(subject).await,
                None => Ok(Vec::new()),
            }
        };
        let (wrapped, mut items, purposes) =
            tokio::try_join!(backend.subject_key(subject), backend.items_of(subject), purposes)?;
        let Some(wrapped) = wrapped else { return Ok(None) };
        let key = self.keys.subject_key(subject, &wrapped)?;
        // Only what was given for the purpose, where it recorded that; then the newest first.
        if let Some(purpose) = purposes.iter().find(|p| Some(p.id) == given_for) {
            items.retain(|i| purpose.holds(i));
        }
        items.sort_by_key(|i| std::cmp::Reverse(i.collected_at));
        let mut values = Vec::new();
        for category in categories {
            if let Some(item) = items.iter().find(|i| i.category == *category) {
                let value =
                    key.open(item_binding(&item.id), &item.value).map_err(|e| CoreError::Vault(e.to_string()))?;
                values.push((item.category.clone(), String::from_utf8_lossy(&value).into_owned()));
            }
        }
        Ok(Some(values))
    }

    /// Erasure at the person's request (GDPR Art. 17, P19, P33). Without a live legal hold (or an
    /// open order) this is [`Self::erase_subject`]. With one (an invoice under the Bookkeeping Act,
    /// L6; an order not yet completed, Art. 17(3)(b) with 6(1)(b)), every other
    /// purpose ends now and everything only they held is deleted in the same request, pending mail
    /// is dropped, and the legal holds are marked restricted: their data is kept, not used, until
    /// their `retain_until`, when the sweep erases the rest with the key. The answer lists them.
    ///
    /// Under a `repeat_key` (the form's one-time token, an `Idempotency-Key`), the same request
    /// sent again is answered with the first erasure: one request on record, one proof.
    pub async fn erase_on_request(
        &self,
        subject: SubjectId,
        rule: &str,
        actor: &str,
        repeat_key: Option<&str>,
    ) -> Result<Erasure, CoreError> {
        let (repeat_key, first) = self
            .earlier::<Erasure>(
                "erasure",
                repeat_key,
                || serde_json::json!({ "subject": subject, "rule": rule, "actor": actor }),
            )
            .await?;
        if let Some(first) = first {
            return Ok(first);
        }
        let backend = self.store.backend();
        // Everything the erasure needs is read at once, so it costs one round of reads.
        let (key, purposes, disclosures, items, certification) = tokio::try_join!(
            async { Ok::<_, CoreError>(backend.subject_key(subject).await?) },
            async { Ok::<_, CoreError>(backend.purposes_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.disclosures_of(subject).await?) },
            async { Ok::<_, CoreError>(backend.items_of(subject).await?) },
            self.certification_proofs(subject, None, rule),
        )?;
        if key.is_none() {
            // A copy of this very request, sent at the same moment, may have erased everything.
            if let Some(key) = &repeat_key
                && let Some(first) = self.repeated::<Erasure>(key).await?
            {
                return Ok(first);
            }
            return Err(CoreError::SubjectGone);
        }
        let today = self.clock.today();
        // Kept: legal holds, and an order still open (its invoice can still be credited and its
        // payment refunded; erasing it would leave seats, money and books without a record).
        let (legal, ending): (Vec<&PurposeInstance>, Vec<&PurposeInstance>) = purposes.iter().partition(|p| {
            p.is_live(today) && (p.basis == "legal_obligation" || p.purpose == crate::orders::ORDER_PURPOSE)
        });
        let kept: Vec<KeptHold> = legal
            .iter()
            .map(|p| KeptHold {
                purpose: p.purpose.clone(),
                statute: self.policy.purpose(&p.purpose).and_then(|x| x.statute.clone()),
                categories: p.categories.clone(),
                retain_until: p.retain_until,
            })
            .collect();
        // Every recipient that received the data is told, in the same transaction (Art. 19, L4).
        let kept_ids: Vec<PurposeInstanceId> =
            if kept.is_empty() { Vec::new() } else { legal.iter().map(|p| p.id).collect() };
        let notify = self.notifications_for(&disclosures, &kept_ids);
        let notifying = !notify.is_empty();
        let mut notify: Vec<Op> = if notifying { vec![Op::QueueNotifications(notify)] } else { Vec::new() };
        // A request the person made themself is recorded, closed, in the same change (P34); it names
        // the person only by pseudonymous id, so it outlives the shredded key. (One staff carry out
        // is on record already, in the DPO's queue.)
        if actor == "subject" {
            let (record, _) = self.self_service_record(subject, crate::rights::RequestKind::Erasure, "all", "portal");
            notify.push(record);
        }
        let (ops, event, erasure) = if kept.is_empty() {
            let (ops, event, proof) = self.erasure_ops(subject, &items, certification, rule, actor, notify);
            (ops, event, Erasure { subject, items_deleted: items.len(), proof, kept })
        } else {
            let doomed = crate::retention_sweep::unheld(&items, &legal);
            let now = self.clock.now_micros();
            let mut also = vec![Op::DeleteMailOf(subject)];
            also.extend(notify);
            // A hold whose end is not yet known (an open rights request) stays as it is: it is used
            // for nothing but its own purpose, and its date is set when its anchor event happens.
            for hold in legal.iter().filter(|h| h.retain_until.is_some()) {
                also.push(Op::EndPurpose {
                    instance: hold.id,
                    ended_at: now,
                    reason: RESTRICTED_AFTER_ERASURE.into(),
                    retain_until: hold.retain_until.unwrap_or(today),
                });
            }
            let ending_ids: Vec<_> = ending.iter().map(|p| p.id).collect();
            let certification = self.certification_proofs(subject, Some(&ending_ids), rule).await?;
            let action = "subject.erase_restricted";
            let (ops, event, proof) =
                self.unheld_ops(subject, &doomed, &ending, certification, rule, actor, action, also);
            (ops, event, Erasure { subject, items_deleted: doomed.len(), proof, kept })
        };
        let change = Change { at: self.clock.now_micros(), ops, audit: vec![event] };
        if let Some(first) = self.commit_once(change, repeat_key.as_ref(), &erasure).await? {
            return Ok(first);
        }
        if notifying {
            self.mail_ready.notify_one();
        }
        Ok(erasure)
    }

    /// Erases a subject: the key is destroyed first, then every row, in one transaction, with a
    /// deletion proof and an audit entry. What was stored can no longer be decrypted anywhere.
    pub async fn erase_subject(&self, subject: SubjectId, rule: &str, actor: &str) -> Result<Erasure, CoreError> {
        self.erase_subject_with(subject, rule, actor, Vec::new()).await
    }

    /// [`Self::erase_subject`], with `also` committed in the same transaction.
    pub(crate) async fn erase_subject_with(
        &self,
        subject: SubjectId,
        rule: &str,
        actor: &str,
        also: Vec<Op>,
    ) -> Result<Erasure, CoreError> {
        let backend = self.store.backend();
        let (key, items, certification) = tokio::try_join!(
            async { Ok::<_, CoreError>(backend.subject_key(subject).await?) },
            async { Ok::<_, CoreError>(backend.items_of(subject).await?) },
            self.certification_proofs(subject, None, rule),
        )?;
        if key.is_none() {
            return Err(CoreError::SubjectGone);
        }
        self.commit_erasure(subject, &items, certification, rule, actor, also).await
    }

    /// Shreds the key and deletes every row of `subject`, with a deletion proof over `items`, the
    /// certification proofs and `also` in the same change.
    async fn commit_erasure(
        &self,
        subject: SubjectId,
        items: &[StoredItem],
        certification: Vec<Op>,
        rule: &str,
        actor: &str,
        also: Vec<Op>,
    ) -> Result<Erasure, CoreError> {
        let (ops, event, proof) = self.erasure_ops(subject, items, certification, rule, actor, also);
        self.store.commit(Change { at: self.clock.now_micros(), ops, audit: vec![event] }).await?;
        Ok(Erasure { subject, items_deleted: items.len(), proof, kept: Vec::new() })
    }

    /// What erasing `subject` writes: the shredding, a deletion proof over `items`, the
    /// certification proofs and `also`, and the audit entry that says so.
    pub(crate) fn erasure_ops(
        &self,
        subject: SubjectId,
        items: &[StoredItem],
        certification: Vec<Op>,
        rule: &str,
        actor: &str,
        also: Vec<Op>,
    ) -> (Vec<Op>, AuditEvent, ProofId) {
        let mut parts: Vec<&[u8]> = vec![subject.as_bytes()];
        parts.extend(items.iter().map(|i| i.value.as_slice()));
        let proof = DeletionProof {
            id: ProofId::new(),
            at: self.clock.now_micros(),
            record_class: "subject".into(),
            subject_ref: subject.to_string(),
            rule: rule.to_string(),
            content_hash: pactum_vault::digest(&parts),
        };
        let event = AuditEvent::new(
            actor,
            "subject.erase",
            Some(subject),
            serde_json::json!({"items": items.len(), "rule": rule, "proof": proof.id.to_string()}),
        );
        let proof_id = proof.id;
        let mut ops = vec![Op::ShredSubjects(vec![subject]), Op::RecordDeletion(proof)];
        ops.extend(certification);
        ops.extend(also);
        (ops, event, proof_id)
    }
}
