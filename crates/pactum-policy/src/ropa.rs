//! The record of processing activities (GDPR Art. 30(1), L7), generated from the policy Pactum
//! enforces, so that the record and the running system cannot drift apart. One activity per
//! purpose: its purpose and basis, the categories of personal data, the recipients with their
//! countries and transfer safeguards, and the time limit for erasure; plus the controller and the
//! technical and organisational measures Pactum itself applies (Art. 32). Counts of actual
//! disclosures come from the ledger and are added by the caller.

use serde::Serialize;

use crate::{Lang, Policy};

#[derive(Debug, Clone, Serialize)]
pub struct Ropa {
    pub controller: String,
    pub cvr: String,
    pub contact: String,
    /// The data protection officer, or the statement that there is none.
    pub dpo: String,
    pub policy_version: String,
    pub activities: Vec<Activity>,
    /// The records of Pactum's own duties, each with how long it is kept.
    pub records: Vec<RopaRecord>,
    pub measures: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RopaRecord {
    pub class: String,
    pub name: String,
    pub retention: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub purpose: String,
    pub name: String,
    pub description: String,
    pub basis: String,
    pub statute: Option<String>,
    pub subjects: String,
    pub categories: Vec<String>,
    pub recipients: Vec<RopaRecipient>,
    pub retention: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RopaRecipient {
    pub key: String,
    pub name: String,
    pub role: String,
    pub country: String,
    /// For a third country: the safeguard (Art. 44–49).
    pub transfer: Option<String>,
}

/// Art. 32 measures that Pactum applies by construction.
fn measures(lang: Lang) -> Vec<&'static str> {
    match lang {
        Lang::Da => vec![
            "Hver persons oplysninger krypteres med personens egen nøgle (XChaCha20-Poly1305); nøglerne er krypteret med en hovednøgle uden for databasen. Sletning destruerer nøglen.",
            "Formularer og API modtager kun de felter, formålet erklærer; alt andet afvises.",
            "Data slettes automatisk, når intet formål længere har hjemmel til dem, med et sletningsbevis.",
            "Adgang for medarbejdere kun med adgangskode (argon2id) og engangskode (TOTP), roller kontrolleres ét sted, og hver læsning af personoplysninger logges.",
            "Et hash-kædet revisionsspor registrerer hver ændring; afkortning eller ændring opdages.",
            "Videregivelser sker kun til registrerede modtagere og logges pr. person.",
            "Trafik krypteres med TLS 1.2 eller 1.3; kortdata indtastes kun hos betalingsudbyderen.",
        ],
        Lang::En => vec![
            "Each person's data is encrypted under their own key (XChaCha20-Poly1305); the keys are encrypted under a master key kept outside the database. Erasure destroys the key.",
            "Forms and the API accept only the fields the purpose declares; anything else is refused.",
            "Data is deleted automatically once no purpose holds it any longer, with a deletion proof.",
            "Staff access only with a password (argon2id) and a one-time code (TOTP); roles are checked in one place, and every read of personal data is logged.",
            "A hash-chained audit trail records every change; truncation or tampering is detected.",
            "Disclosures go only to registered recipients and are logged per person.",
            "Traffic is encrypted with TLS 1.2 or 1.3; card data is entered only at the payment provider.",
        ],
    }
}

/// The Art. 30(1) record of `policy`, in `lang`.
pub fn record(policy: &Policy, lang: Lang) -> Ropa {
    let c = &policy.controller;
    let dpo = match (&c.dpo, lang) {
        (Some(d), _) => format!("{} <{}>", d.name, d.email),
        (None, Lang::Da) => "Ingen databeskyttelsesrådgiver er udpeget.".into(),
        (None, Lang::En) => "No data protection officer is designated.".into(),
    };
    let activities = policy
        .purposes
        .iter()
        .map(|p| Activity {
            purpose: p.key.clone(),
            name: p.label.get(lang).to_string(),
            description: p.description.get(lang).to_string(),
            basis: format!("{} ({})", p.basis.label(lang), p.basis.article()),
            statute: p.statute.clone(),
            subjects: match lang {
                Lang::Da => format!("Personer, hvis oplysninger indsamles til «{}»", p.label.get(lang)),
                Lang::En => format!("People whose data is collected for «{}»", p.label.get(lang)),
            },
            categories: p
                .fields
                .iter()
                .map(|f| {
                    policy.category(&f.category).map(|x| x.label.get(lang).to_string()).unwrap_or(f.category.clone())
                })
                .collect(),
            recipients: policy
                .recipients_of(&p.key)
                .map(|r| RopaRecipient {
                    key: r.key.clone(),
                    name: r.name.clone(),
                    role: r.role.label(lang).to_string(),
                    country: r.country.clone(),
                    transfer: (!r.in_eea()).then(|| {
                        r.safeguard.map(|s| s.label(lang).to_string()).unwrap_or_else(|| match lang {
                            Lang::Da => "ingen – videregivelse afvises".into(),
                            Lang::En => "none – disclosure refused".into(),
                        })
                    }),
                })
                .collect(),
            retention: p.retention.describe(lang),
        })
        .collect();
    Ropa {
        controller: c.name.clone(),
        cvr: c.cvr.clone(),
        contact: [Some(c.address.clone()), Some(c.email.clone()), c.phone.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        dpo,
        policy_version: policy.version.clone(),
        activities,
        records: policy
            .records
            .iter()
            .map(|r| RopaRecord {
                class: r.class.key().to_string(),
                name: r.label.get(lang).to_string(),
                retention: r.describe(lang),
            })
            .collect(),
        measures: measures(lang),
    }
}

impl Ropa {
    /// The record as Markdown, for `pactum policy ropa`.
    pub fn to_markdown(&self, lang: Lang) -> String {
        let t = |da: &'static str, en: &'static str| if lang == Lang::Da { da } else { en };
        let mut out = String::new();
        out.push_str(&format!(
            "# {}\n\n",
            t("Fortegnelse over behandlingsaktiviteter (art. 30)", "Record of processing activities (Art. 30)")
        ));
        out.push_str(&format!("- {}: {} (CVR {})\n", t("Dataansvarlig", "Controller"), self.controller, self.cvr));
        out.push_str(&format!("- {}: {}\n", t("Kontakt", "Contact"), self.contact));
        out.push_str(&format!("- {}: {}\n", t("Databeskyttelsesrådgiver", "Data protection officer"), self.dpo));
        out.push_str(&format!("- {}: {}\n", t("Politikversion", "Policy version"), self.policy_version));
        for a in &self.activities {
            out.push_str(&format!("\n## {}\n\n{}\n\n", a.name, a.description));
            out.push_str(&format!("- {}: {}\n", t("Retsgrundlag", "Legal basis"), a.basis));
            if let Some(statute) = &a.statute {
                out.push_str(&format!("- {}: {statute}\n", t("Lovhjemmel", "Statute")));
            }
            out.push_str(&format!("- {}: {}\n", t("Registrerede", "Data subjects"), a.subjects));
            out.push_str(&format!("- {}: {}\n", t("Oplysninger", "Personal data"), a.categories.join(", ")));
            if a.recipients.is_empty() {
                out.push_str(&format!("- {}: {}\n", t("Modtagere", "Recipients"), t("ingen", "none")));
            }
            for r in &a.recipients {
                let transfer = match &r.transfer {
                    Some(s) => format!("; {}: {s}", t("overførsel til tredjeland", "transfer to a third country")),
                    None => String::new(),
                };
                out.push_str(&format!(
                    "- {}: {} ({}, {}{transfer})\n",
                    t("Modtager", "Recipient"),
                    r.name,
                    r.role,
                    r.country
                ));
            }
            out.push_str(&format!("- {}: {}\n", t("Sletning", "Erasure"), a.retention));
        }
        if !self.records.is_empty() {
            out.push_str(&format!(
                "\n## {}\n\n",
                t("Dokumentation af vores egne pligter", "Records of our own duties")
            ));
            for r in &self.records {
                out.push_str(&format!("- {}: {} ({})\n", r.name, r.retention, t("sletning", "erasure")));
            }
        }
        out.push_str(&format!(
            "\n## {}\n\n",
            t(
                "Tekniske og organisatoriske sikkerhedsforanstaltninger (art. 32)",
                "Technical and organisational security measures (Art. 32)"
            )
        ));
        for m in &self.measures {
            out.push_str(&format!("- {m}\n"));
        }
        out
    }
}
