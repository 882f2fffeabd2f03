//! Reading a policy file: TOML in, a validated [`Policy`] or every problem found out.
//!
//! The reader walks the spanned TOML tree itself instead of using serde, so that it can keep going
//! after a mistake and report all of them, each with its line and column, what is wrong and how to
//! fix it. It never panics, whatever the input.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use sha2::{Digest, Sha256};
use time::Date;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::countries::{is_country_code, is_eea};
use crate::model::*;
use crate::retention::{Anchor, Period, RecordClass, RecordRule, RetentionRule, clamped_date};

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    pub message: String,
    /// What to do about it.
    pub help: String,
}

/// All problems of one policy file, printable as `file:line:col: error: …` lines.
#[derive(Debug, Clone)]
pub struct PolicyErrors {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}:{}:{}: error: {}", self.file, d.line, d.column, d.message)?;
            if !d.help.is_empty() {
                writeln!(f, "    help: {}", d.help)?;
            }
        }
        let n = self.diagnostics.len();
        write!(f, "{}: {n} problem{} found", self.file, if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for PolicyErrors {}

/// Parses and validates a policy. `file` names the source in the errors.
pub fn parse_policy(file: &str, source: &str) -> Result<Policy, PolicyErrors> {
    let mut reader =
        Reader { source, found: Vec::new(), used_categories: Default::default(), declared_purposes: HashMap::new() };
    let (document, syntax_errors) = DeTable::parse_recoverable(source);
    for e in &syntax_errors {
        reader.error(
            e.span().unwrap_or(0..0),
            format!("this is not valid TOML: {}", e.message().trim()),
            "fix the TOML syntax at this place; a key may be written only once in each table",
        );
    }
    let policy = reader.policy(document.get_ref(), document.span());
    if reader.found.is_empty()
        && let Some(policy) = policy
    {
        return Ok(policy);
    }
    let mut found = std::mem::take(&mut reader.found);
    if !syntax_errors.is_empty() {
        // What the parser could not read looks missing; saying so would only bury the syntax error.
        found.retain(|(_, message, _)| !message.contains(" is missing `"));
    }
    found.sort_by_key(|(at, _, _)| *at);
    found.dedup();
    Err(PolicyErrors {
        file: file.to_string(),
        diagnostics: found
            .into_iter()
            .map(|(at, message, help)| {
                let (line, column) = line_column(source, at);
                Diagnostic { line, column, message, help }
            })
            .collect(),
    })
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

type Value<'i> = Spanned<DeValue<'i>>;

/// A TOML table being read, with a name for messages and the keys it allows.
struct Table<'a, 'i> {
    name: String,
    table: &'a DeTable<'i>,
    span: Range<usize>,
}

impl<'a, 'i> Table<'a, 'i> {
    fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table.get(key)
    }

    fn entries(&self) -> impl Iterator<Item = (&'a Spanned<std::borrow::Cow<'i, str>>, &'a Value<'i>)> {
        self.table.iter()
    }
}

struct Reader<'s> {
    source: &'s str,
    found: Vec<(usize, String, String)>,
    /// Categories named in any purpose's fields, valid or not, so one broken purpose does not
    /// also report its categories as unused.
    used_categories: std::collections::HashSet<String>,
    /// The fields of every declared purpose, valid or not, for checking recipients without
    /// repeating a purpose's own mistakes as theirs.
    declared_purposes: HashMap<String, Vec<String>>,
}

/// The first-party cookie in which the consent widget keeps the visitor's choice.
pub const CONSENT_COOKIE: &str = "pactum_consent";

const TOP_KEYS: &[&str] = &[
    "version",
    "effective",
    "financial_year_end",
    "controller",
    "categories",
    "purposes",
    "recipients",
    "cookies",
    "records",
];
const CONTROLLER_KEYS: &[&str] = &["name", "cvr", "address", "email", "phone", "website", "dpo", "example"];
const CATEGORY_KEYS: &[&str] = &["label", "class", "kind", "max_length"];
const PURPOSE_KEYS: &[&str] =
    &["label", "description", "basis", "fields", "retention", "consent", "interest", "requirement", "statute", "art9"];
const RETENTION_KEYS: &[&str] = &["after", "years", "months", "days"];
const RECIPIENT_KEYS: &[&str] =
    &["name", "role", "country", "safeguard", "basis", "purposes", "categories", "statute", "description", "notify"];
const COOKIE_KEYS: &[&str] = &["provider", "category", "purpose", "lifetime"];
const RECORD_KEYS: &[&str] = &["label", "retention"];
const PERIOD_KEYS: &[&str] = &["years", "months", "days"];

