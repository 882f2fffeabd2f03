//! Certification with the partner (P13–P18).
//!
//! The partner sends two messages per participant to the session's exam proctor: the registration
//! notice before the exam and the result after it. Each is sealed under the participant's key, held
//! by an `exam_proctoring` purpose instance that ends with the course, so the retention sweep deletes
//! it, with a deletion proof, on the first run after the course end (P16). Only the session's
//! assigned instructor can read them (P15). The result also becomes the participation record: the
//! course, its end date and passed yes/no, and nothing else (P17), held by a
//! `certification_record` instance for five years after the course end (P18). Only a participant
//! who chose certification, and has not objected to it, can receive messages (P13, P14).

use pactum_store::{
    AuditEvent, Backend, CertificationMessage, CertificationMessageId, Change, CourseSession, DeletionProof, Enrolment,
    EnrolmentId, Op, Participation, ProofId, PurposeInstanceId, SessionId, SubjectId,
};
use pactum_vault::Binding;
use serde::Serialize;

use crate::staff::{Role, Staff};
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

pub const PROCTORING_PURPOSE: &str = "exam_proctoring";
pub const RECORD_PURPOSE: &str = "certification_record";
const MESSAGES_TABLE: &str = "certification_messages";
const PARTICIPATIONS_TABLE: &str = "participations";
/// The longest subject line and body Pactum keeps of a partner's message.
pub const MAX_SUBJECT_CHARS: u32 = 300;
pub const MAX_BODY_CHARS: u32 = 20_000;

/// What the partner sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Before the exam: the participant is registered.
    Registration,
    /// After the exam: the participant passed, or did not.
    Result { passed: bool },
}

impl MessageKind {
    pub fn key(self) -> &'static str {
        match self {
            MessageKind::Registration => "registration",
            MessageKind::Result { .. } => "result",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PartnerMessage {
    pub session: SessionId,
    /// The participant, by the reference the certification export gave the partner.
    pub enrolment: EnrolmentId,
    pub kind: MessageKind,
    pub subject_line: String,
    pub body: String,
    /// `token:…` for the partner's API token, or `staff:…` for an upload.
    pub actor: String,
}

/// A message opened for the proctor.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedMessage {
    pub id: CertificationMessageId,
    pub enrolment: EnrolmentId,
    pub participant: String,
    pub kind: String,
    pub subject_line: String,
    pub body: String,
    pub received_at: i64,
}

/// A participation record as the person's access report shows it (P17, P18).
#[derive(Debug, Clone, Serialize)]
pub struct ParticipationReport {
    pub course: String,
    pub course_ends_on: time::Date,
    pub passed: bool,
    pub source: &'static str,
    pub retain_until: Option<time::Date>,
    pub rule: String,
}

/// A message from the certification partner as the person's access report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageReport {
    pub kind: String,
    pub subject_line: String,
    pub body: String,
    pub received_at: i64,
    pub source: &'static str,
    pub retain_until: Option<time::Date>,
}

/// Where certification data comes from (L2: the person is told the source).
const PARTNER_SOURCE: &str = "partner:certification_partner";

#[derive(Serialize, serde::Deserialize)]
struct SealedContent {
    subject: String,
    body: String,
}

fn message_binding(id: &CertificationMessageId) -> Binding<'_> {
    Binding { table: MESSAGES_TABLE, column: "sealed", row_id: id.as_bytes() }
}

pub(crate) fn participation_binding(enrolment: &EnrolmentId) -> Binding<'_> {
    Binding { table: PARTICIPATIONS_TABLE, column: "passed", row_id: enrolment.as_bytes() }
}

