//! Disclosures to third parties, deny by default (P08–P12, L10, C3).
//!
//! Pactum hands personal data to a recipient only when the policy registers that recipient for the
//! purpose, on the purpose's own legal basis, with a transfer safeguard outside the EEA, and, under
//! a legal obligation, with the statute the request cites. The activity must fit too: a roster goes
//! only to the partner that delivers that course, an attendee list only to that event's co-organiser,
//! and a sponsor only gets those who ticked that event's sponsor box. A refusal is audited and says
//! why. An allowed disclosure writes one ledger entry and one audit entry per person, in one
//! transaction, and returns the export for the recipient (CSV or JSON) with exactly the categories
//! both the recipient and the purpose declare.

use pactum_policy::{Lang, LegalBasis, Recipient};
use pactum_store::{
    AuditEvent, Backend, Change, Disclosure, DisclosureId, EventId, InvoiceId, Micros, PurposeInstanceId, SessionId,
    SubjectId, Uuid,
};
use serde::Serialize;

use crate::{Clock, CoreError, Pactum};

/// What a disclosure is about: whose data goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The participants of a course session.
    Session(SessionId),
    /// The attendees of an event.
    Event(EventId),
    /// The buyer of an invoice (for an authority, under the Bookkeeping Act).
    Invoice(InvoiceId),
}

#[derive(Debug, Clone)]
pub struct DisclosureRequest {
    pub recipient: String,
    pub purpose: String,
    pub scope: Scope,
    /// The statute an authority's request cites; required under a legal obligation (P12).
    pub statute: Option<String>,
    /// Who asks: `staff:…` or `token:…`.
    pub actor: String,
}

/// Why a disclosure was refused. The messages name policy keys only, never a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the policy registers no recipient `{0}`")]
    UnknownRecipient(String),
    #[error("the policy has no purpose `{0}`")]
    UnknownPurpose(String),
    #[error("the policy does not register `{recipient}` for the purpose `{purpose}`")]
    NotRegistered { recipient: String, purpose: String },
    #[error("`{recipient}` is registered on the basis `{registered}`, but `{purpose}` rests on `{basis}`")]
    BasisMismatch { recipient: String, registered: String, purpose: String, basis: String },
    #[error("only course delivery, certification and legal obligations may disclose without consent; `{0}` may not")]
    ConsentRequired(String),
    #[error("`{recipient}` is in {country}, outside the EEA, and the policy names no transfer safeguard for it")]
    NoSafeguard { recipient: String, country: String },
    #[error("a disclosure under a legal obligation must cite the statute the request rests on")]
    StatuteRequired,
    #[error("`{recipient}` has no part in this {what}")]
    NotThisActivity { recipient: String, what: &'static str },
    #[error("the purpose `{purpose}` does not disclose data about a {what}")]
    WrongScope { purpose: String, what: &'static str },
}

impl Refusal {
    /// The refusal for staff, in their language, with what to do.
    pub fn describe(&self, lang: Lang) -> String {
        match lang {
            Lang::En => format!("Refused: {self}. Nothing was disclosed."),
            Lang::Da => {
                let why = match self {
                    Refusal::UnknownRecipient(r) => format!("politikken kender ingen modtager «{r}»"),
                    Refusal::UnknownPurpose(p) => format!("politikken har intet formål «{p}»"),
                    Refusal::NotRegistered { recipient, purpose } => {
                        format!("politikken giver ikke «{recipient}» adgang til data under formålet «{purpose}»")
                    }
                    Refusal::BasisMismatch { recipient, registered, purpose, basis } => format!(
                        "«{recipient}» er registreret med grundlaget «{registered}», men «{purpose}» hviler på «{basis}»"
                    ),
                    Refusal::ConsentRequired(p) => format!(
                        "kun kursusafvikling, certificering og retlige forpligtelser må videregive uden samtykke; «{p}» må ikke"
                    ),
                    Refusal::NoSafeguard { recipient, country } => format!(
                        "«{recipient}» er i {country} uden for EØS, og politikken angiver ingen overførselsgaranti"
                    ),
                    Refusal::StatuteRequired => {
                        "en videregivelse efter en retlig forpligtelse skal angive den lovhjemmel, anmodningen bygger på"
                            .to_string()
                    }
                    Refusal::NotThisActivity { recipient, what } => {
                        format!("«{recipient}» har ingen rolle i dette {}", if *what == "event" { "event" } else { "hold" })
                    }
                    Refusal::WrongScope { purpose, .. } => format!("formålet «{purpose}» kan ikke bruges her"),
                };
                format!("Afvist: {why}. Intet er videregivet.")
            }
        }
    }
}

/// One disclosure as the person's access report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DisclosureReport {
    pub recipient: String,
    pub recipient_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The transfer safeguard outside the EEA (L10), in the reader's language.
    pub safeguard: Option<String>,
    pub purpose: String,
    pub purpose_label: String,
    pub basis: String,
    pub basis_label: String,
    pub categories: Vec<String>,
    pub category_labels: Vec<String>,
    pub statute: Option<String>,
    pub at: Micros,
}

