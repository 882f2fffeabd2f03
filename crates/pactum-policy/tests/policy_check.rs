//! The policy file: the bundled policy is valid and complete, and broken ones get located, helpful errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_policy::*;
use proptest::prelude::*;

fn bundled() -> Policy {
    match parse_policy(BUNDLED_POLICY_NAME, BUNDLED_POLICY) {
        Ok(p) => p,
        Err(e) => panic!("bundled policy must be valid:\n{e}"),
    }
}

#[test]
fn bundled_policy_is_valid() {
    let p = bundled();
    assert_eq!(p.version, "2026.1");
    assert_eq!(p.financial_year_end, (12, 31));
}

#[test]
fn p01_enrolment_collects_the_policy_categories() {
    let p = bundled();
    let enrol = p.purpose("course_enrolment").expect("course_enrolment purpose");
    let fields: Vec<&str> = enrol.fields.iter().map(|f| f.category.as_str()).collect();
    for c in ["name", "address", "title", "company", "phone", "email"] {
        assert!(fields.contains(&c), "enrolment must offer {c}");
    }
    assert!(enrol.fields.iter().filter(|f| f.required).all(|f| f.category == "name" || f.category == "email"));
}

#[test]
fn p02_c7_only_ordinary_data() {
    let p = bundled();
    assert!(p.categories.iter().all(|c| c.class == CategoryClass::Ordinary));
    assert!(p.category("cpr").is_none() && p.category("allergies").is_none());
}

#[test]
fn p18_certification_record_kept_five_years_after_course_end() {
    let p = bundled();
    let record = p.purpose("certification_record").expect("certification_record purpose");
    assert_eq!(
        record.retention,
        RetentionRule { anchor: Anchor::CourseEnd, period: Period { years: 5, months: 0, days: 0 } }
    );
    let fields: Vec<&str> = record.fields.iter().map(|f| f.category.as_str()).collect();
    assert!(fields.contains(&"participation"));
    // P16: the partner's messages go right after the course.
    let proctor = p.purpose("exam_proctoring").expect("exam_proctoring purpose");
    assert_eq!(proctor.retention.anchor, Anchor::CourseEnd);
    assert!(proctor.retention.period.is_zero());
}

#[test]
fn p07_newsletter_is_consent_with_text_and_thirty_days_after_withdrawal() {
    let p = bundled();
    let n = p.purpose("newsletter").expect("newsletter purpose");
    assert_eq!(n.basis, LegalBasis::Consent);
    assert!(n.consent_text.is_some());
    assert_eq!(
        n.retention,
        RetentionRule { anchor: Anchor::Withdrawal, period: Period { years: 0, months: 0, days: 30 } }
    );
}

#[test]
fn c10_l6_bookkeeping_counts_from_financial_year_end() {
    let p = bundled();
    let b = p.purpose("bookkeeping").expect("bookkeeping purpose");
    assert_eq!(b.basis, LegalBasis::LegalObligation);
    assert_eq!(b.retention.anchor, Anchor::FinancialYearEnd);
    assert_eq!(b.retention.period.years, 5);
}

#[test]
fn p10_c2_c3_recipient_registry() {
    let p = bundled();
    for r in &p.recipients {
        match r.role {
            RecipientRole::Sponsor | RecipientRole::MarketingPartner => {
                assert_eq!(r.basis, LegalBasis::Consent, "{}", r.key)
            }
            RecipientRole::Authority => assert!(r.statute.is_some(), "{}", r.key),
            _ => {}
        }
        assert!(r.in_eea() || r.safeguard.is_some(), "{} outside the EEA needs a safeguard", r.key);
    }
    for role in [
        RecipientRole::CoursePartner,
        RecipientRole::CoOrganiser,
        RecipientRole::Sponsor,
        RecipientRole::CertificationPartner,
        RecipientRole::MarketingPartner,
        RecipientRole::Authority,
    ] {
        assert!(p.recipients.iter().any(|r| r.role == role), "policy must register a {role:?}");
    }
}

#[test]
fn c1_c5_controller_and_cookies() {
    let p = bundled();
    assert!(p.controller.example_values, "the missing contact details are marked as example values");
    assert_eq!(p.controller.cvr.len(), 8);
    assert!(p.cookies.iter().any(|c| c.category == CookieCategory::Necessary));
    assert!(p.cookies.iter().any(|c| c.category == CookieCategory::Statistics));
    assert!(p.cookies.iter().any(|c| c.category == CookieCategory::Marketing));
}

const BROKEN: &str = r#"
version = "1"
effective = 2026-01-01
financial_year_end = "12-31"