const CATEGORY_CLASSES: [(&str, CategoryClass); 3] = [
    ("ordinary", CategoryClass::Ordinary),
    ("special", CategoryClass::Special),
    ("national_id", CategoryClass::NationalId),
];
const FIELD_KINDS: [(&str, FieldKind); 9] = [
    ("name", FieldKind::Name),
    ("email", FieldKind::Email),
    ("phone", FieldKind::Phone),
    ("text", FieldKind::Text),
    ("address", FieldKind::Address),
    ("company", FieldKind::Company),
    ("date", FieldKind::Date),
    ("boolean", FieldKind::Boolean),
    ("record", FieldKind::Record),
];
const REQUIREMENTS: [(&str, bool); 2] = [("required", true), ("optional", false)];

impl<'s> Reader<'s> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        self.found.push((span.start, message.into(), help.into()));
    }

    fn policy(&mut self, root: &DeTable<'_>, span: Range<usize>) -> Option<Policy> {
        let top = Table { name: "the policy".into(), table: root, span };
        self.allow_keys(&top, TOP_KEYS);
        let version = self.string(&top, "version", true);
        let effective = self.date(&top, "effective");
        let financial_year_end = self.month_day(&top, "financial_year_end");
        let controller = self.sub_table(&top, "controller").and_then(|t| self.controller(&t));

        let mut category_spans = HashMap::new();
        let categories = self.keyed_tables(&top, "categories", |r, key, span, t| {
            category_spans.insert(key.to_string(), span.clone());
            r.category(key, t)
        });
        let purposes = self.keyed_tables(&top, "purposes", |r, key, span, t| r.purpose(key, span, t, &categories));
        for category in &categories {
            if !self.used_categories.contains(&category.key) {
                let span = category_spans.get(&category.key).cloned().unwrap_or(0..0);
                self.error(
                    span,
                    format!("category `{}` is not used by any purpose", category.key),
                    "collect data only for a purpose (P24): add it to a purpose's `fields`, or remove the category",
                );
            }
        }
        let recipients = self.keyed_tables(&top, "recipients", |r, key, span, t| r.recipient(key, span, t, &purposes));
        let cookies = self.keyed_tables(&top, "cookies", |r, key, _span, t| r.cookie(key, t));
        let records = self.keyed_tables(&top, "records", |r, key, span, t| r.record(key, span, t));
        if let Some(section) = top.get("cookies")
            && !cookies.iter().any(|c| c.name == CONSENT_COOKIE && c.category == CookieCategory::Necessary)
        {
            self.error(
                section.span(),
                format!("the cookie list lacks `{CONSENT_COOKIE}` as a necessary cookie"),
                format!("the consent widget keeps the visitor's choice in `{CONSENT_COOKIE}`: add `[cookies.{CONSENT_COOKIE}]` with `category = \"necessary\"` (C5)"),
            );
        }

        if categories.is_empty() {
            self.missing(&top, "categories", "a `[categories.<key>]` table for each kind of personal data");
        }
        if self.declared_purposes.is_empty() {
            self.missing(&top, "purposes", "a `[purposes.<key>]` table for each purpose");
        }
        Some(Policy {
            version: version?,
            effective: effective?,
            financial_year_end: financial_year_end?,
            controller: controller?,
            cookie_version: cookie_digest(&cookies),
            source_digest: hex::encode(Sha256::digest(self.source.as_bytes())),
            categories,
            purposes,
            recipients,
            cookies,
            records,
        })
    }

    fn record(&mut self, key: &str, key_span: &Range<usize>, t: &Table<'_, '_>) -> Option<RecordRule> {
        self.allow_keys(t, RECORD_KEYS);
        let Some((_, class)) = RecordClass::ALL.iter().find(|(k, _)| *k == key) else {
            let known = RecordClass::ALL.iter().map(|(k, _)| *k);
            let list: Vec<&str> = RecordClass::ALL.iter().map(|(k, _)| *k).collect();
            self.error(
                key_span.clone(),
                format!("`{key}` is not a record class Pactum keeps"),
                suggestion(key, known, &format!("the record classes are {}", list.join(", "))),
            );
            return None;
        };
        let label = self.text(t, "label", true);
        let period = match self.sub_table(t, "retention") {
            Some(r) => {
                self.allow_keys(&r, PERIOD_KEYS);
                Period {
                    years: self.integer(&r, "years", 0, 100).unwrap_or(0) as u16,
                    months: self.integer(&r, "months", 0, 1200).unwrap_or(0) as u16,
                    days: self.integer(&r, "days", 0, 36_500).unwrap_or(0) as u16,
                }
            }
            None => return None,
        };
        Some(RecordRule { class: *class, label: label?, period })
    }

    fn controller(&mut self, t: &Table<'_, '_>) -> Option<Controller> {
        self.allow_keys(t, CONTROLLER_KEYS);
        let name = self.string(t, "name", true);
        let cvr = self.string(t, "cvr", true);
        if let (Some(cvr), Some(v)) = (&cvr, t.get("cvr"))
            && (cvr.len() != 8 || !cvr.bytes().all(|b| b.is_ascii_digit()))
        {
            self.error(
                v.span(),
                "`cvr` must be the 8-digit Danish CVR number",
                "write it as 8 digits, e.g. \"12345678\"",
            );
        }
        let address = self.string(t, "address", true);
        let email = self.email(t, "email", true);
        let phone = self.string(t, "phone", false);
        let website = self.string(t, "website", false);
        let example_values = self.boolean(t, "example").unwrap_or(false);
        let dpo = match t.get("dpo") {
            None => {
                self.missing(t, "dpo", "`dpo = \"none\"` if there is no data protection officer, or `[controller.dpo]` with name and email (C8)");
                None
            }
            Some(v) => match v.get_ref() {
                DeValue::String(s) if s == "none" => Some(None),
                DeValue::Table(inner) => {
                    let dt = Table { name: "controller.dpo".into(), table: inner, span: v.span() };
                    self.allow_keys(&dt, &["name", "email"]);
                    let name = self.string(&dt, "name", true);
                    let email = self.email(&dt, "email", true);
                    Some(name.zip(email).map(|(name, email)| Dpo { name, email }))
                }
                _ => {
                    self.error(
                        v.span(),
                        "`dpo` must be \"none\" or a table with `name` and `email`",
                        "write `dpo = \"none\"`, or `dpo = { name = \"…\", email = \"…\" }`",
                    );
                    None
                }
            },
        };
        Some(Controller {
            name: name?,
            cvr: cvr?,
            address: address?,
            email: email?,
            phone,
            website,
            dpo: dpo?,
            example_values,
        })
    }

    fn category(&mut self, key: &str, t: &Table<'_, '_>) -> Option<Category> {
        self.allow_keys(t, CATEGORY_KEYS);
        let label = self.text(t, "label", true);
        let class = self.choice(t, "class", &CATEGORY_CLASSES, true);
        let kind = self.choice(t, "kind", &FIELD_KINDS, true);
        let default_length = match kind {
            Some(FieldKind::Email) => 254,
            Some(FieldKind::Phone) => 32,
            Some(FieldKind::Text) | Some(FieldKind::Address) => 2000,
            Some(FieldKind::Record) => 65_536,
            _ => 200,
        };
        let max_length = self.integer(t, "max_length", 1, 65_536).map(|n| n as u32).unwrap_or(default_length);
        Some(Category { key: key.to_string(), label: label?, class: class?, kind: kind?, max_length })
    }

    fn purpose(
        &mut self,
        key: &str,
        key_span: &Range<usize>,
        t: &Table<'_, '_>,
        categories: &[Category],
    ) -> Option<Purpose> {
        self.allow_keys(t, PURPOSE_KEYS);
        let label = self.text(t, "label", true);
        let description = self.text(t, "description", true);
        let basis = self.choice(t, "basis", &LegalBasis::ALL, true);
        let consent_text = self.text(t, "consent", false);
        let interest = self.text(t, "interest", false);
        let requirement = self.text(t, "requirement", false);
        let statute = self.string(t, "statute", false);
        let art9 = self.choice(t, "art9", &Art9Basis::ALL, false);

        let retention = match self.sub_table_opt(t, "retention") {
            Some(rt) => self.retention(&rt),
            None => {
                self.error(
                    key_span.clone(),
                    format!("purpose `{key}` has no retention rule"),
                    "every purpose needs one (P20): add `retention = { after = \"course_end\", years = 5 }` or similar",
                );
                None
            }
        };

        let mut fields = Vec::new();
        self.declared_purposes.entry(key.to_string()).or_default();
        match self.sub_table(t, "fields") {
            None => {}
            Some(ft) => {
                for (name, value) in ft.entries() {
                    let category = name.get_ref().to_string();
                    self.used_categories.insert(category.clone());
                    self.declared_purposes.entry(key.to_string()).or_default().push(category.clone());
                    let required = self.choice_value(value, &format!("fields.{category}"), &REQUIREMENTS);
                    match categories.iter().find(|c| c.key == category) {
                        None => self.error(
                            name.span(),
                            format!("purpose `{key}` uses unknown category `{category}`"),
                            suggestion(
                                &category,
                                categories.iter().map(|c| c.key.as_str()),
                                "declare it under `[categories]`",
                            ),
                        ),
                        Some(c) => {
                            if c.class == CategoryClass::Special && art9.is_none() {
                                self.error(
                                    name.span(),
                                    format!("purpose `{key}` uses special category `{category}` without an Art. 9 basis"),
                                    "special-category data needs a condition from GDPR art. 9(2) (P02, C7): add `art9 = \"explicit_consent\"` with basis consent, or remove the field",
                                );
                            }
                            if c.class == CategoryClass::NationalId
                                && !(basis == Some(LegalBasis::LegalObligation) && statute.is_some())
                            {
                                self.error(
                                    name.span(),
                                    format!("purpose `{key}` uses national identification number `{category}` without a statute"),
                                    "CPR numbers may be processed only where a law requires it (P02): use basis legal_obligation with `statute`, or remove the field",
                                );
                            }
                        }
                    }
                    if let Some(required) = required {
                        fields.push(Field { category, required });
                    }
                }
                if ft.table.is_empty() {
                    self.error(
                        ft.span.clone(),
                        format!("purpose `{key}` collects no fields"),
                        "list the categories it uses, e.g. `fields = { email = \"required\" }`",
                    );
                }
            }
        }

        match basis {
            Some(LegalBasis::Consent) if consent_text.is_none() => self.error(
                key_span.clone(),
                format!("purpose `{key}` is based on consent but has no consent text"),
                "add `consent = { da = \"…\", en = \"…\" }`: the exact words shown next to the unticked box (P07, L12)",
            ),
            Some(b) if b != LegalBasis::Consent && consent_text.is_some() => self.error(
                t.get("consent").map(|v| v.span()).unwrap_or(key_span.clone()),
                format!("purpose `{key}` has consent text but its basis is `{}`", b.key()),
                "asking for consent where another basis applies misleads people: remove `consent`, or change the basis to consent",
            ),
            _ => {}
        }
        if basis == Some(LegalBasis::LegitimateInterest) && interest.is_none() {
            self.error(
                key_span.clone(),
                format!("purpose `{key}` is based on legitimate interest but does not state the interest"),
                "add `interest = { da = \"…\", en = \"…\" }` (P06, GDPR art. 13(1)(d))",
            );
        }
        if let (Some(b), Some(v)) = (basis, t.get("interest"))
            && b != LegalBasis::LegitimateInterest
        {
            self.error(
                v.span(),
                format!("purpose `{key}` states a legitimate interest but its basis is `{}`", b.key()),
                "`interest` belongs only to purposes based on legitimate_interest: remove it, or change the basis",
            );
        }
        if basis == Some(LegalBasis::Contract) && requirement.is_none() {
            self.error(
                key_span.clone(),
                format!("purpose `{key}` is based on a contract but does not say what follows if the data is not given"),
                "add `requirement = { da = \"…\", en = \"…\" }`: that the data is a contractual requirement, and the consequence of not giving it (P13, C8)",
            );
        }
        if basis == Some(LegalBasis::LegalObligation) && statute.is_none() {
            self.error(
                key_span.clone(),
                format!("purpose `{key}` is based on a legal obligation but names no statute"),
                "add `statute = \"…\"`, the law that requires the processing (P12)",
            );
        }
        if art9 == Some(Art9Basis::ExplicitConsent) && basis.is_some() && basis != Some(LegalBasis::Consent) {
            self.error(
                t.get("art9").map(|v| v.span()).unwrap_or(key_span.clone()),
                format!("purpose `{key}` relies on explicit consent under Art. 9 but its basis is not consent"),
                "set `basis = \"consent\"` with a consent text (C7)",
            );
        }
        Some(Purpose {
            key: key.to_string(),
            label: label?,
            description: description?,
            basis: basis?,
            fields,
            retention: retention?,
            consent_text,
            interest,
            requirement,
            statute,
            art9,
        })
    }

    fn retention(&mut self, t: &Table<'_, '_>) -> Option<RetentionRule> {
        self.allow_keys(t, RETENTION_KEYS);
        let anchor = self.choice(t, "after", &Anchor::ALL, true);
        let years = self.integer(t, "years", 0, 100).unwrap_or(0) as u16;
        let months = self.integer(t, "months", 0, 1200).unwrap_or(0) as u16;
        let days = self.integer(t, "days", 0, 36_500).unwrap_or(0) as u16;
        Some(RetentionRule { anchor: anchor?, period: Period { years, months, days } })
    }

    fn recipient(
        &mut self,
        key: &str,
        key_span: &Range<usize>,
        t: &Table<'_, '_>,
        purposes: &[Purpose],
    ) -> Option<Recipient> {
        self.allow_keys(t, RECIPIENT_KEYS);
        let name = self.string(t, "name", true);
        let role = self.choice(t, "role", &RecipientRole::ALL, true);
        let country = self.string(t, "country", true);
        let safeguard = self.choice(t, "safeguard", &Safeguard::ALL, false);
        let basis = self.choice(t, "basis", &LegalBasis::ALL, true);
        let statute = self.string(t, "statute", false);
        let description = self.text(t, "description", false);
        let purpose_keys = self.string_list(t, "purposes");
        let category_keys = self.string_list(t, "categories");
        let notify = self.notify(t);

        if let (Some(c), Some(v)) = (&country, t.get("country")) {
            if !is_country_code(c) {
                self.error(
                    v.span(),
                    format!("`{c}` is not an ISO 3166-1 alpha-2 country code"),
                    "write two capital letters, e.g. \"DK\", \"DE\" or \"US\"",
                );
            } else if !is_eea(c) && safeguard.is_none() {
                self.error(
                    v.span(),
                    format!("recipient `{key}` is outside the EEA ({c}) but has no transfer safeguard"),
                    "add `safeguard = \"adequacy\"`, \"scc\" or \"bcr\" (GDPR chapter V, L10); without one no disclosure may happen",
                );
            }
        }
        let mut listed_fields: Vec<String> = Vec::new();
        for (pkey, span) in purpose_keys.iter().flatten() {
            let Some(declared_fields) = self.declared_purposes.get(pkey) else {
                let known: Vec<String> = self.declared_purposes.keys().cloned().collect();
                self.error(
                    span.clone(),
                    format!("recipient `{key}` names unknown purpose `{pkey}`"),
                    suggestion(pkey, known.iter().map(String::as_str), "declare it under `[purposes]`"),
                );
                continue;
            };
            listed_fields.extend(declared_fields.iter().cloned());
            // A purpose with mistakes of its own is reported there; its basis is unknown here.
            match purposes.iter().find(|p| &p.key == pkey) {
                None => {}
                Some(p) => {
                    if let Some(b) = basis
                        && b != p.basis
                        && b != LegalBasis::LegalObligation
                    {
                        self.error(
                            span.clone(),
                            format!(
                                "recipient `{key}` receives under basis `{}` but purpose `{pkey}` is based on `{}`",
                                b.key(),
                                p.basis.key()
                            ),
                            "a disclosure uses the basis of the purpose it serves (P10): make them agree",
                        );
                    }
                }
            }
        }
        for (ckey, span) in category_keys.iter().flatten() {
            if !listed_fields.contains(ckey) {
                self.error(
                    span.clone(),
                    format!("recipient `{key}` may receive `{ckey}`, which none of its purposes collects"),
                    "a recipient can only receive categories its purposes hold: add the category to one of them, or remove it here",
                );
            }
        }
        if let Some(role) = role {
            let consent_only = matches!(role, RecipientRole::Sponsor | RecipientRole::MarketingPartner);
            if consent_only && basis.is_some() && basis != Some(LegalBasis::Consent) {
                self.error(
                    t.get("basis").map(|v| v.span()).unwrap_or(key_span.clone()),
                    format!(
                        "recipient `{key}` is a {} and may only receive data with consent",
                        role.label(Lang::En).to_lowercase()
                    ),
                    "set `basis = \"consent\"` (C2, C3)",
                );
            }
            if role == RecipientRole::Authority && (basis != Some(LegalBasis::LegalObligation) || statute.is_none()) {
                self.error(
                    key_span.clone(),
                    format!("authority `{key}` must receive data under a legal obligation with a statute"),
                    "set `basis = \"legal_obligation\"` and `statute = \"…\"` (P12)",
                );
            }
            if basis == Some(LegalBasis::LegalObligation) && role != RecipientRole::Authority {
                self.error(
                    t.get("basis").map(|v| v.span()).unwrap_or(key_span.clone()),
                    format!("recipient `{key}` uses basis legal_obligation but is not an authority"),
                    "only disclosures to authorities rest on a legal obligation (P10): set `role = \"authority\"`, or another basis",
                );
            }
        }
        Some(Recipient {
            key: key.to_string(),
            name: name?,
            role: role?,
            country: country?,
            safeguard,
            basis: basis?,
            purposes: purpose_keys?.into_iter().map(|(k, _)| k).collect(),
            categories: category_keys?.into_iter().map(|(k, _)| k).collect(),
            statute,
            description,
            notify,
        })
    }

    fn cookie(&mut self, name: &str, t: &Table<'_, '_>) -> Option<Cookie> {
        self.allow_keys(t, COOKIE_KEYS);
        let provider = self.string(t, "provider", true);
        let category = self.choice(t, "category", &CookieCategory::ALL, true);
        let purpose = self.text(t, "purpose", true);
        let lifetime = match t.get("lifetime") {
            None => {
                self.missing(t, "lifetime", "`lifetime = \"session\"` or a number of days, e.g. `lifetime = 365`");
                None
            }
            Some(v) => match v.get_ref() {
                DeValue::String(s) if s == "session" => Some(CookieLifetime::Session),
                DeValue::Integer(i) => match parse_int(i).filter(|d| (1..=400).contains(d)) {
                    Some(d) => Some(CookieLifetime::Days(d as u32)),
                    None => {
                        self.error(
                            v.span(),
                            "a cookie's lifetime must be 1 to 400 days",
                            "browsers cap cookies at 400 days; shorten it",
                        );
                        None
                    }
                },
                _ => {
                    self.error(v.span(), "`lifetime` must be \"session\" or a number of days", "e.g. `lifetime = 365`");
                    None
                }
            },
        };
        Some(Cookie {
            name: name.to_string(),
            provider: provider?,
            category: category?,
            purpose: purpose?,
            lifetime: lifetime?,
        })
    }

    // ---- generic readers ----

    /// Reads `[section.<key>]` tables in file order, calling `read` for each.
    fn keyed_tables<T>(
        &mut self,
        parent: &Table<'_, '_>,
        section: &str,
        mut read: impl FnMut(&mut Self, &str, &Range<usize>, &Table<'_, '_>) -> Option<T>,
    ) -> Vec<T> {
        let Some(st) = self.sub_table_opt(parent, section) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, value) in st.entries() {
            let name = format!("{section}.{}", key.get_ref());
            let valid = if section == "cookies" { is_cookie_name(key.get_ref()) } else { is_key(key.get_ref()) };
            if !valid {
                let help = if section == "cookies" {
                    "a cookie name is letters, digits and `_ - . ! # $ % & ' * + ^ ` | ~`, at most 64 of them"
                } else {
                    "use lower-case letters, digits and underscores, starting with a letter"
                };
                self.error(key.span(), format!("`{}` is not a valid key", key.get_ref()), help);
                continue;
            }
            match value.get_ref() {
                DeValue::Table(inner) => {
                    let t = Table { name, table: inner, span: value.span() };
                    if let Some(item) = read(self, key.get_ref(), &key.span(), &t) {
                        out.push(item);
                    }
                }
                other => self.error(
                    value.span(),
                    format!("`{name}` must be a table, not {}", other.type_str()),
                    format!("write it as `[{name}]` followed by its keys"),
                ),
            }
        }
        out
    }

    fn allow_keys(&mut self, t: &Table<'_, '_>, allowed: &[&str]) {
        for (key, _) in t.entries() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.error(
                    key.span(),
                    format!("unknown key `{}` in {}", key.get_ref(), t.name),
                    suggestion(
                        key.get_ref(),
                        allowed.iter().copied(),
                        &format!("allowed keys: {}", allowed.join(", ")),
                    ),
                );
            }
        }
    }

    fn missing(&mut self, t: &Table<'_, '_>, key: &str, help: &str) {
        self.error(t.span.clone(), format!("{} is missing `{key}`", t.name), format!("add {help}"));
    }

    fn sub_table<'a, 'i>(&mut self, t: &Table<'a, 'i>, key: &str) -> Option<Table<'a, 'i>> {
        if t.get(key).is_none() {
            self.missing(t, key, &format!("a `{key}` table"));
            return None;
        }
        self.sub_table_opt(t, key)
    }

    fn sub_table_opt<'a, 'i>(&mut self, t: &Table<'a, 'i>, key: &str) -> Option<Table<'a, 'i>> {
        let v = t.get(key)?;
        let name = if t.name == "the policy" { key.to_string() } else { format!("{}.{key}", t.name) };
        match v.get_ref() {
            DeValue::Table(inner) => Some(Table { name, table: inner, span: v.span() }),
            other => {
                self.error(
                    v.span(),
                    format!("`{name}` must be a table, not {}", other.type_str()),
                    format!("write it as `[{name}]` or `{key} = {{ … }}`"),
                );
                None
            }
        }
    }

    fn string(&mut self, t: &Table<'_, '_>, key: &str, required: bool) -> Option<String> {
        match t.get(key) {
            None => {
                if required {
                    self.missing(t, key, &format!("`{key} = \"…\"`"));
                }
                None
            }
            Some(v) => match v.get_ref() {
                DeValue::String(s) if !s.trim().is_empty() => Some(s.to_string()),
                DeValue::String(_) => {
                    self.error(
                        v.span(),
                        format!("`{key}` in {} is empty", t.name),
                        "write a value, or leave the key out if it is optional",
                    );
                    None
                }
                other => {
                    self.error(
                        v.span(),
                        format!("`{key}` in {} must be a string, not {}", t.name, other.type_str()),
                        format!("quote it: `{key} = \"…\"`"),
                    );
                    None
                }
            },
        }
    }

    fn email(&mut self, t: &Table<'_, '_>, key: &str, required: bool) -> Option<String> {
        let value = self.string(t, key, required)?;
        let plausible = value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        }) && !value.chars().any(char::is_whitespace);
        if !plausible {
            let span = t.get(key).map(|v| v.span()).unwrap_or(t.span.clone());
            self.error(
                span,
                format!("`{key}` in {} is not an e-mail address", t.name),
                "write an address such as \"privacy@example.dk\"",
            );
            return None;
        }
        Some(value)
    }

    /// A recipient's `notify = { email = "…" }` or `notify = { webhook = "https://…", secret_env = "…" }`.
    fn notify(&mut self, t: &Table<'_, '_>) -> Option<Notify> {
        let nt = self.sub_table_opt(t, "notify")?;
        self.allow_keys(&nt, &["email", "webhook", "secret_env"]);
        match (nt.get("email").is_some(), nt.get("webhook").is_some()) {
            (true, false) => self.email(&nt, "email", true).map(Notify::Email),
            (false, true) => {
                let url = self.string(&nt, "webhook", true);
                let secret_env = self.string(&nt, "secret_env", true);
                if let (Some(u), Some(v)) = (&url, nt.get("webhook")) {
                    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                        .iter()
                        .any(|p| u.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/'])));
                    let https = u.strip_prefix("https://").is_some_and(|rest| !rest.is_empty());
                    if !https && !local {
                        self.error(
                            v.span(),
                            format!("the webhook of {} must be an https:// address", t.name),
                            "notifications carry references to people: write \"https://…\" (plain http only to this machine)",
                        );
                    }
                }
                if let (Some(name), Some(v)) = (&secret_env, nt.get("secret_env"))
                    && !name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    self.error(
                        v.span(),
                        format!("`secret_env` in {} is not an environment variable name", t.name),
                        "use capital letters, digits and _, e.g. \"PACTUM_NOTIFY_SECRET_PARTNER\"; the secret itself never goes in the policy",
                    );
                }
                Some(Notify::Webhook { url: url?, secret_env: secret_env? })
            }
            _ => {
                self.error(
                    nt.span.clone(),
                    format!("{} must name either `email` or `webhook`", nt.name),
                    "write `notify = { email = \"privacy@partner.dk\" }` or `notify = { webhook = \"https://…\", secret_env = \"…\" }`",
                );
                None
            }
        }
    }

    fn boolean(&mut self, t: &Table<'_, '_>, key: &str) -> Option<bool> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.error(
                    v.span(),
                    format!("`{key}` must be true or false, not {}", other.type_str()),
                    format!("write `{key} = true` or `{key} = false`"),
                );
                None
            }
        }
    }

    fn integer(&mut self, t: &Table<'_, '_>, key: &str, min: i64, max: i64) -> Option<i64> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::Integer(i) => match parse_int(i) {
                Some(n) if (min..=max).contains(&n) => Some(n),
                _ => {
                    self.error(
                        v.span(),
                        format!("`{key}` in {} must be between {min} and {max}", t.name),
                        "use a whole number in that range",
                    );
                    None
                }
            },
            other => {
                self.error(
                    v.span(),
                    format!("`{key}` in {} must be a whole number, not {}", t.name, other.type_str()),
                    format!("e.g. `{key} = 5`"),
                );
                None
            }
        }
    }

    fn text(&mut self, t: &Table<'_, '_>, key: &str, required: bool) -> Option<Text> {
        let Some(v) = t.get(key) else {
            if required {
                self.missing(t, key, &format!("`{key} = {{ da = \"…\", en = \"…\" }}`"));
            }
            return None;
        };
        let DeValue::Table(inner) = v.get_ref() else {
            self.error(
                v.span(),
                format!("`{key}` in {} must give the text in Danish and English", t.name),
                format!("write `{key} = {{ da = \"…\", en = \"…\" }}`"),
            );
            return None;
        };
        let tt = Table { name: format!("{}.{key}", t.name), table: inner, span: v.span() };
        self.allow_keys(&tt, &["da", "en"]);
        let da = self.string(&tt, "da", true);
        let en = self.string(&tt, "en", true);
        Some(Text { da: da?, en: en? })
    }

    fn choice<T: Copy>(&mut self, t: &Table<'_, '_>, key: &str, options: &[(&str, T)], required: bool) -> Option<T> {
        match t.get(key) {
            None => {
                if required {
                    let list: Vec<String> = options.iter().map(|(k, _)| format!("\"{k}\"")).collect();
                    self.missing(t, key, &format!("`{key} = …`, one of {}", list.join(", ")));
                }
                None
            }
            Some(v) => self.choice_value(v, &format!("`{key}` in {}", t.name), options),
        }
    }

    fn choice_value<T: Copy>(&mut self, v: &Value<'_>, what: &str, options: &[(&str, T)]) -> Option<T> {
        let names = || options.iter().map(|(k, _)| format!("\"{k}\"")).collect::<Vec<_>>().join(", ");
        match v.get_ref() {
            DeValue::String(s) => match options.iter().find(|(k, _)| *k == s.as_ref()) {
                Some((_, value)) => Some(*value),
                None => {
                    self.error(
                        v.span(),
                        format!("{what} cannot be \"{s}\""),
                        suggestion(s, options.iter().map(|(k, _)| *k), &format!("use one of {}", names())),
                    );
                    None
                }
            },
            other => {
                self.error(
                    v.span(),
                    format!("{what} must be a string, not {}", other.type_str()),
                    format!("use one of {}", names()),
                );
                None
            }
        }
    }

    fn string_list(&mut self, t: &Table<'_, '_>, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let Some(v) = t.get(key) else {
            self.missing(t, key, &format!("`{key} = [\"…\"]`"));
            return None;
        };
        let DeValue::Array(items) = v.get_ref() else {
            self.error(
                v.span(),
                format!("`{key}` in {} must be a list of strings", t.name),
                format!("write `{key} = [\"…\", \"…\"]`"),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                other => self.error(
                    item.span(),
                    format!("`{key}` may only hold strings, not {}", other.type_str()),
                    "quote each entry",
                ),
            }
        }
        if out.is_empty() {
            self.error(v.span(), format!("`{key}` in {} is empty", t.name), "name at least one");
        }
        Some(out)
    }

    fn date(&mut self, t: &Table<'_, '_>, key: &str) -> Option<Date> {
        let Some(v) = t.get(key) else {
            self.missing(t, key, &format!("`{key} = 2026-01-01`"));
            return None;
        };
        let parsed = match v.get_ref() {
            DeValue::Datetime(dt) if dt.time.is_none() => {
                dt.date.and_then(|d| clamped_date(i32::from(d.year), d.month, d.day).filter(|x| x.day() == d.day))
            }
            DeValue::String(s) => Date::parse(s, &time::format_description::well_known::Iso8601::DATE).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(v.span(), format!("`{key}` must be a date"), format!("write `{key} = 2026-01-01`"));
        }
        parsed
    }

    fn month_day(&mut self, t: &Table<'_, '_>, key: &str) -> Option<(u8, u8)> {
        let s = self.string(t, key, true)?;
        let parsed = s.split_once('-').and_then(|(m, d)| {
            let (m, d) = (m.parse::<u8>().ok()?, d.parse::<u8>().ok()?);
            let valid = clamped_date(2027, m, d).is_some_and(|x| x.day() == d);
            valid.then_some((m, d))
        });
        if parsed.is_none() {
            let span = t.get(key).map(|v| v.span()).unwrap_or(0..0);
            self.error(
                span,
                format!("`{key}` must be a month and day like \"12-31\""),
                "give the last day of the financial year as \"MM-DD\" (not 02-29)",
            );
        }
        parsed
    }
}

fn parse_int(i: &toml::de::DeInteger<'_>) -> Option<i64> {
    i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
}

fn is_key(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 64
}

fn is_cookie_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.!#$%&'*+^`|~".contains(c))
}

fn cookie_digest(cookies: &[Cookie]) -> String {
    let mut hasher = Sha256::new();
    for c in cookies {
        let lifetime = match c.lifetime {
            CookieLifetime::Session => "session".to_string(),
            CookieLifetime::Days(d) => d.to_string(),
        };
        for part in [c.name.as_str(), &c.provider, c.category.key(), &lifetime, &c.purpose.da, &c.purpose.en] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
    }
    hex::encode(&hasher.finalize()[..8])
}

/// "did you mean `x`?" when a known word is close, else the fallback advice.
fn suggestion<'a>(wrong: &str, known: impl Iterator<Item = &'a str>, fallback: &str) -> String {
    let best =
        known.map(|k| (edit_distance(wrong, k), k)).filter(|(d, k)| *d <= 2.max(k.len() / 3)).min_by_key(|(d, _)| *d);
    match best {
        Some((_, k)) => format!("did you mean `{k}`? ({fallback})"),
        None => fallback.to_string(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
