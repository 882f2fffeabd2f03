//! The policy as Pactum enforces it: controller, data categories, purposes, recipients and cookies.
//!
//! Every value here has passed validation (see `parse`), so the rest of Pactum can rely on the
//! cross references: a purpose only names known categories, a recipient only known purposes, and so on.

use serde::Serialize;
use time::Date;

use crate::retention::RetentionRule;

/// A language Pactum publishes its notice and forms in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Da,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Da, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// A text given in every language Pactum publishes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Text {
    pub da: String,
    pub en: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Da => &self.da,
            Lang::En => &self.en,
        }
    }
}

/// The whole policy file, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// The policy's own version, shown in the notice and stored with every consent.
    pub version: String,
    /// The date from which this version applies.
    pub effective: Date,
    /// The last day of the financial year, as (month, day); anchors the bookkeeping clock (C10, L6).
    pub financial_year_end: (u8, u8),
    pub controller: Controller,
    pub categories: Vec<Category>,
    pub purposes: Vec<Purpose>,
    pub recipients: Vec<Recipient>,
    pub cookies: Vec<Cookie>,
    /// How long the records of Pactum's own duties are kept (Art. 19 notices, the breach register).
    pub records: Vec<crate::RecordRule>,
    /// A digest of the cookie section; the consent widget asks again when it changes.
    pub cookie_version: String,
    /// A digest of the whole source file, recorded when the policy is activated.
    pub source_digest: String,
}

impl Policy {
    pub fn category(&self, key: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.key == key)
    }

    pub fn purpose(&self, key: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.key == key)
    }

    pub fn record(&self, class: crate::RecordClass) -> Option<&crate::RecordRule> {
        self.records.iter().find(|r| r.class == class)
    }

    pub fn recipient(&self, key: &str) -> Option<&Recipient> {
        self.recipients.iter().find(|r| r.key == key)
    }

    /// The recipients registered to receive data from `purpose`.
    pub fn recipients_of<'a>(&'a self, purpose: &'a str) -> impl Iterator<Item = &'a Recipient> {
        self.recipients.iter().filter(move |r| r.purposes.iter().any(|p| p == purpose))
    }

    /// The purposes that hold `category`.
    pub fn purposes_using<'a>(&'a self, category: &'a str) -> impl Iterator<Item = &'a Purpose> {
        self.purposes.iter().filter(move |p| p.fields.iter().any(|f| f.category == category))
    }
}

/// The data controller (C1): who is responsible, and how to reach them.
#[derive(Debug, Clone, Serialize)]
pub struct Controller {
    pub name: String,
    pub cvr: String,
    pub address: String,
    pub email: String,
    pub phone: Option<String>,
    pub website: Option<String>,
    /// `None` means the controller has declared that it has no data protection officer.
    pub dpo: Option<Dpo>,
    /// True while the contact details are clearly marked example values.
    pub example_values: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dpo {
    pub name: String,
    pub email: String,
}

/// How sensitive a data category is (GDPR Art. 9, and national identification numbers under Art. 87).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryClass {
    Ordinary,
    Special,
    NationalId,
}

/// How a value of a category is entered and checked at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Name,
    Email,
    Phone,
    Text,
    Address,
    Company,
    Date,
    Boolean,
    /// Data Pactum records itself (participation, consent log, messages); never a form field.
    Record,
}

#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub key: String,
    pub label: Text,
    pub class: CategoryClass,
    pub kind: FieldKind,
    pub max_length: u32,
}

/// GDPR Art. 6(1) legal bases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterest,
}

impl LegalBasis {
    pub const ALL: [(&'static str, LegalBasis); 6] = [
        ("consent", LegalBasis::Consent),
        ("contract", LegalBasis::Contract),
        ("legal_obligation", LegalBasis::LegalObligation),
        ("vital_interests", LegalBasis::VitalInterests),
        ("public_task", LegalBasis::PublicTask),
        ("legitimate_interest", LegalBasis::LegitimateInterest),
    ];

    pub fn key(self) -> &'static str {
        Self::ALL.iter().find(|(_, b)| *b == self).map(|(k, _)| *k).unwrap_or("consent")
    }