[controller]
name = "X"
cvr = "12345678"
address = "Street 1"
email = "a@b.dk"
dpo = "none"

[categories.email]
label = { da = "E-mail", en = "E-mail" }
class = "ordinary"
kind = "email"

[categories.shoe_size]
label = { da = "Skostørrelse", en = "Shoe size" }
class = "ordinary"
kind = "text"

[categories.health]
label = { da = "Helbred", en = "Health" }
class = "special"
kind = "text"

[purposes.newsletter]
label = { da = "Nyhedsbrev", en = "Newsletter" }
description = { da = "d", en = "d" }
basis = "consent"
fields = { email = "required", emial = "optional" }
retention = { after = "withdrawal", days = 30 }

[purposes.wellbeing]
label = { da = "Trivsel", en = "Wellbeing" }
description = { da = "d", en = "d" }
basis = "contract"
requirement = { da = "r", en = "r" }
fields = { health = "optional" }

[recipients.abroad]
name = "Far Away Inc."
role = "course_partner"
country = "US"
basis = "consent"
purposes = ["newsletter"]
categories = ["email"]
"#;

#[test]
fn policy_with_six_mistakes_gets_six_located_errors() {
    let errors = parse_policy("broken.toml", BROKEN).expect_err("the broken policy must be refused");
    let text = errors.to_string();
    let expect = [
        (28, "newsletter` is based on consent but has no consent text"),
        (32, "unknown category `emial`"),
        (18, "category `shoe_size` is not used by any purpose"),
        (35, "wellbeing` has no retention rule"),
        (40, "uses special category `health` without an Art. 9 basis"),
        (45, "outside the EEA (US) but has no transfer safeguard"),
    ];
    for (line, needle) in expect {
        let found = errors.diagnostics.iter().find(|d| d.message.contains(needle));
        let d = found.unwrap_or_else(|| panic!("missing error {needle:?} in:\n{text}"));
        assert_eq!(d.line, line, "{needle}: wrong line in:\n{text}");
        assert!(!d.help.is_empty());
    }
    assert_eq!(errors.diagnostics.len(), expect.len(), "exactly these problems:\n{text}");
    assert!(text.contains("broken.toml:32:32: error:"), "{text}");
    assert!(text.contains("did you mean `email`?"), "{text}");
}

#[test]
fn typo_in_a_key_is_named_with_a_suggestion() {
    let src = BUNDLED_POLICY.replacen("financial_year_end = ", "financial_yaer_end = ", 1);
    let errors = parse_policy("p.toml", &src).expect_err("refused");
    let text = errors.to_string();
    assert!(text.contains("unknown key `financial_yaer_end`"), "{text}");
    assert!(text.contains("did you mean `financial_year_end`"), "{text}");
    assert!(text.contains("missing `financial_year_end`"), "{text}");
}

#[test]
fn a_syntax_error_is_not_buried_under_what_the_parser_could_not_read() {
    let errors = parse_policy("p.toml", "garbage = [").expect_err("refused");
    assert!(errors.diagnostics.iter().any(|d| d.message.contains("not valid TOML")), "{errors}");
    assert!(!errors.to_string().contains("is missing"), "{errors}");
}

#[test]
fn duplicate_keys_are_located() {
    let src = BUNDLED_POLICY.replacen("[categories.title]", "[categories.name]", 1);
    let errors = parse_policy("p.toml", &src).expect_err("refused");
    assert!(errors.diagnostics.iter().any(|d| d.message.contains("not valid TOML")), "{errors}");
}

#[test]
fn p02_cpr_number_without_statute_is_refused() {
    let src = BUNDLED_POLICY.replacen(
        "[categories.name]",
        "[categories.cpr]\nlabel = { da = \"CPR\", en = \"CPR\" }\nclass = \"national_id\"\nkind = \"text\"\n\n[categories.name]",
        1,
    ).replacen("fields = { name = \"required\", email = \"required\", phone", "fields = { cpr = \"optional\", name = \"required\", email = \"required\", phone", 1);
    let errors = parse_policy("p.toml", &src).expect_err("refused");
    assert!(errors.to_string().contains("national identification number `cpr`"), "{errors}");
}

#[test]
fn p13_contract_purpose_must_state_the_requirement() {
    let src = BUNDLED_POLICY.replacen(
        "requirement = { da = \"Mailene er en del af afviklingen af certificeringen, som du har valgt.\", en = \"The messages are part of running the certification you chose.\" }\n",
        "",
        1,
    );
    assert_ne!(src, BUNDLED_POLICY);
    let errors = parse_policy("p.toml", &src).expect_err("refused");
    assert!(
        errors.to_string().contains("purpose `exam_proctoring` is based on a contract but does not say what follows"),
        "{errors}"
    );
}

