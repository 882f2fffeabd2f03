//! Parsing personal values at the edge, by the kind their category declares in the policy.
//!
//! Every value arrives as untrusted text. It leaves as a normalised value or as a [`FieldError`]
//! that names the field and says what to do, in Danish and English. Errors never repeat the value.

use pactum_policy::{Category, FieldKind, Lang};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Missing,
    TooLong(u32),
    NotAnEmail,
    NotAPhone,
    ControlCharacters,
    NotADate,
    NotABoolean,
    NotAccepted,
    Undeclared,
    /// The value is not one of the choices offered.
    UnknownChoice,
    /// The value does not have the required form (length or characters).
    Malformed,
    TooShort(u32),
    /// A one-time code that does not match the authenticator (or has expired).
    WrongCode,
    /// The value is already used by another record, such as a username.
    Taken,
    /// A username may hold only lower-case letters, digits and `.`, `_`, `-`, `@`.
    NotAUsername,
    /// A list holds more entries than allowed.
    TooMany(u32),
    /// Not an id as the catalogue gives them (a UUID).
    NotAnId,
    /// Not a Danish CVR number (eight digits).
    NotACvr,
    /// A confirmation that must be `true` to go ahead.
    MustBeTrue,
    /// An option the activity does not offer (certification on a course without it, sponsor
    /// sharing at an event without a sponsor).
    NotOffered,
    /// The same person named twice in one list (two participants of an order with one address).
    Repeated,
    /// A participant already enrolled on the session the order is for.
    AlreadyEnrolled,
}