    /// The article that grants this basis.
    pub fn article(self) -> &'static str {
        match self {
            LegalBasis::Consent => "GDPR art. 6(1)(a)",
            LegalBasis::Contract => "GDPR art. 6(1)(b)",
            LegalBasis::LegalObligation => "GDPR art. 6(1)(c)",
            LegalBasis::VitalInterests => "GDPR art. 6(1)(d)",
            LegalBasis::PublicTask => "GDPR art. 6(1)(e)",
            LegalBasis::LegitimateInterest => "GDPR art. 6(1)(f)",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (LegalBasis::Consent, Lang::Da) => "Samtykke",
            (LegalBasis::Consent, Lang::En) => "Consent",
            (LegalBasis::Contract, Lang::Da) => "Opfyldelse af aftale",
            (LegalBasis::Contract, Lang::En) => "Performance of a contract",
            (LegalBasis::LegalObligation, Lang::Da) => "Retlig forpligtelse",
            (LegalBasis::LegalObligation, Lang::En) => "Legal obligation",
            (LegalBasis::VitalInterests, Lang::Da) => "Vitale interesser",
            (LegalBasis::VitalInterests, Lang::En) => "Vital interests",
            (LegalBasis::PublicTask, Lang::Da) => "Opgave i samfundets interesse",
            (LegalBasis::PublicTask, Lang::En) => "Public task",
            (LegalBasis::LegitimateInterest, Lang::Da) => "Legitim interesse",
            (LegalBasis::LegitimateInterest, Lang::En) => "Legitimate interest",
        }
    }
}

/// GDPR Art. 9(2) conditions that allow processing special-category data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Art9Basis {
    ExplicitConsent,
    Employment,
    VitalInterests,
    LegalClaims,
    SubstantialPublicInterest,
}

impl Art9Basis {
    pub const ALL: [(&'static str, Art9Basis); 5] = [
        ("explicit_consent", Art9Basis::ExplicitConsent),
        ("employment", Art9Basis::Employment),
        ("vital_interests", Art9Basis::VitalInterests),
        ("legal_claims", Art9Basis::LegalClaims),
        ("substantial_public_interest", Art9Basis::SubstantialPublicInterest),
    ];

    pub fn article(self) -> &'static str {
        match self {
            Art9Basis::ExplicitConsent => "GDPR art. 9(2)(a)",
            Art9Basis::Employment => "GDPR art. 9(2)(b)",
            Art9Basis::VitalInterests => "GDPR art. 9(2)(c)",
            Art9Basis::LegalClaims => "GDPR art. 9(2)(f)",
            Art9Basis::SubstantialPublicInterest => "GDPR art. 9(2)(g)",
        }
    }
}

/// One field a purpose collects: a category, and whether the person must give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub category: String,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Purpose {
    pub key: String,
    pub label: Text,
    pub description: Text,
    pub basis: LegalBasis,
    pub fields: Vec<Field>,
    pub retention: RetentionRule,
    /// The exact consent text shown next to the box; present exactly when the basis is consent.
    pub consent_text: Option<Text>,
    /// The legitimate interest pursued (P06); present exactly when the basis is legitimate interest.
    pub interest: Option<Text>,
    /// Whether providing the data is a contractual requirement, and what follows if it is not given (P13, C8).
    pub requirement: Option<Text>,
    /// The statute behind a legal obligation (P12).
    pub statute: Option<String>,
    pub art9: Option<Art9Basis>,
}

impl Purpose {
    pub fn uses(&self, category: &str) -> bool {
        self.fields.iter().any(|f| f.category == category)
    }
}

/// The role a recipient plays; it limits which legal bases a disclosure to it may use (P10, C2, C3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    CoursePartner,
    CoOrganiser,
    Sponsor,
    CertificationPartner,
    MarketingPartner,
    Authority,
    Processor,
}

impl RecipientRole {
    pub const ALL: [(&'static str, RecipientRole); 7] = [
        ("course_partner", RecipientRole::CoursePartner),
        ("co_organiser", RecipientRole::CoOrganiser),
        ("sponsor", RecipientRole::Sponsor),
        ("certification_partner", RecipientRole::CertificationPartner),
        ("marketing_partner", RecipientRole::MarketingPartner),
        ("authority", RecipientRole::Authority),
        ("processor", RecipientRole::Processor),
    ];

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (RecipientRole::CoursePartner, Lang::Da) => "Kursuspartner",
            (RecipientRole::CoursePartner, Lang::En) => "Course partner",
            (RecipientRole::CoOrganiser, Lang::Da) => "Medarrangør",
            (RecipientRole::CoOrganiser, Lang::En) => "Co-organiser",
            (RecipientRole::Sponsor, Lang::Da) => "Sponsor",
            (RecipientRole::Sponsor, Lang::En) => "Sponsor",
            (RecipientRole::CertificationPartner, Lang::Da) => "Certificeringspartner",
            (RecipientRole::CertificationPartner, Lang::En) => "Certification partner",
            (RecipientRole::MarketingPartner, Lang::Da) => "Markedsføringspartner",
            (RecipientRole::MarketingPartner, Lang::En) => "Marketing partner",
            (RecipientRole::Authority, Lang::Da) => "Myndighed",
            (RecipientRole::Authority, Lang::En) => "Authority",
            (RecipientRole::Processor, Lang::Da) => "Databehandler",
            (RecipientRole::Processor, Lang::En) => "Data processor",
        }
    }
}