#[test]
fn sponsor_without_consent_is_refused() {
    let src = BUNDLED_POLICY.replacen(
        "role = \"sponsor\"\ncountry = \"DK\"\nbasis = \"consent\"",
        "role = \"sponsor\"\ncountry = \"DK\"\nbasis = \"contract\"",
        1,
    );
    let errors = parse_policy("p.toml", &src).expect_err("refused");
    assert!(errors.to_string().contains("may only receive data with consent"), "{errors}");
}

#[test]
fn cookie_section_change_changes_cookie_version_only_there() {
    let a = bundled();
    let b = parse_policy("p.toml", &BUNDLED_POLICY.replacen("lifetime = 90", "lifetime = 60", 1)).expect("valid");
    assert_ne!(a.cookie_version, b.cookie_version);
    let c = parse_policy("p.toml", &BUNDLED_POLICY.replacen("version = \"2026.1\"", "version = \"2026.2\"", 1))
        .expect("valid");
    assert_eq!(a.cookie_version, c.cookie_version);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(src in "\\PC{0,400}") {
        let _ = parse_policy("fuzz.toml", &src);
    }

    #[test]
    fn parser_never_panics_on_mutated_policy(cut in 0usize..BUNDLED_POLICY.len(), len in 0usize..40, insert in "[\\[\\]{}=\"a-z0-9 \n,.#-]{0,12}") {
        let mut s = BUNDLED_POLICY.to_string();
        let mut start = cut.min(s.len());
        while !s.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(s.len());
        while !s.is_char_boundary(end) { end -= 1; }
        s.replace_range(start..end, &insert);
        if let Err(e) = parse_policy("fuzz.toml", &s) {
            prop_assert!(!e.diagnostics.is_empty());
            for d in &e.diagnostics { prop_assert!(d.line >= 1 && d.column >= 1); }
        }
    }
}

#[test]
fn c5_the_consent_cookie_must_be_listed_as_necessary() {
    let src = BUNDLED_POLICY.replacen(
        "[cookies.pactum_consent]\nprovider = \"Metier (førstepart)\"\ncategory = \"necessary\"",
        "[cookies.pactum_consent]\nprovider = \"Metier (førstepart)\"\ncategory = \"statistics\"",
        1,
    );
    assert_ne!(src, BUNDLED_POLICY);
    let errors = parse_policy("p.toml", &src).expect_err("refused");
    assert!(errors.to_string().contains("lacks `pactum_consent` as a necessary cookie"), "{errors}");
}

#[test]
fn l4_a_recipients_notify_is_an_address_or_a_signed_https_webhook() {
    let p = bundled();
    let partner = p.recipient("course_partner").unwrap();
    assert_eq!(partner.notify, Some(Notify::Email("privacy@kursuspartner.example".into())));
    let with = |notify: &str| {
        BUNDLED_POLICY.replace("notify = { email = \"privacy@kursuspartner.example\" }", &format!("notify = {notify}"))
    };
    let webhook =
        with("{ webhook = \"https://partner.example/pactum\", secret_env = \"PACTUM_NOTIFY_SECRET_PARTNER\" }");
    let parsed = parse_policy("metier.toml", &webhook).unwrap();
    assert_eq!(
        parsed.recipient("course_partner").unwrap().notify,
        Some(Notify::Webhook {
            url: "https://partner.example/pactum".into(),
            secret_env: "PACTUM_NOTIFY_SECRET_PARTNER".into()
        })
    );
    for (notify, expected) in [
        ("{ webhook = \"http://partner.example/\", secret_env = \"KEY\" }", "must be an https:// address"),
        ("{ webhook = \"https://partner.example/\", secret_env = \"my key\" }", "is not an environment variable name"),
        ("{ webhook = \"https://partner.example/\" }", "is missing `secret_env`"),
        ("{ email = \"not an address\" }", "is not an e-mail address"),
        ("{ }", "must name either `email` or `webhook`"),
        ("{ email = \"a@b.dk\", webhook = \"https://b.dk\" }", "must name either `email` or `webhook`"),
        ("{ mail = \"a@b.dk\" }", "unknown key `mail`"),
    ] {
        let errors = parse_policy("metier.toml", &with(notify)).unwrap_err();
        let text = errors.to_string();
        assert!(text.contains(expected), "{notify}: {text}");
        assert!(text.starts_with("metier.toml:"), "located: {text}");
    }
    let local = with("{ webhook = \"http://127.0.0.1:9000/hook\", secret_env = \"KEY\" }");
    assert!(parse_policy("metier.toml", &local).is_ok(), "plain http only to this machine");
}