impl FieldError {
    /// A field the purpose does not declare, named as the caller sent it where that looks like a
    /// field's name; a name the caller made up that does not (an e-mail address sent as a key, a
    /// name 60,000 characters long) is named «…», so that no answer repeats personal data or grows
    /// with what it was sent.
    pub fn undeclared(name: &str) -> FieldError {
        let looks_like_a_field = !name.is_empty()
            && name.len() <= 60
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b));
        let field = if looks_like_a_field { name.to_string() } else { "…".to_string() };
        FieldError { field, problem: Problem::Undeclared }
    }

    pub fn message(&self, lang: Lang) -> String {
        let f = &self.field;
        match (self.problem, lang) {
            (Problem::Missing, Lang::Da) => format!("Feltet «{f}» skal udfyldes."),
            (Problem::Missing, Lang::En) => format!("The field «{f}» is required."),
            (Problem::TooLong(n), Lang::Da) => format!("Feltet «{f}» må højst være {n} tegn. Forkort det."),
            (Problem::TooLong(n), Lang::En) => format!("The field «{f}» may be at most {n} characters. Shorten it."),
            (Problem::NotAnEmail, Lang::Da) => {
                format!("Feltet «{f}» skal være en e-mailadresse, f.eks. navn@firma.dk.")
            }
            (Problem::NotAnEmail, Lang::En) => {
                format!("The field «{f}» must be an e-mail address, e.g. name@company.com.")
            }
            (Problem::NotAPhone, Lang::Da) => {
                format!("Feltet «{f}» skal være et telefonnummer, f.eks. +45 12 34 56 78.")
            }
            (Problem::NotAPhone, Lang::En) => format!("The field «{f}» must be a phone number, e.g. +45 12 34 56 78."),
            (Problem::ControlCharacters, Lang::Da) => {
                format!("Feltet «{f}» indeholder usynlige styretegn. Skriv det igen.")
            }
            (Problem::ControlCharacters, Lang::En) => {
                format!("The field «{f}» contains invisible control characters. Type it again.")
            }
            (Problem::NotADate, Lang::Da) => format!("Feltet «{f}» skal være en dato som 2026-03-15."),
            (Problem::NotADate, Lang::En) => format!("The field «{f}» must be a date such as 2026-03-15."),
            (Problem::NotABoolean, Lang::Da) => format!("Feltet «{f}» skal være ja eller nej."),
            (Problem::NotABoolean, Lang::En) => format!("The field «{f}» must be yes or no."),
            (Problem::NotAccepted, Lang::Da) => format!("Feltet «{f}» kan ikke indtastes i en formular."),
            (Problem::NotAccepted, Lang::En) => format!("The field «{f}» cannot be entered in a form."),
            (Problem::Undeclared, Lang::Da) => {
                format!("Feltet «{f}» indsamles ikke til dette formål. Fjern det og prøv igen.")
            }
            (Problem::Undeclared, Lang::En) => {
                format!("The field «{f}» is not collected for this purpose. Remove it and try again.")
            }
            (Problem::UnknownChoice, Lang::Da) => {
                format!("Feltet «{f}» har en værdi, der ikke kan vælges. Vælg en af de viste muligheder.")
            }
            (Problem::UnknownChoice, Lang::En) => {
                format!("The field «{f}» has a value that is not one of the choices. Pick one of those offered.")
            }
            (Problem::Malformed, Lang::Da) => {
                format!("Feltet «{f}» har ikke den rigtige form. Send det igen, som det blev udleveret.")
            }
            (Problem::Malformed, Lang::En) => {
                format!("The field «{f}» does not have the right form. Send it again as it was issued.")
            }
            (Problem::TooShort(n), Lang::Da) => format!("Feltet «{f}» skal være mindst {n} tegn. Gør det længere."),
            (Problem::TooShort(n), Lang::En) => {
                format!("The field «{f}» must be at least {n} characters. Make it longer.")
            }
            (Problem::WrongCode, Lang::Da) => {
                format!("Koden i feltet «{f}» passer ikke. Skriv den kode, din godkendelsesapp viser lige nu.")
            }
            (Problem::WrongCode, Lang::En) => {
                format!("The code in the field «{f}» does not match. Enter the code your authenticator app shows now.")
            }
            (Problem::Taken, Lang::Da) => format!("Værdien i feltet «{f}» er allerede i brug. Vælg en anden."),
            (Problem::Taken, Lang::En) => format!("The value of the field «{f}» is already in use. Choose another."),
            (Problem::NotAUsername, Lang::Da) => {
                format!("Feltet «{f}» må kun indeholde små bogstaver a-z, tal og . _ - @ og skal være 2 til 64 tegn.")
            }
            (Problem::NotAUsername, Lang::En) => format!(
                "The field «{f}» may hold only lower-case letters a-z, digits and . _ - @, and must be 2 to 64 characters."
            ),
            (Problem::TooMany(n), Lang::Da) => format!("Feltet «{f}» må højst have {n} elementer. Del det op."),
            (Problem::TooMany(n), Lang::En) => format!("The field «{f}» may hold at most {n} entries. Split it up."),
            (Problem::NotACvr, Lang::Da) => {
                format!("Feltet «{f}» skal være et CVR-nummer på 8 cifre, f.eks. 12345678.")
            }
            (Problem::NotACvr, Lang::En) => {
                format!("The field «{f}» must be a Danish CVR number of 8 digits, e.g. 12345678.")
            }
            (Problem::MustBeTrue, Lang::Da) => {
                format!("Feltet «{f}» skal være true, som bekræftelse. Intet er ændret.")
            }
            (Problem::MustBeTrue, Lang::En) => {
                format!("The field «{f}» must be true, as confirmation. Nothing was changed.")
            }
            (Problem::NotOffered, Lang::Da) => {
                format!("Valget «{f}» tilbydes ikke her. Udelad det, eller send false. Intet er gemt.")
            }
            (Problem::NotOffered, Lang::En) => {
                format!("The option «{f}» is not offered here. Leave it out or send false. Nothing was stored.")
            }
            (Problem::Repeated, Lang::Da) => {
                format!(
                    "Feltet «{f}» er det samme som for en deltager før. Hver deltager får én plads; angiv hver kun én gang."
                )
            }
            (Problem::Repeated, Lang::En) => {
                format!(
                    "The field «{f}» is the same as an earlier participant's. Each participant takes one seat; name each once."
                )
            }
            (Problem::AlreadyEnrolled, Lang::Da) => {
                format!(
                    "Deltageren med feltet «{f}» er allerede tilmeldt dette hold. Udelad deltageren; der er intet gemt."
                )
            }
            (Problem::AlreadyEnrolled, Lang::En) => {
                format!(
                    "The participant with the field «{f}» is already enrolled on this session. Leave them out; nothing was stored."
                )
            }
            (Problem::NotAnId, Lang::Da) => {
                format!("Feltet «{f}» skal være et id fra kataloget, f.eks. 0190e8a4-5f2b-7c3d-9e1f-2a3b4c5d6e7f.")
            }
            (Problem::NotAnId, Lang::En) => {
                format!("The field «{f}» must be an id from the catalogue, e.g. 0190e8a4-5f2b-7c3d-9e1f-2a3b4c5d6e7f.")
            }
        }
    }
}

