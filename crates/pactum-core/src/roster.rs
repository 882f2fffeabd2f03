//! A course session's roster for staff: who is enrolled, with only the fields the reader's role
//! needs. An instructor sees the rosters of their own sessions only, with names and whether each
//! participant takes the certification; coordinators and admins also see contact details. Every
//! read of personal data is written to the audit chain, one entry per person read (P22).

use pactum_store::{AuditEvent, Backend, Change, EnrolmentId, Micros, SessionId, SubjectId};

use crate::staff::{Role, Staff};
use crate::{Clock, CoreError, Pactum};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The participant's reference, as exports to partners give it.
    pub enrolment: EnrolmentId,
    pub subject: SubjectId,
    pub name: String,
    /// Shown to coordinators and admins only.
    pub email: Option<String>,
    pub phone: Option<String>,
    pub certification: bool,
    pub enrolled_at: Micros,
}

#[derive(Debug, Clone)]
pub struct Roster {
    pub session: SessionId,
    pub entries: Vec<RosterEntry>,
}

/// The categories each role reads from a roster.
fn roster_fields(role: Role) -> &'static [&'static str] {
    match role {
        Role::Admin | Role::Coordinator => &["name", "email", "phone"],
        Role::Instructor => &["name"],
        Role::Dpo => &[],
    }
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Whether `staff` may read this session's roster: coordinators and admins any, an instructor
    /// only a session assigned to them.
    pub async fn may_read_roster(&self, staff: &Staff, session: SessionId) -> Result<bool, CoreError> {
        let session = self
            .store
            .backend()
            .sessions()
            .await?
            .into_iter()
            .find(|s| s.id == session)
            .ok_or(CoreError::UnknownActivity)?;
        Ok(match staff.role {
            Role::Admin | Role::Coordinator => true,
            Role::Instructor => session.instructor.as_deref() == Some(staff.username.as_str()),
            Role::Dpo => false,
        })
    }

    /// The active enrolments of a session, decrypted to the reader's fields, and the read audited.
    pub async fn session_roster(&self, staff: &Staff, session: SessionId) -> Result<Roster, CoreError> {
        if !self.may_read_roster(staff, session).await? {
            return Err(CoreError::Forbidden);
        }
        let fields = roster_fields(staff.role);
        let backend = self.store.backend();
        let mut entries = Vec::new();
        for enrolment in backend.enrolments_of(session.0).await? {
            if enrolment.cancelled_at.is_some() {
                continue;
            }
            let Some(values) = self.open_values(enrolment.subject, Some(enrolment.instance), fields).await? else {
                continue;
            };
            let take = |c: &str| values.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone());
            entries.push(RosterEntry {
                enrolment: enrolment.id,
                subject: enrolment.subject,
                name: take("name").unwrap_or_default(),
                email: take("email"),
                phone: take("phone"),
                certification: enrolment.certification.is_some(),
                enrolled_at: enrolment.created_at,
            });
        }
        entries.sort_by_key(|e| e.name.to_lowercase());
        let audit = entries
            .iter()
            .map(|e| {
                AuditEvent::new(
                    &staff.actor(),
                    "staff.read",
                    Some(e.subject),
                    serde_json::json!({"what": "roster", "session": session.to_string(), "categories": fields}),
                )
            })
            .collect::<Vec<_>>();
        if !audit.is_empty() {
            self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit }).await?;
        }
        Ok(Roster { session, entries })
    }
}
