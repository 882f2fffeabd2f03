//! What the access report withholds, and the portable copy.
//!
//! Redactions (Art. 15(4), P31): the report never silently drops what it cannot show. Other
//! people in the person's orders (the colleagues a buyer enrolled) are masked, each counted with
//! the reason; so are the other people in each export a recipient received.
//!
//! Portability (Art. 20, L5): the values the person gave Pactum themself (in a form, through the
//! API, or corrected in "My data"), held under consent or contract, as JSON and as CSV. Values
//! others gave about them (a buyer, the certification partner, staff) are not portable.

use pactum_policy::Lang;
use pactum_store::{Disclosure, Enrolment, Order, StoredItem, SubjectId};
use serde::Serialize;

use crate::personal::item_binding;
use crate::{Backend, Clock, CoreError, Pactum};

/// Something the report does not show, and why (P31).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redaction {
    pub what: String,
    pub reason: String,
}

/// One value the person provided, for the portable copy (L5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortableItem {
    pub category: String,
    pub label: String,
    pub value: String,
    pub source: String,
    pub collected_at: String,
    /// The legal bases it is held on: `consent`, `contract`.
    pub bases: Vec<String>,
}

/// Whether a value came from the person themself rather than from someone else about them.
pub fn provided_by_person(source: &str) -> bool {
    !["order:", "partner:", "staff:"].iter().any(|other| source.starts_with(other))
}

/// The portable copy as CSV: a header row, then one row per value, every cell quoted and
/// spreadsheet formulas defused.
pub fn portability_csv(items: &[PortableItem]) -> String {
    let mut out = String::from("category,label,value,source,collected_at,bases\r\n");
    for i in items {
        let cells = [&i.category, &i.label, &i.value, &i.source, &i.collected_at, &i.bases.join(" ")];
        let row: Vec<String> = cells.iter().map(|c| crate::disclosure::csv_cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// What the report withholds about other people, counted, with the reason (P31).
    pub fn redactions(
        &self,
        own_enrolments: &[Enrolment],
        orders: &[Order],
        disclosures: &[Disclosure],
        lang: Lang,
    ) -> Vec<Redaction> {
        let own: Vec<_> = own_enrolments.iter().map(|e| e.id).collect();
        let others_reason = match lang {
            Lang::Da => "Andre personers oplysninger (databeskyttelsesforordningen art. 15, stk. 4)",
            Lang::En => "Other people's data (GDPR Art. 15(4))",
        };
        let mut redactions = Vec::new();
        for order in orders {
            let others = order.participants.iter().filter(|p| !own.contains(p)).count();
            if others > 0 {
                let what = match lang {
                    Lang::Da => format!("Bestilling {}: navn og e-mailadresse på {others} andre deltagere", order.id),
                    Lang::En => {
                        format!("Order {}: the name and e-mail address of {others} other participants", order.id)
                    }
                };
                redactions.push(Redaction { what, reason: others_reason.into() });
            }
        }
        let mut batches: Vec<(String, String)> = Vec::new();
        for d in disclosures {
            let key = (d.recipient.clone(), d.batch.to_string());
            if !batches.contains(&key) {
                batches.push(key);
            }
        }
        for (recipient, _) in batches {
            let name = self.policy.recipient(&recipient).map(|r| r.name.clone()).unwrap_or(recipient);
            let what = match lang {
                Lang::Da => format!("De øvrige personer på listen, {name} fik sammen med dine oplysninger"),
                Lang::En => format!("The other people on the list {name} received together with your data"),
            };
            redactions.push(Redaction { what, reason: others_reason.into() });
        }
        redactions
    }

    /// The values the person provided under consent or contract, opened (L5). Callers audit the read.
    pub async fn portable_items(&self, subject: SubjectId, lang: Lang) -> Result<Vec<PortableItem>, CoreError> {
        let backend = self.store.backend();
        let wrapped = backend.subject_key(subject).await?.ok_or(CoreError::SubjectGone)?;
        let key = self.keys.subject_key(subject, &wrapped)?;
        let today = self.clock.today();
        let purposes = backend.purposes_of(subject).await?;
        let mut items: Vec<StoredItem> = backend.items_of(subject).await?;
        items.sort_by_key(|i| i.collected_at);
        let mut portable = Vec::new();
        for item in items.iter().filter(|i| provided_by_person(&i.source)) {
            let mut bases: Vec<String> = purposes
                .iter()
                .filter(|p| p.is_live(today) && p.holds(item))
                .map(|p| p.basis.clone())
                .filter(|b| b == "consent" || b == "contract")
                .collect();
            bases.sort();
            bases.dedup();
            if bases.is_empty() {
                continue;
            }
            let value = key.open(item_binding(&item.id), &item.value).map_err(|e| CoreError::Vault(e.to_string()))?;
            portable.push(PortableItem {
                category: item.category.clone(),
                label: self
                    .policy
                    .category(&item.category)
                    .map(|c| c.label.get(lang).to_string())
                    .unwrap_or_else(|| item.category.clone()),
                value: String::from_utf8_lossy(&value).into_owned(),
                source: item.source.clone(),
                collected_at: crate::clock::from_micros(item.collected_at)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                bases,
            });
        }
        Ok(portable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l5_only_what_the_person_gave_is_portable() {
        assert!(provided_by_person("form:course_enrolment"));
        assert!(provided_by_person("api"));
        assert!(provided_by_person("rectification:subject"));
        assert!(!provided_by_person("order:form:order"), "a buyer's entry about a colleague");
        assert!(!provided_by_person("partner:certification_partner"));
        assert!(!provided_by_person("staff:letter"));
    }

    #[test]
    fn l5_the_csv_quotes_every_cell_and_defuses_formulas() {
        let item = PortableItem {
            category: "name".into(),
            label: "Navn".into(),
            value: "=HYPERLINK(\"x\")".into(),
            source: "form:course_enrolment".into(),
            collected_at: "2026-11-25T10:00:00Z".into(),
            bases: vec!["contract".into()],
        };
        assert_eq!(
            portability_csv(&[item]),
            "category,label,value,source,collected_at,bases\r\n\"name\",\"Navn\",\"'=HYPERLINK(\"\"x\"\")\",\
             \"form:course_enrolment\",\"2026-11-25T10:00:00Z\",\"contract\"\r\n"
        );
    }
}