/// Checks and normalises one value of `category`.
pub fn parse_value(category: &Category, raw: &str) -> Result<String, FieldError> {
    let err = |problem| FieldError { field: category.key.clone(), problem };
    let value = raw.trim();
    if value.is_empty() {
        return Err(err(Problem::Missing));
    }
    if value.chars().count() > category.max_length as usize {
        return Err(err(Problem::TooLong(category.max_length)));
    }
    let multiline = matches!(category.kind, FieldKind::Address | FieldKind::Text | FieldKind::Record);
    if value.chars().any(|c| is_hidden_control(c) && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) {
        return Err(err(Problem::ControlCharacters));
    }
    match category.kind {
        FieldKind::Email => parse_email(value).ok_or(err(Problem::NotAnEmail)),
        FieldKind::Phone => parse_phone(value).ok_or(err(Problem::NotAPhone)),
        FieldKind::Date => time::Date::parse(value, &time::format_description::well_known::Iso8601::DATE)
            .map(|_| value.to_string())
            .map_err(|_| err(Problem::NotADate)),
        FieldKind::Boolean => match value {
            "true" | "yes" | "ja" | "1" | "on" => Ok("true".into()),
            "false" | "no" | "nej" | "0" | "off" => Ok("false".into()),
            _ => Err(err(Problem::NotABoolean)),
        },
        FieldKind::Name | FieldKind::Text | FieldKind::Address | FieldKind::Company | FieldKind::Record => {
            Ok(value.to_string())
        }
    }
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces. The domain is
/// lower-cased; the local part is kept as given.
/// A control character, or one that reorders the text around it without being seen (the bidi
/// embeddings, overrides and isolates), which would let a name show as something else in a roster.
fn is_hidden_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn parse_email(value: &str) -> Option<String> {
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || is_hidden_control(c)) {
        return None;
    }
    let (local, domain) = value.rsplit_once('@')?;
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    // Dots separate the parts of the local part: none first, last or next to another (RFC 5322).
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !local.contains('@')
        && !local.contains(['<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\']);
    (domain_ok && local_ok).then(|| format!("{local}@{}", domain.to_lowercase()))
}

/// A phone number in E.164. Eight digits without a country code are taken as Danish (+45).
pub fn parse_phone(value: &str) -> Option<String> {
    let cleaned: String = value.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    let (plus, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest.to_string()),
        None => match cleaned.strip_prefix("00") {
            Some(rest) => (true, rest.to_string()),
            None => (false, cleaned.clone()),
        },
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    match (plus, digits.len()) {
        (true, 8..=15) if !digits.starts_with('0') => Some(format!("+{digits}")),
        (false, 8) => Some(format!("+45{digits}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_made_up_field_name_is_never_repeated() {
        let named = |name: &str| FieldError::undeclared(name).field;
        assert_eq!(named("cpr"), "cpr");
        assert_eq!(named("p1_email"), "p1_email");
        assert_eq!(named("jens@eksempel.dk"), "…");
        assert_eq!(named("Jens Hansen"), "…");
        assert_eq!(named(&"x".repeat(61)), "…");
        let message = FieldError::undeclared("jens@eksempel.dk").message(Lang::En);
        assert!(!message.contains("jens"), "{message}");
    }

    #[test]
    fn emails() {
        assert_eq!(parse_email("Jens.Hansen@Example.DK").as_deref(), Some("Jens.Hansen@example.dk"));
        assert_eq!(parse_email("søren@eksempel.dk").as_deref(), Some("søren@eksempel.dk"));
        for bad in
            ["", "jens", "jens@", "@example.dk", "jens@example", "a b@example.dk", "jens@exa_mple.dk", "jens@-x.dk"]
                .into_iter()
                .chain([".jens@example.dk", "jens.@example.dk", "je..ns@example.dk", "je\u{202E}ns@example.dk"])
        {
            assert_eq!(parse_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(parse_phone("12 34 56 78").as_deref(), Some("+4512345678"));
        assert_eq!(parse_phone("+45 12-34-56-78").as_deref(), Some("+4512345678"));
        assert_eq!(parse_phone("0046 70 123 45 67").as_deref(), Some("+46701234567"));
        for bad in ["", "1234", "+45 12ab5678", "+0 1234 5678", "123456789"] {
            assert_eq!(parse_phone(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,300}") {
            let _ = parse_email(&s);
            let _ = parse_phone(&s);
        }
    }
}