/// A partner's free text: trimmed, not empty, at most `max` characters, and no control characters
/// other than line breaks and tabs.
fn checked_text(field: &str, value: &str, max: u32, errors: &mut Vec<FieldError>) -> String {
    let value = value.trim();
    let problem = if value.is_empty() {
        Some(Problem::Missing)
    } else if value.chars().count() > max as usize {
        Some(Problem::TooLong(max))
    } else if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        Some(Problem::ControlCharacters)
    } else {
        None
    };
    if let Some(problem) = problem {
        errors.push(FieldError { field: field.into(), problem });
    }
    value.to_string()
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    async fn session_and_enrolment(
        &self,
        session: SessionId,
        enrolment: EnrolmentId,
    ) -> Result<(CourseSession, Enrolment), CoreError> {
        let backend = self.store.backend();
        let session =
            backend.sessions().await?.into_iter().find(|s| s.id == session).ok_or(CoreError::UnknownActivity)?;
        let enrolment = backend
            .enrolments_of(session.id.0)
            .await?
            .into_iter()
            .find(|e| e.id == enrolment && e.cancelled_at.is_none())
            .ok_or(CoreError::UnknownParticipant)?;
        Ok((session, enrolment))
    }

    /// Stores a message from the certification partner for the session's proctor and, for a result,
    /// records the participation. Refused for a participant who did not choose certification or
    /// objected to it.
    pub async fn receive_certification_message(
        &self,
        message: PartnerMessage,
    ) -> Result<CertificationMessageId, CoreError> {
        let mut errors = Vec::new();
        let subject_line = checked_text("subject", &message.subject_line, MAX_SUBJECT_CHARS, &mut errors);
        let body = checked_text("body", &message.body, MAX_BODY_CHARS, &mut errors);
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let (session, enrolment) = self.session_and_enrolment(message.session, message.enrolment).await?;
        let backend = self.store.backend();
        let today = self.clock.today();
        let purposes = backend.purposes_of(enrolment.subject).await?;
        let chose_certification = enrolment
            .certification
            .is_some_and(|c| purposes.iter().any(|p| p.id == c && p.ended_at.is_none() && p.is_live(today)));
        if !chose_certification {
            return Err(CoreError::CertificationNotChosen);
        }
        let wrapped = backend.subject_key(enrolment.subject).await?.ok_or(CoreError::SubjectGone)?;
        let key = self.keys.subject_key(enrolment.subject, &wrapped)?;
        let mut ops = Vec::new();
        let proctoring = backend
            .certification_messages_of_subject(enrolment.subject)
            .await?
            .into_iter()
            .find(|m| m.enrolment == enrolment.id)
            .map(|m| m.instance);
        let instance = match proctoring {
            Some(instance) => instance,
            None => {
                let purpose = self.purpose(PROCTORING_PURPOSE)?;
                let instance = self.start_purpose(enrolment.subject, purpose, Some(session.ends_on));
                let id = instance.id;
                ops.push(Op::StartPurpose(instance));
                id
            }
        };
        let id = CertificationMessageId::new();
        let content = serde_json::to_vec(&SealedContent { subject: subject_line, body })
            .map_err(|e| CoreError::Vault(e.to_string()))?;
        let sealed = key.seal(message_binding(&id), &content).map_err(|e| CoreError::Vault(e.to_string()))?;
        let now = self.clock.now_micros();
        ops.push(Op::PutCertificationMessage(CertificationMessage {
            id,
            session: session.id,
            enrolment: enrolment.id,
            subject: enrolment.subject,
            instance,
            kind: message.kind.key().into(),
            sealed,
            received_at: now,
        }));
        let mut audit = vec![AuditEvent::new(
            &message.actor,
            "certification.message_received",
            Some(enrolment.subject),
            serde_json::json!({"message": id.to_string(), "session": session.id.to_string(), "kind": message.kind.key()}),
        )];
        if let MessageKind::Result { passed } = message.kind {
            let existing = backend
                .participations_of(enrolment.subject)
                .await?
                .into_iter()
                .find(|p| p.enrolment == enrolment.id)
                .map(|p| p.instance);
            let record = match existing {
                Some(instance) => instance,
                None => {
                    let purpose = self.purpose(RECORD_PURPOSE)?;
                    let instance = self.start_purpose(enrolment.subject, purpose, Some(session.ends_on));
                    let id = instance.id;
                    ops.push(Op::StartPurpose(instance));
                    id
                }
            };
            let passed = key
                .seal(participation_binding(&enrolment.id), if passed { b"yes" } else { b"no" })
                .map_err(|e| CoreError::Vault(e.to_string()))?;
            ops.push(Op::PutParticipation(Participation {
                enrolment: enrolment.id,
                subject: enrolment.subject,
                instance: record,
                course: session.course,
                ends_on: session.ends_on,
                passed,
                recorded_at: now,
            }));
            audit.push(AuditEvent::new(
                &message.actor,
                "certification.result_recorded",
                Some(enrolment.subject),
                serde_json::json!({"enrolment": enrolment.id.to_string(), "session": session.id.to_string()}),
            ));
        }
        self.store.commit(Change { at: now, ops, audit }).await?;
        Ok(id)
    }

    /// The person's certifications they can still object to: enrolments whose certification
    /// purpose is live, with the course title and its end.
    pub async fn objectable_certifications(
        &self,
        subject: SubjectId,
        lang: pactum_policy::Lang,
    ) -> Result<Vec<(EnrolmentId, String, time::Date)>, CoreError> {
        let backend = self.store.backend();
        let today = self.clock.today();
        let purposes = backend.purposes_of(subject).await?;
        let catalogue = self.catalogue().await?;
        let mut out = Vec::new();
        for e in backend.enrolments_of_subject(subject).await? {
            let live = e
                .certification
                .is_some_and(|c| purposes.iter().any(|p| p.id == c && p.ended_at.is_none() && p.is_live(today)));
            let session = catalogue.sessions.iter().find(|s| s.id.0 == e.activity);
            let course = session.and_then(|s| catalogue.courses.iter().find(|c| c.id == s.course));
            if let (true, Some(session), Some(course)) = (live && e.cancelled_at.is_none(), session, course) {
                let title = if lang == pactum_policy::Lang::Da { &course.title_da } else { &course.title_en };
                out.push((e.id, title.clone(), session.ends_on));
            }
        }
        Ok(out)
    }

    /// The person objects to the disclosure to the certification partner (P14, C4): the
    /// certification is cancelled at once, so nothing more is disclosed or received about them,
    /// and every recipient that had their data for it is told, in the same transaction. The
    /// course enrolment itself goes on.
    pub async fn object_to_certification(&self, subject: SubjectId, enrolment: EnrolmentId) -> Result<(), CoreError> {
        let backend = self.store.backend();
        let today = self.clock.today();
        let found = backend.enrolments_of_subject(subject).await?.into_iter().find(|e| e.id == enrolment);
        let certification = found.and_then(|e| e.certification).ok_or(CoreError::CertificationNotChosen)?;
        let purposes = backend.purposes_of(subject).await?;
        let instance = purposes
            .iter()
            .find(|p| p.id == certification && p.ended_at.is_none() && p.is_live(today))
            .ok_or(CoreError::CertificationNotChosen)?;
        let now = self.clock.now_micros();
        let mut ops = vec![Op::EndPurpose {
            instance: instance.id,
            ended_at: now,
            reason: "objection".into(),
            retain_until: today,
        }];
        // The partner's messages to the proctor about this certification go with it.
        let mut proctoring: Vec<PurposeInstanceId> = backend
            .certification_messages_of_subject(subject)
            .await?
            .into_iter()
            .filter(|m| m.enrolment == enrolment)
            .map(|m| m.instance)
            .collect();
        proctoring.dedup();
        for p in purposes.iter().filter(|p| proctoring.contains(&p.id) && p.ended_at.is_none()) {
            ops.push(Op::EndPurpose { instance: p.id, ended_at: now, reason: "objection".into(), retain_until: today });
        }
        let entries: Vec<_> =
            backend.disclosures_of(subject).await?.into_iter().filter(|d| d.instance == instance.id).collect();
        let mut notify = self.notifications_for(&entries, &[]);
        for n in &mut notify {
            n.kind = "objection".into();
        }
        let notifying = !notify.is_empty();
        if notifying {
            ops.push(Op::QueueNotifications(notify));
        }
        let event = AuditEvent::new(
            "subject",
            "certification.objection",
            Some(subject),
            serde_json::json!({"enrolment": enrolment.to_string(), "instance": instance.id.to_string()}),
        );
        let (record, record_event) = self.self_service_record(
            subject,
            crate::rights::RequestKind::Objection,
            crate::enrolment::CERTIFICATION_PURPOSE,
            "portal",
        );
        ops.push(record);
        self.store.commit(Change { at: now, ops, audit: vec![event, record_event] }).await?;
        if notifying {
            self.mail_ready.notify_one();
        }
        Ok(())
    }

    /// Whether `staff` is the session's proctor: its assigned instructor, and nobody else (P15).
    async fn is_proctor(&self, staff: &Staff, session: SessionId) -> Result<bool, CoreError> {
        let session = self
            .store
            .backend()
            .sessions()
            .await?
            .into_iter()
            .find(|s| s.id == session)
            .ok_or(CoreError::UnknownActivity)?;
        Ok(staff.role == Role::Instructor && session.instructor.as_deref() == Some(staff.username.as_str()))
    }

    /// The partner's messages for a session, opened for its proctor; every read is audited.
    pub async fn certification_messages_for(
        &self,
        staff: &Staff,
        session: SessionId,
    ) -> Result<Vec<OpenedMessage>, CoreError> {
        if !self.is_proctor(staff, session).await? {
            return Err(CoreError::Forbidden);
        }
        let messages = self.store.backend().certification_messages_of_session(session).await?;
        self.open_messages(staff, messages).await
    }

    /// One message, for its session's proctor; [`CoreError::UnknownMessage`] once it is deleted.
    pub async fn certification_message_for(
        &self,
        staff: &Staff,
        id: CertificationMessageId,
    ) -> Result<OpenedMessage, CoreError> {
        let message = self.store.backend().certification_message(id).await?.ok_or(CoreError::UnknownMessage)?;
        if !self.is_proctor(staff, message.session).await? {
            return Err(CoreError::Forbidden);
        }
        self.open_messages(staff, vec![message]).await?.pop().ok_or(CoreError::UnknownMessage)
    }

    async fn open_messages(
        &self,
        staff: &Staff,
        messages: Vec<CertificationMessage>,
    ) -> Result<Vec<OpenedMessage>, CoreError> {
        let backend = self.store.backend();
        let mut opened = Vec::new();
        let mut audit = Vec::new();
        for m in messages {
            let Some(wrapped) = backend.subject_key(m.subject).await? else { continue };
            let key = self.keys.subject_key(m.subject, &wrapped)?;
            let content = key.open(message_binding(&m.id), &m.sealed).map_err(|e| CoreError::Vault(e.to_string()))?;
            let content: SealedContent = serde_json::from_slice(&content)
                .map_err(|_| CoreError::Vault("a sealed message is malformed".into()))?;
            // The name given for the enrolment the message is about.
            let given_for = backend
                .enrolments_of_subject(m.subject)
                .await?
                .into_iter()
                .find(|e| e.id == m.enrolment)
                .map(|e| e.instance);
            let participant = self
                .open_values(m.subject, given_for, &["name"])
                .await?
                .and_then(|v| v.into_iter().next())
                .map(|(_, name)| name)
                .unwrap_or_default();
            audit.push(AuditEvent::new(
                &staff.actor(),
                "staff.read",
                Some(m.subject),
                serde_json::json!({"what": "certification_message", "message": m.id.to_string()}),
            ));
            opened.push(OpenedMessage {
                id: m.id,
                enrolment: m.enrolment,
                participant,
                kind: m.kind,
                subject_line: content.subject,
                body: content.body,
                received_at: m.received_at,
            });
        }
        if !audit.is_empty() {
            self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit }).await?;
        }
        Ok(opened)
    }

    /// Deletion proofs for the certification rows that go with `ending` purpose instances (every
    /// one of the subject's when `ending` is `None`): one proof per message and per participation
    /// record, so each deletion can be shown on its own (P16, P18).
    pub(crate) async fn certification_proofs(
        &self,
        subject: SubjectId,
        ending: Option<&[PurposeInstanceId]>,
        rule: &str,
    ) -> Result<Vec<Op>, CoreError> {
        let backend = self.store.backend();
        let (messages, participations) =
            tokio::try_join!(backend.certification_messages_of_subject(subject), backend.participations_of(subject))?;
        Ok(self.certification_proof_ops(subject, &messages, &participations, ending, rule))
    }

    /// [`certification_proofs`](Self::certification_proofs) over rows already read.
    pub(crate) fn certification_proof_ops(
        &self,
        subject: SubjectId,
        messages: &[CertificationMessage],
        participations: &[Participation],
        ending: Option<&[PurposeInstanceId]>,
        rule: &str,
    ) -> Vec<Op> {
        let goes = |instance: &PurposeInstanceId| ending.is_none_or(|e| e.contains(instance));
        let now = self.clock.now_micros();
        let proof = |record_class: &str, row: &[u8], content: &[u8]| {
            Op::RecordDeletion(DeletionProof {
                id: ProofId::new(),
                at: now,
                record_class: record_class.into(),
                subject_ref: subject.to_string(),
                rule: rule.to_string(),
                content_hash: pactum_vault::digest(&[subject.as_bytes(), row, content]),
            })
        };
        let mut ops = Vec::new();
        for m in messages {
            if goes(&m.instance) {
                ops.push(proof("certification_message", m.id.as_bytes(), &m.sealed));
            }
        }
        for p in participations {
            if goes(&p.instance) {
                ops.push(proof("participation", p.enrolment.as_bytes(), &p.passed));
            }
        }
        ops
    }

    /// The person's participation records and the partner's messages, opened for their access
    /// report, each with the date its purpose holds it until.
    pub(crate) fn certification_report(
        &self,
        key: &pactum_vault::SubjectKey,
        purposes: &[pactum_store::PurposeInstance],
        courses: &[pactum_store::Course],
        participations: Vec<Participation>,
        messages: Vec<CertificationMessage>,
        lang: pactum_policy::Lang,
    ) -> Result<(Vec<ParticipationReport>, Vec<MessageReport>), CoreError> {
        let until =
            |instance: PurposeInstanceId| purposes.iter().find(|p| p.id == instance).and_then(|p| p.retain_until);
        let rule = self.policy.purpose(RECORD_PURPOSE).map(|p| p.retention.describe(lang)).unwrap_or_default();
        let mut reports = Vec::new();
        for (p, passed) in open_participations(key, participations)? {
            let course = courses.iter().find(|c| c.id == p.course);
            reports.push(ParticipationReport {
                course: course
                    .map(|c| if lang == pactum_policy::Lang::Da { c.title_da.clone() } else { c.title_en.clone() })
                    .unwrap_or_default(),
                course_ends_on: p.ends_on,
                passed,
                source: PARTNER_SOURCE,
                retain_until: until(p.instance),
                rule: rule.clone(),
            });
        }
        let mut opened = Vec::new();
        for m in messages {
            let content = key.open(message_binding(&m.id), &m.sealed).map_err(|e| CoreError::Vault(e.to_string()))?;
            let content: SealedContent = serde_json::from_slice(&content)
                .map_err(|_| CoreError::Vault("a sealed message is malformed".into()))?;
            opened.push(MessageReport {
                kind: m.kind,
                subject_line: content.subject,
                body: content.body,
                received_at: m.received_at,
                source: PARTNER_SOURCE,
                retain_until: until(m.instance),
            });
        }
        Ok((reports, opened))
    }

    /// A subject's participation records, opened: course, end date, passed.
    pub async fn participations(&self, subject: SubjectId) -> Result<Vec<(Participation, bool)>, CoreError> {
        let backend = self.store.backend();
        let Some(wrapped) = backend.subject_key(subject).await? else { return Ok(Vec::new()) };
        let key = self.keys.subject_key(subject, &wrapped)?;
        open_participations(&key, backend.participations_of(subject).await?)
    }
}

/// Participation records with their passed flag opened.
fn open_participations(
    key: &pactum_vault::SubjectKey,
    rows: Vec<Participation>,
) -> Result<Vec<(Participation, bool)>, CoreError> {
    rows.into_iter()
        .map(|p| {
            let passed = key
                .open(participation_binding(&p.enrolment), &p.passed)
                .map_err(|e| CoreError::Vault(e.to_string()))?;
            Ok((p, passed.as_slice() == b"yes"))
        })
        .collect()
}
