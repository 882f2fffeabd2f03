//! The incident register (GDPR Art. 33–34, L9).
//!
//! Staff record a personal-data breach: when the provider became aware, the window it happened in,
//! what it was, and optionally a recipient whose copy was affected or a staff account or token
//! whose actions were. Pactum computes the authority deadline (72 hours after awareness), finds the
//! people affected — from the audit chain (everyone touched in the window, or only by that actor)
//! and from the disclosure ledger (everyone disclosed to that recipient in the window) — and
//! prefills the Art. 33(3) report. When the risk is high it drafts the notice to the people
//! affected (Art. 34). Recording and reporting are audited.

use std::collections::BTreeSet;

use pactum_policy::Lang;
use pactum_store::{AuditEvent, Backend, Change, Incident, IncidentId, Micros, Op, SubjectId};

use crate::staff::Staff;
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

/// The authority must be told within 72 hours of awareness (Art. 33(1)).
pub const AUTHORITY_DEADLINE_HOURS: i64 = 72;
const HOUR: Micros = 3_600_000_000;

/// The risk levels of Art. 33–34.
pub const RISKS: [&str; 3] = ["unlikely", "risk", "high"];

/// What staff enter for a new incident.
#[derive(Debug, Clone)]
pub struct IncidentDraft {
    pub title: String,
    pub description: String,
    pub aware_at: Micros,
    pub occurred_from: Micros,
    pub occurred_to: Micros,
    pub recipient: Option<String>,
    pub actor: Option<String>,
    pub categories: Vec<String>,
    pub consequences: String,
    pub measures: String,
    pub risk: String,
}

/// An incident with what Pactum derives from it.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub incident: Incident,
    pub deadline: Micros,
    /// Past the deadline and the authority not yet told, for an incident that must be reported.
    pub overdue: bool,
    pub affected: Vec<SubjectId>,
    /// Ledger entries and audit entries in scope: the approximate number of records concerned.
    pub records: usize,
    /// The Art. 33(3) report, prefilled.
    pub report: Vec<(String, String)>,
    /// The Art. 34 notice to the people affected, when the risk is high.
    pub notice: Option<String>,
}