/// A recipient of one item, with when it received it.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub recipient_name: String,
    pub country: String,
    pub safeguard: Option<String>,
    pub at: Micros,
}

impl DisclosureReport {
    pub fn received(&self) -> Received {
        Received {
            recipient_name: self.recipient_name.clone(),
            country: self.country.clone(),
            safeguard: self.safeguard.clone(),
            at: self.at,
        }
    }
}

/// One person in an export: a reference the recipient can answer with (the enrolment id, or the
/// invoice number) and the disclosed values in the export's category order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub reference: String,
    pub values: Vec<(String, String)>,
}

/// What went to a recipient in one disclosure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureExport {
    pub batch: Uuid,
    pub recipient: String,
    pub recipient_name: String,
    pub purpose: String,
    pub basis: String,
    pub statute: Option<String>,
    pub categories: Vec<String>,
    pub at: Micros,
    pub rows: Vec<ExportRow>,
}

impl DisclosureExport {
    /// RFC 4180 CSV: a header of `reference` and the categories, then one line per person.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<&str> =
            std::iter::once("reference").chain(self.categories.iter().map(String::as_str)).collect();
        out.push_str(&header.iter().map(|h| csv_cell(h)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
        for row in &self.rows {
            let mut cells = vec![csv_cell(&row.reference)];
            for category in &self.categories {
                let value = row.values.iter().find(|(c, _)| c == category).map(|(_, v)| v.as_str()).unwrap_or("");
                cells.push(csv_cell(value));
            }
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "batch": self.batch.to_string(),
            "recipient": self.recipient,
            "recipient_name": self.recipient_name,
            "purpose": self.purpose,
            "basis": self.basis,
            "statute": self.statute,
            "categories": self.categories,
            "disclosed_at": crate::clock::from_micros(self.at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "people": self.rows.iter().map(|r| {
                let mut person = serde_json::Map::new();
                person.insert("reference".into(), r.reference.clone().into());
                for (category, value) in &r.values {
                    person.insert(category.clone(), value.clone().into());
                }
                serde_json::Value::Object(person)
            }).collect::<Vec<_>>(),
        })
    }
}

/// One CSV cell: quoted, with quotes doubled, and a leading `=`, `+`, `-`, `@`, tab or carriage
/// return defused with an apostrophe, so that a name typed into a form cannot become a formula in
/// the recipient's spreadsheet.
pub(crate) fn csv_cell(value: &str) -> String {
    let defused = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// A person the disclosure covers, with the purpose instance it is made under.
struct Covered {
    subject: SubjectId,
    instance: PurposeInstanceId,
    reference: String,
    activity: Option<Uuid>,
}

/// Purposes that may disclose on a basis other than consent (P10): course delivery (including an
/// event's co-organiser) and certification, on a contract; anything under a legal obligation.
fn may_disclose_without_consent(purpose: &str, basis: LegalBasis) -> bool {
    basis == LegalBasis::LegalObligation || matches!(purpose, "course_enrolment" | "event_signup" | "certification")
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// The disclosure ledger's entries about a person, labelled for their access report.
    pub fn disclosure_report(&self, entries: Vec<Disclosure>, lang: Lang) -> Vec<DisclosureReport> {
        entries
            .into_iter()
            .map(|d| {
                let recipient = self.policy.recipient(&d.recipient);
                let purpose = self.policy.purpose(&d.purpose);
                DisclosureReport {
                    recipient_name: recipient.map(|r| r.name.clone()).unwrap_or_else(|| d.recipient.clone()),
                    country: recipient.map(|r| r.country.clone()).unwrap_or_default(),
                    safeguard: recipient.and_then(|r| r.safeguard).map(|s| s.label(lang).to_string()),
                    purpose_label: purpose.map(|p| p.label.get(lang).to_string()).unwrap_or_else(|| d.purpose.clone()),
                    basis_label: purpose.map(|p| p.basis.label(lang).to_string()).unwrap_or_else(|| d.basis.clone()),
                    category_labels: d
                        .categories
                        .iter()
                        .map(|c| self.policy.category(c).map(|x| x.label.get(lang).to_string()).unwrap_or(c.clone()))
                        .collect(),
                    recipient: d.recipient,
                    purpose: d.purpose,
                    basis: d.basis,
                    categories: d.categories,
                    statute: d.statute,
                    at: d.at,
                }
            })
            .collect()
    }

    /// Checks a disclosure against the policy and the activity, and on success records it in the
    /// ledger and returns the export. A refusal is audited and nothing is disclosed.
    pub async fn disclose(&self, request: DisclosureRequest) -> Result<DisclosureExport, CoreError> {
        match self.check_disclosure(&request).await {
            Ok((recipient, covered)) => self.record_disclosure(&request, recipient, covered).await,
            Err(CoreError::Refused(refusal)) => {
                let event = AuditEvent::new(
                    &request.actor,
                    "disclosure.refused",
                    None,
                    serde_json::json!({
                        "recipient": request.recipient,
                        "purpose": request.purpose,
                        "scope": scope_ref(request.scope),
                        "reason": refusal.to_string(),
                    }),
                );
                self.store.commit(Change { at: self.clock.now_micros(), ops: Vec::new(), audit: vec![event] }).await?;
                Err(CoreError::Refused(refusal))
            }
            Err(e) => Err(e),
        }
    }

    async fn check_disclosure(&self, request: &DisclosureRequest) -> Result<(&Recipient, Vec<Covered>), CoreError> {
        let refuse = |r: Refusal| Err(CoreError::Refused(r));
        let Some(recipient) = self.policy.recipient(&request.recipient) else {
            return refuse(Refusal::UnknownRecipient(request.recipient.clone()));
        };
        let Some(purpose) = self.policy.purpose(&request.purpose) else {
            return refuse(Refusal::UnknownPurpose(request.purpose.clone()));
        };
        if !recipient.purposes.contains(&purpose.key) {
            return refuse(Refusal::NotRegistered { recipient: recipient.key.clone(), purpose: purpose.key.clone() });
        }
        if recipient.basis != purpose.basis {
            return refuse(Refusal::BasisMismatch {
                recipient: recipient.key.clone(),
                registered: recipient.basis.key().into(),
                purpose: purpose.key.clone(),
                basis: purpose.basis.key().into(),
            });
        }
        if purpose.basis != LegalBasis::Consent && !may_disclose_without_consent(&purpose.key, purpose.basis) {
            return refuse(Refusal::ConsentRequired(purpose.key.clone()));
        }
        if !recipient.in_eea() && recipient.safeguard.is_none() {
            return refuse(Refusal::NoSafeguard {
                recipient: recipient.key.clone(),
                country: recipient.country.clone(),
            });
        }
        let statute = request.statute.as_deref().map(str::trim).unwrap_or("");
        if purpose.basis == LegalBasis::LegalObligation && statute.is_empty() {
            return refuse(Refusal::StatuteRequired);
        }
        let covered = self.covered_by(request, recipient).await?;
        Ok((recipient, covered))
    }

    /// The people a disclosure covers: those whose purpose instance for it is live (and, for a
    /// consent purpose, whose consent is active), on the activity the recipient has a part in.
    async fn covered_by(&self, request: &DisclosureRequest, recipient: &Recipient) -> Result<Vec<Covered>, CoreError> {
        let backend = self.store.backend();
        let today = self.clock.today();
        let purpose = request.purpose.as_str();
        let wrong_scope = |what| CoreError::Refused(Refusal::WrongScope { purpose: purpose.into(), what });
        let not_this = |what| CoreError::Refused(Refusal::NotThisActivity { recipient: recipient.key.clone(), what });
        let mut covered = Vec::new();
        match request.scope {
            Scope::Session(id) => {
                let session =
                    backend.sessions().await?.into_iter().find(|s| s.id == id).ok_or(CoreError::UnknownActivity)?;
                let course = backend
                    .courses()
                    .await?
                    .into_iter()
                    .find(|c| c.id == session.course)
                    .ok_or(CoreError::UnknownActivity)?;
                let takes_part = match purpose {
                    "course_enrolment" => course.delivered_by.as_deref() == Some(recipient.key.as_str()),
                    "certification" => course.certification,
                    _ => return Err(wrong_scope("course session")),
                };
                if !takes_part {
                    return Err(not_this("course session"));
                }
                for enrolment in backend.enrolments_of(id.0).await? {
                    if enrolment.cancelled_at.is_some() {
                        continue;
                    }
                    let instance =
                        if purpose == "certification" { enrolment.certification } else { Some(enrolment.instance) };
                    let Some(instance) = instance else { continue };
                    if self.instance_usable(enrolment.subject, instance, today).await? {
                        covered.push(Covered {
                            subject: enrolment.subject,
                            instance,
                            reference: enrolment.id.to_string(),
                            activity: Some(id.0),
                        });
                    }
                }
            }
            Scope::Event(id) => {
                let event =
                    backend.events().await?.into_iter().find(|e| e.id == id).ok_or(CoreError::UnknownActivity)?;
                let role = match purpose {
                    "event_signup" => event.co_organiser.as_deref(),
                    "event_sponsor_sharing" => event.sponsor.as_deref(),
                    _ => return Err(wrong_scope("event")),
                };
                if role != Some(recipient.key.as_str()) {
                    return Err(not_this("event"));
                }
                for enrolment in backend.enrolments_of(id.0).await? {
                    if enrolment.cancelled_at.is_some() {
                        continue;
                    }
                    let instance = if purpose == "event_sponsor_sharing" {
                        // Only those who ticked this event's sponsor box, with the consent still active (C3).
                        let Some(consent) = enrolment.sponsor_consent else { continue };
                        match backend.consent(consent).await? {
                            Some(c) if c.state == pactum_store::ConsentState::Active => c.instance,
                            _ => continue,
                        }
                    } else {
                        enrolment.instance
                    };
                    if self.instance_usable(enrolment.subject, instance, today).await? {
                        covered.push(Covered {
                            subject: enrolment.subject,
                            instance,
                            reference: enrolment.id.to_string(),
                            activity: Some(id.0),
                        });
                    }
                }
            }
            Scope::Invoice(id) => {
                let invoice = backend.invoice(id).await?.ok_or(CoreError::UnknownActivity)?;
                let held_by = backend.purposes_of(invoice.buyer).await?.into_iter().find(|p| p.id == invoice.instance);
                // A legal obligation reaches data that an erasure request restricted (Art. 18(2)).
                match held_by {
                    Some(p) if p.purpose != purpose => return Err(wrong_scope("invoice")),
                    Some(p) if p.is_live(today) => covered.push(Covered {
                        subject: invoice.buyer,
                        instance: p.id,
                        reference: invoice.number.to_string(),
                        activity: None,
                    }),
                    _ => {}
                }
            }
        }
        Ok(covered)
    }

    /// Whether a purpose instance may still be used for a disclosure: it exists, holds its data
    /// today, and has not ended (a withdrawal, an objection or an erasure ends it; L3).
    async fn instance_usable(
        &self,
        subject: SubjectId,
        instance: PurposeInstanceId,
        today: time::Date,
    ) -> Result<bool, CoreError> {
        let purposes = self.store.backend().purposes_of(subject).await?;
        let live = purposes.iter().any(|p| p.id == instance && p.ended_at.is_none() && p.is_live(today));
        // Restricted data is only stored: not passed on while an objection or dispute is open (L3).
        Ok(live && !self.is_restricted(subject).await?)
    }

    async fn record_disclosure(
        &self,
        request: &DisclosureRequest,
        recipient: &Recipient,
        covered: Vec<Covered>,
    ) -> Result<DisclosureExport, CoreError> {
        let purpose = self.purpose(&request.purpose)?;
        let categories: Vec<String> =
            purpose.fields.iter().map(|f| f.category.clone()).filter(|c| recipient.categories.contains(c)).collect();
        let wanted: Vec<&str> = categories.iter().map(String::as_str).collect();
        let statute = request.statute.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let batch = Uuid::now_v7();
        let at = self.clock.now_micros();
        let mut rows = Vec::new();
        let mut entries = Vec::new();
        let mut audit = Vec::new();
        for person in covered {
            let Some(values) = self.open_values(person.subject, Some(person.instance), &wanted).await? else {
                continue;
            };
            entries.push(Disclosure {
                id: DisclosureId::new(),
                batch,
                recipient: recipient.key.clone(),
                purpose: purpose.key.clone(),
                basis: purpose.basis.key().into(),
                categories: categories.clone(),
                subject: person.subject,
                instance: person.instance,
                activity: person.activity,
                reference: person.reference.clone(),
                statute: statute.clone(),
                actor: request.actor.clone(),
                at,
            });
            audit.push(AuditEvent::new(
                &request.actor,
                "disclosure.made",
                Some(person.subject),
                serde_json::json!({
                    "batch": batch.to_string(),
                    "recipient": recipient.key,
                    "purpose": purpose.key,
                    "basis": purpose.basis.key(),
                    "categories": categories,
                    "statute": statute,
                }),
            ));
            rows.push(ExportRow { reference: person.reference, values });
        }
        if !entries.is_empty() {
            let ops = vec![pactum_store::Op::RecordDisclosures(entries)];
            self.store.commit(Change { at, ops, audit }).await?;
        }
        Ok(DisclosureExport {
            batch,
            recipient: recipient.key.clone(),
            recipient_name: recipient.name.clone(),
            purpose: purpose.key.clone(),
            basis: purpose.basis.key().into(),
            statute,
            categories,
            at,
            rows,
        })
    }
}

fn scope_ref(scope: Scope) -> String {
    match scope {
        Scope::Session(s) => format!("session:{s}"),
        Scope::Event(e) => format!("event:{e}"),
        Scope::Invoice(i) => format!("invoice:{i}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("Anna \"A\" Andersen"), "\"Anna \"\"A\"\" Andersen\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(lead).starts_with("\"'"), "{lead}");
        }
        assert_eq!(csv_cell("Zoë, Ørsted\nline"), "\"Zoë, Ørsted\nline\"");
    }
}