/// A transfer safeguard for a recipient outside the EEA (GDPR chapter V, L10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Safeguard {
    Adequacy,
    Scc,
    Bcr,
}

impl Safeguard {
    pub const ALL: [(&'static str, Safeguard); 3] =
        [("adequacy", Safeguard::Adequacy), ("scc", Safeguard::Scc), ("bcr", Safeguard::Bcr)];

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Safeguard::Adequacy, Lang::Da) => "EU-Kommissionens tilstrækkelighedsafgørelse (art. 45)",
            (Safeguard::Adequacy, Lang::En) => "EU Commission adequacy decision (Art. 45)",
            (Safeguard::Scc, Lang::Da) => "EU-Kommissionens standardkontraktbestemmelser (art. 46)",
            (Safeguard::Scc, Lang::En) => "EU Commission standard contractual clauses (Art. 46)",
            (Safeguard::Bcr, Lang::Da) => "Bindende virksomhedsregler (art. 47)",
            (Safeguard::Bcr, Lang::En) => "Binding corporate rules (Art. 47)",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    pub key: String,
    pub name: String,
    pub role: RecipientRole,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub safeguard: Option<Safeguard>,
    pub basis: LegalBasis,
    pub purposes: Vec<String>,
    pub categories: Vec<String>,
    pub statute: Option<String>,
    pub description: Option<Text>,
    /// How the recipient is told of a rectification, erasure or restriction of data it received (L4).
    pub notify: Option<Notify>,
}

/// Where a recipient receives Art. 19 notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// An e-mail to this address.
    Email(String),
    /// An HMAC-SHA256-signed JSON POST to `url`; the key is read from the environment variable
    /// `secret_env` when Pactum starts, never from the policy file.
    Webhook { url: String, secret_env: String },
}

impl Recipient {
    pub fn in_eea(&self) -> bool {
        crate::countries::is_eea(&self.country)
    }
}

/// Cookie categories; only `necessary` is set without consent (C5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CookieCategory {
    Necessary,
    Statistics,
    Marketing,
}

impl CookieCategory {
    pub const ALL: [(&'static str, CookieCategory); 3] = [
        ("necessary", CookieCategory::Necessary),
        ("statistics", CookieCategory::Statistics),
        ("marketing", CookieCategory::Marketing),
    ];

    pub fn key(self) -> &'static str {
        match self {
            CookieCategory::Necessary => "necessary",
            CookieCategory::Statistics => "statistics",
            CookieCategory::Marketing => "marketing",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (CookieCategory::Necessary, Lang::Da) => "Nødvendige",
            (CookieCategory::Necessary, Lang::En) => "Necessary",
            (CookieCategory::Statistics, Lang::Da) => "Statistik",
            (CookieCategory::Statistics, Lang::En) => "Statistics",
            (CookieCategory::Marketing, Lang::Da) => "Markedsføring",
            (CookieCategory::Marketing, Lang::En) => "Marketing",
        }
    }
}

/// How long a cookie lives in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CookieLifetime {
    Session,
    Days(u32),
}

#[derive(Debug, Clone, Serialize)]
pub struct Cookie {
    pub name: String,
    pub provider: String,
    pub category: CookieCategory,
    pub purpose: Text,
    pub lifetime: CookieLifetime,
}

/// A date as the notice, pages and mail write it: `31. januar 2027`, `31 January 2027`.
pub fn format_date(date: Date, lang: Lang) -> String {
    const DA_MONTHS: [&str; 12] = [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ];
    const EN_MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let m = usize::from(u8::from(date.month())) - 1;
    match lang {
        Lang::Da => format!("{}. {} {}", date.day(), DA_MONTHS[m], date.year()),
        Lang::En => format!("{} {} {}", date.day(), EN_MONTHS[m], date.year()),
    }
}