pub(crate) fn text_field(field: &str, value: &str, min: usize, max: u32, errors: &mut Vec<FieldError>) -> String {
    let value = value.trim();
    let problem = if value.chars().count() < min {
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
    /// Records a breach after checking every field; nothing is stored when one is wrong.
    pub async fn record_incident(&self, staff: &Staff, draft: IncidentDraft) -> Result<IncidentId, CoreError> {
        let mut errors = Vec::new();
        let title = text_field("title", &draft.title, 1, 200, &mut errors);
        let description = text_field("description", &draft.description, 1, 4000, &mut errors);
        let consequences = text_field("consequences", &draft.consequences, 0, 4000, &mut errors);
        let measures = text_field("measures", &draft.measures, 0, 4000, &mut errors);
        let now = self.clock.now_micros();
        if draft.aware_at > now {
            errors.push(FieldError { field: "aware_at".into(), problem: Problem::NotADate });
        }
        if draft.occurred_from > draft.occurred_to {
            errors.push(FieldError { field: "occurred_to".into(), problem: Problem::NotADate });
        }
        if !RISKS.contains(&draft.risk.as_str()) {
            errors.push(FieldError { field: "risk".into(), problem: Problem::UnknownChoice });
        }
        if draft.recipient.as_deref().is_some_and(|r| self.policy.recipient(r).is_none()) {
            errors.push(FieldError { field: "recipient".into(), problem: Problem::UnknownChoice });
        }
        let actor = draft.actor.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
        if actor.as_deref().is_some_and(|a| {
            let id = a.strip_prefix("staff:").or_else(|| a.strip_prefix("token:"));
            id.is_none_or(|id| uuid::Uuid::parse_str(id).is_err())
        }) {
            errors.push(FieldError { field: "actor".into(), problem: Problem::Malformed });
        }
        if draft.categories.iter().any(|c| self.policy.category(c).is_none()) {
            errors.push(FieldError { field: "categories".into(), problem: Problem::UnknownChoice });
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let incident = Incident {
            id: IncidentId::new(),
            title,
            description,
            aware_at: draft.aware_at,
            occurred_from: draft.occurred_from,
            occurred_to: draft.occurred_to,
            recipient: draft.recipient,
            actor,
            categories: draft.categories,
            consequences,
            measures,
            risk: draft.risk,
            authority_notified_at: None,
            created_by: staff.actor(),
            created_at: now,
        };
        let id = incident.id;
        let event = AuditEvent::new(
            &staff.actor(),
            "incident.record",
            None,
            serde_json::json!({"incident": id.to_string(), "risk": incident.risk}),
        );
        self.store.commit(Change { at: now, ops: vec![Op::PutIncident(incident)], audit: vec![event] }).await?;
        Ok(id)
    }

    /// Records that the authority (Datatilsynet) was notified, now.
    pub async fn incident_reported(&self, staff: &Staff, id: IncidentId) -> Result<(), CoreError> {
        let mut incident = self.store.backend().incident(id).await?.ok_or(CoreError::UnknownActivity)?;
        if incident.authority_notified_at.is_some() {
            return Ok(());
        }
        let now = self.clock.now_micros();
        incident.authority_notified_at = Some(now);
        let event =
            AuditEvent::new(&staff.actor(), "incident.reported", None, serde_json::json!({"incident": id.to_string()}));
        self.store.commit(Change { at: now, ops: vec![Op::PutIncident(incident)], audit: vec![event] }).await?;
        Ok(())
    }

    /// An incident with its deadline, the people affected, the Art. 33(3) report and, for a high
    /// risk, the Art. 34 notice.
    pub async fn incident_view(&self, id: IncidentId, lang: Lang) -> Result<IncidentView, CoreError> {
        let backend = self.store.backend();
        let incident = backend.incident(id).await?.ok_or(CoreError::UnknownActivity)?;
        let mut affected = BTreeSet::new();
        let mut records = 0;
        if let Some(recipient) = &incident.recipient {
            for d in backend.disclosures_to(recipient, incident.occurred_from, incident.occurred_to).await? {
                affected.insert(d.subject);
                records += 1;
            }
        }
        if incident.actor.is_some() || incident.recipient.is_none() {
            for head in backend.audit_heads().await? {
                let mut after = 0;
                loop {
                    let page = backend.audit_entries(&head.chain, after, 5_000).await?;
                    let Some(last) = page.last() else { break };
                    after = last.seq;
                    for e in page {
                        let in_window = (incident.occurred_from..=incident.occurred_to).contains(&e.at);
                        let by_actor = incident.actor.as_deref().is_none_or(|a| e.actor == a);
                        let subject = e.subject_ref.as_deref().and_then(|s| uuid::Uuid::parse_str(s).ok());
                        if let (true, true, Some(id)) = (in_window, by_actor, subject) {
                            affected.insert(SubjectId(id));
                            records += 1;
                        }
                    }
                }
            }
        }
        let deadline = incident.aware_at + AUTHORITY_DEADLINE_HOURS * HOUR;
        let must_report = incident.risk != "unlikely";
        let overdue = must_report && incident.authority_notified_at.is_none() && self.clock.now_micros() > deadline;
        let affected: Vec<SubjectId> = affected.into_iter().collect();
        let report = self.art33_report(&incident, affected.len(), records, lang);
        let notice = (incident.risk == "high").then(|| self.art34_notice(&incident, lang));
        Ok(IncidentView { incident, deadline, overdue, affected, records, report, notice })
    }

    fn category_labels(&self, incident: &Incident, lang: Lang) -> String {
        incident
            .categories
            .iter()
            .map(|c| self.policy.category(c).map(|x| x.label.get(lang).to_string()).unwrap_or(c.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn contact_point(&self) -> String {
        let c = &self.policy.controller;
        match &c.dpo {
            Some(dpo) => format!("{} <{}>", dpo.name, dpo.email),
            None => format!("{} <{}>", c.name, c.email),
        }
    }

    /// The four items of Art. 33(3), prefilled from the record, the ledger and the audit chain.
    fn art33_report(&self, incident: &Incident, people: usize, records: usize, lang: Lang) -> Vec<(String, String)> {
        let categories = self.category_labels(incident, lang);
        let (a, b, c, d) = match lang {
            Lang::Da => (
                "a) Bruddets karakter, kategorier og omtrentligt antal registrerede og registreringer",
                "b) Kontaktpunkt",
                "c) Sandsynlige konsekvenser",
                "d) Trufne eller foreslåede foranstaltninger",
            ),
            Lang::En => (
                "(a) Nature of the breach, categories and approximate number of data subjects and records",
                "(b) Contact point",
                "(c) Likely consequences",
                "(d) Measures taken or proposed",
            ),
        };
        let nature = match lang {
            Lang::Da => format!(
                "{} Oplysninger: {categories}. Omtrent {people} registrerede og {records} registreringer.",
                incident.description
            ),
            Lang::En => format!(
                "{} Data: {categories}. About {people} data subjects and {records} records.",
                incident.description
            ),
        };
        vec![
            (a.into(), nature),
            (b.into(), self.contact_point()),
            (c.into(), incident.consequences.clone()),
            (d.into(), incident.measures.clone()),
        ]
    }

    /// A draft of the notice to the people affected, in plain language (Art. 34(2)).
    fn art34_notice(&self, incident: &Incident, lang: Lang) -> String {
        let categories = self.category_labels(incident, lang);
        let controller = &self.policy.controller.name;
        match lang {
            Lang::Da => format!(
                "Kære deltager\n\nVi skal fortælle dig om et brud på sikkerheden hos {controller}, som berører dine oplysninger: {categories}.\n\n\
                 Hvad skete der: {}\n\nMulige konsekvenser for dig: {}\n\nHvad vi har gjort: {}\n\n\
                 Har du spørgsmål, så kontakt {}. Du kan også klage til Datatilsynet, www.datatilsynet.dk.",
                incident.description,
                incident.consequences,
                incident.measures,
                self.contact_point()
            ),
            Lang::En => format!(
                "Dear participant\n\nWe must tell you about a security breach at {controller} that concerns your data: {categories}.\n\n\
                 What happened: {}\n\nPossible consequences for you: {}\n\nWhat we have done: {}\n\n\
                 If you have questions, contact {}. You can also complain to the Danish Data Protection Agency, www.datatilsynet.dk.",
                incident.description,
                incident.consequences,
                incident.measures,
                self.contact_point()
            ),
        }
    }
}
