//! The privacy notice, rendered from the policy and nothing else (DESIGN invariant 1, P03, C1, C8).
//!
//! Every purpose, basis, retention rule, recipient and cookie on the page comes from the loaded
//! policy, so the published notice cannot drift from what Pactum enforces.

use askama::Template;
use pactum_policy::{CookieLifetime, Lang, LegalBasis, Policy, RecipientRole};

/// The fixed wording of the notice, per language.
pub struct Wording {
    pub title: &'static str,
    pub intro: &'static str,
    pub example_warning: &'static str,
    pub controller_heading: &'static str,
    pub cvr: &'static str,
    pub address: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub website: &'static str,
    pub dpo_heading: &'static str,
    pub no_dpo: &'static str,
    pub data_heading: &'static str,
    pub data_intro: &'static str,
    pub purposes_heading: &'static str,
    pub purposes_intro: &'static str,
    pub basis: &'static str,
    pub interest: &'static str,
    pub requirement: &'static str,
    pub statute: &'static str,
    pub data_used: &'static str,
    pub required: &'static str,
    pub optional: &'static str,
    pub retention: &'static str,
    pub recipients_of_purpose: &'static str,
    pub no_recipients: &'static str,
    pub consent_text: &'static str,
    pub recipients_heading: &'static str,
    pub recipients_intro: &'static str,
    pub role: &'static str,
    pub country: &'static str,
    pub safeguard: &'static str,
    pub within_eea: &'static str,
    pub receives: &'static str,
    pub transfers_heading: &'static str,
    pub transfers_intro: &'static str,
    pub no_transfers: &'static str,
    pub sources_heading: &'static str,
    pub sources_text: &'static str,
    pub cookies_heading: &'static str,
    pub cookies_intro: &'static str,
    pub cookie_name: &'static str,
    pub cookie_provider: &'static str,
    pub cookie_category: &'static str,
    pub cookie_purpose: &'static str,
    pub cookie_lifetime: &'static str,
    pub session: &'static str,
    pub days: &'static str,
    pub rights_heading: &'static str,
    pub rights: [(&'static str, &'static str); 8],
    pub rights_how: &'static str,
    pub complaint_heading: &'static str,
    pub complaint_text: &'static str,
    pub automated_heading: &'static str,
    pub automated_text: &'static str,
    pub security_heading: &'static str,
    pub security_text: &'static str,
    pub payment_heading: &'static str,
    pub payment_text: &'static str,
    pub version_heading: &'static str,
    pub version: &'static str,
    pub effective: &'static str,
    pub other_language: &'static str,
    pub skip_link: &'static str,
}

pub const DA: Wording = Wording {
    title: "Privatlivs- og persondatapolitik",
    intro: "Her kan du læse, hvilke personoplysninger vi behandler om dig, hvorfor, på hvilket grundlag, hvor længe vi gemmer dem, og hvem vi giver dem videre til. Siden dannes automatisk ud fra den politik, vores system håndhæver.",
    example_warning: "Kontaktoplysningerne nedenfor er eksempelværdier og skal udskiftes, før systemet tages i brug.",
    controller_heading: "Dataansvarlig",
    cvr: "CVR-nr.",
    address: "Adresse",
    email: "E-mail",
    phone: "Telefon",
    website: "Hjemmeside",
    dpo_heading: "Databeskyttelsesrådgiver",
    no_dpo: "Vi har ikke udpeget en databeskyttelsesrådgiver (DPO). Kontakt os på oplysningerne ovenfor.",
    data_heading: "Hvilke oplysninger vi behandler",
    data_intro: "Vi behandler kun almindelige personoplysninger – ikke følsomme oplysninger og ikke CPR-numre:",
    purposes_heading: "Formål, retsgrundlag og opbevaring",
    purposes_intro: "Hvert formål har sit eget retsgrundlag. Trækker du et samtykke tilbage, påvirker det ikke oplysninger, vi behandler på et andet grundlag, f.eks. bogføring.",
    basis: "Retsgrundlag",
    interest: "Vores legitime interesse",
    requirement: "Krav og konsekvens",
    statute: "Lovkrav",
    data_used: "Oplysninger",
    required: "skal oplyses",
    optional: "frivilligt",
    retention: "Opbevaring",
    recipients_of_purpose: "Modtagere",
    no_recipients: "Ingen – oplysningerne gives ikke videre.",
    consent_text: "Samtykketekst",
    recipients_heading: "Hvem vi giver oplysninger videre til",
    recipients_intro: "Vi giver kun oplysninger videre til de modtagere, der står her, og kun til de formål og på det grundlag, der står ved hver af dem.",
    role: "Rolle",
    country: "Land",
    safeguard: "Overførselsgrundlag",
    within_eea: "Inden for EU/EØS",
    receives: "Modtager",
    transfers_heading: "Overførsel til lande uden for EU/EØS",
    transfers_intro: "Disse modtagere ligger uden for EU/EØS. Overførslen sker kun med det grundlag, der står ved hver:",
    no_transfers: "Vi overfører ikke oplysninger til lande uden for EU/EØS.",
    sources_heading: "Hvor oplysningerne kommer fra",
    sources_text: "Oplysningerne kommer fra dig selv, når du tilmelder dig eller køber. Resultatet af en certificering modtager vi fra certificeringspartneren; det fremgår af din indsigt, hvor hver oplysning stammer fra.",
    cookies_heading: "Cookies",
    cookies_intro: "Uden dit samtykke bruger vi kun de nødvendige, tekniske cookies. Statistik og markedsføring kræver hver sit samtykke, og intet er afkrydset på forhånd. Du kan til enhver tid ændre dine valg ved at trykke på cookie-knappen i nederste venstre hjørne.",
    cookie_name: "Navn",
    cookie_provider: "Udbyder",
    cookie_category: "Kategori",
    cookie_purpose: "Formål",
    cookie_lifetime: "Levetid",
    session: "Indtil browseren lukkes",
    days: "dage",
    rights_heading: "Dine rettigheder",
    rights: [
        (
            "Indsigt",
            "Du kan få at vide, hvilke oplysninger vi behandler om dig, hvor de stammer fra, hvad vi bruger dem til, hvor længe vi gemmer dem, og hvem der modtager dem.",
        ),
        (
            "Berigtigelse",
            "Du kan få urigtige oplysninger rettet. Vi giver rettelsen videre til dem, der har modtaget oplysningen.",
        ),
        (
            "Sletning",
            "Du kan få dine oplysninger slettet, når de ikke længere er nødvendige, når du trækker samtykket tilbage, eller når behandlingen er ulovlig. Det, loven kræver at vi gemmer (f.eks. bogføring), begrænses i stedet, og du får at vide hvor længe.",
        ),
        (
            "Begrænsning",
            "Du kan få behandlingen begrænset, mens vi undersøger en indsigelse eller om oplysningerne er rigtige.",
        ),
        (
            "Indsigelse",
            "Du kan gøre indsigelse mod vores behandling. Indsigelse mod markedsføring efterkommes altid og straks. Indsigelse mod videregivelse til certificeringspartneren betyder, at du ikke kan tage certificeringen.",
        ),
        (
            "Dataportabilitet",
            "Du kan få de oplysninger, du selv har givet os, udleveret i et maskinlæsbart format (JSON og CSV).",
        ),
        (
            "Tilbagetrækning af samtykke",
            "Du kan til enhver tid trække et samtykke tilbage, lige så let som du gav det. Det påvirker ikke lovligheden af behandlingen før tilbagetrækningen.",
        ),
        (
            "Svarfrist",
            "Vi svarer hurtigst muligt og senest inden for en måned. Er sagen kompleks, kan fristen forlænges med to måneder; så får du besked inden for den første måned. Det er gratis.",
        ),
    ],
    rights_how: "Du bruger dine rettigheder under «Mine data» eller ved at skrive til os på e-mailadressen ovenfor. Vi bekræfter din identitet med et link til den e-mailadresse, vi har registreret – aldrig med kopi af ID.",
    complaint_heading: "Klage til Datatilsynet",
    complaint_text: "Du kan klage til Datatilsynet, Carl Jacobsens Vej 35, 2500 Valby, dt@datatilsynet.dk, www.datatilsynet.dk.",
    automated_heading: "Automatiske afgørelser",
    automated_text: pactum_core::personal::no_automated_decisions(Lang::Da),
    security_heading: "Sikkerhed",
    security_text: "Hver persons oplysninger krypteres med personens egen nøgle. Adgang er begrænset efter rolle, og enhver ændring, videregivelse, sletning og medarbejderopslag logges i en log, der ikke kan ændres ubemærket.",
    payment_heading: "Betaling",
    payment_text: "Kortoplysninger indtastes kun hos betalingsudbyderen over en krypteret forbindelse (TLS). Vi ser og gemmer aldrig dit kortnummer.",
    version_heading: "Version",
    version: "Politikversion",
    effective: "Gældende fra",
    other_language: "Read in English",
    skip_link: "Gå til indhold",
};

pub const EN: Wording = Wording {
    title: "Privacy notice",
    intro: "This page tells you which personal data we process about you, why, on what legal basis, how long we keep it, and whom we pass it to. It is generated from the very policy our system enforces.",
    example_warning: "The contact details below are example values and must be replaced before the system goes live.",
    controller_heading: "Controller",
    cvr: "CVR no.",
    address: "Address",
    email: "E-mail",
    phone: "Phone",
    website: "Website",
    dpo_heading: "Data protection officer",
    no_dpo: "We have not appointed a data protection officer (DPO). Contact us using the details above.",
    data_heading: "What data we process",
    data_intro: "We process ordinary personal data only – no special categories and no national identification (CPR) numbers:",
    purposes_heading: "Purposes, legal bases and retention",
    purposes_intro: "Each purpose has its own legal basis. Withdrawing a consent does not affect data we process on another basis, such as bookkeeping.",
    basis: "Legal basis",
    interest: "Our legitimate interest",
    requirement: "Requirement and consequence",
    statute: "Statutory requirement",
    data_used: "Data",
    required: "required",
    optional: "optional",
    retention: "Retention",
    recipients_of_purpose: "Recipients",
    no_recipients: "None – the data is not passed on.",
    consent_text: "Consent text",
    recipients_heading: "Whom we pass data to",
    recipients_intro: "We pass data only to the recipients listed here, and only for the purposes and on the basis stated for each.",
    role: "Role",
    country: "Country",
    safeguard: "Transfer safeguard",
    within_eea: "Within the EU/EEA",
    receives: "Receives",
    transfers_heading: "Transfers outside the EU/EEA",
    transfers_intro: "These recipients are outside the EU/EEA. Data is transferred only with the safeguard stated for each:",
    no_transfers: "We do not transfer data to countries outside the EU/EEA.",
    sources_heading: "Where the data comes from",
    sources_text: "The data comes from you when you sign up or buy. Certification results come from the certification partner; your access report shows where each item came from.",
    cookies_heading: "Cookies",
    cookies_intro: "Without your consent we use only the necessary, technical cookies. Statistics and marketing each need their own consent, and nothing is pre-ticked. You can change your choices at any time with the cookie button in the bottom left corner.",
    cookie_name: "Name",
    cookie_provider: "Provider",
    cookie_category: "Category",
    cookie_purpose: "Purpose",
    cookie_lifetime: "Lifetime",
    session: "Until the browser closes",
    days: "days",
    rights_heading: "Your rights",
    rights: [
        (
            "Access",
            "You can find out which data we process about you, where it came from, what we use it for, how long we keep it and who receives it.",
        ),
        (
            "Rectification",
            "You can have inaccurate data corrected. We pass the correction on to everyone who received the data.",
        ),
        (
            "Erasure",
            "You can have your data erased when it is no longer needed, when you withdraw consent, or when processing is unlawful. What the law requires us to keep (such as bookkeeping) is restricted instead, and you are told until when.",
        ),
        (
            "Restriction",
            "You can have processing restricted while we look into an objection or whether the data is accurate.",
        ),
        (
            "Objection",
            "You can object to our processing. An objection to marketing is always honoured at once. An objection to disclosure to the certification partner means you cannot take the certification.",
        ),
        ("Data portability", "You can receive the data you gave us in a machine-readable format (JSON and CSV)."),
        (
            "Withdrawing consent",
            "You can withdraw a consent at any time, as easily as you gave it. This does not affect the lawfulness of processing before the withdrawal.",
        ),
        (
            "Time limit",
            "We answer as quickly as possible and within one month at the latest. For a complex case the time limit can be extended by two months; you are then told within the first month. It is free of charge.",
        ),
    ],
    rights_how: "You exercise your rights under \"My data\" or by writing to us at the e-mail address above. We verify your identity with a link to the e-mail address we hold – never with a copy of an ID.",
    complaint_heading: "Complaints to Datatilsynet",
    complaint_text: "You can complain to the Danish Data Protection Agency (Datatilsynet), Carl Jacobsens Vej 35, 2500 Valby, Denmark, dt@datatilsynet.dk, www.datatilsynet.dk.",
    automated_heading: "Automated decisions",
    automated_text: pactum_core::personal::no_automated_decisions(Lang::En),
    security_heading: "Security",
    security_text: "Each person's data is encrypted under that person's own key. Access is limited by role, and every change, disclosure, deletion and staff read is recorded in a log that cannot be altered unnoticed.",
    payment_heading: "Payment",
    payment_text: "Card details are entered only at the payment provider, over an encrypted connection (TLS). We never see or store your card number.",
    version_heading: "Version",
    version: "Policy version",
    effective: "Effective from",
    other_language: "Læs på dansk",
    skip_link: "Skip to content",
};

pub fn wording(lang: Lang) -> &'static Wording {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

/// The notice's URL in each language.
pub fn path(lang: Lang) -> &'static str {
    match lang {
        Lang::Da => "/privatliv",
        Lang::En => "/en/privacy",
    }
}

pub struct FieldView {
    pub label: String,
    pub required: bool,
}

pub struct PurposeView {
    pub key: String,
    pub label: String,
    pub description: String,
    pub basis: String,
    pub article: &'static str,
    pub interest: Option<String>,
    pub requirement: Option<String>,
    pub statute: Option<String>,
    pub consent_text: Option<String>,
    pub fields: Vec<FieldView>,
    pub retention: String,
    pub recipients: Vec<String>,
}

pub struct RecipientView {
    pub name: String,
    pub role: &'static str,
    pub country: String,
    pub safeguard: Option<&'static str>,
    pub basis: String,
    pub statute: Option<String>,
    pub description: Option<String>,
    pub purposes: Vec<String>,
    pub categories: Vec<String>,
}

pub struct CookieView {
    pub name: String,
    pub provider: String,
    pub category: &'static str,
    pub purpose: String,
    pub lifetime: String,
}

/// What every page's frame (header, language switch, footer) needs.
pub struct Chrome<'a> {
    pub lang: &'static str,
    pub t: &'static Wording,
    /// The same page in the other language.
    pub other_href: String,
    pub other_lang: &'static str,
    pub policy: &'a Policy,
}

impl<'a> Chrome<'a> {
    pub fn new(policy: &'a Policy, lang: Lang, other_href: impl Into<String>) -> Chrome<'a> {
        let other = if lang == Lang::Da { Lang::En } else { Lang::Da };
        Chrome { lang: lang.code(), t: wording(lang), other_href: other_href.into(), other_lang: other.code(), policy }
    }
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage<'a> {
    pub c: Chrome<'a>,
    pub categories: Vec<String>,
    pub purposes: Vec<PurposeView>,
    pub recipients: Vec<RecipientView>,
    pub transfers: Vec<(String, String, &'static str)>,
    pub cookies: Vec<CookieView>,
    pub effective: String,
}

pub use pactum_policy::format_date;

pub fn country_name(code: &str, lang: Lang) -> String {
    const NAMES: [(&str, &str, &str); 12] = [
        ("DK", "Danmark", "Denmark"),
        ("SE", "Sverige", "Sweden"),
        ("NO", "Norge", "Norway"),
        ("DE", "Tyskland", "Germany"),
        ("NL", "Holland", "Netherlands"),
        ("IE", "Irland", "Ireland"),
        ("FI", "Finland", "Finland"),
        ("FR", "Frankrig", "France"),
        ("GB", "Storbritannien", "United Kingdom"),
        ("US", "USA", "United States"),
        ("CH", "Schweiz", "Switzerland"),
        ("IS", "Island", "Iceland"),
    ];
    match NAMES.iter().find(|(c, _, _)| *c == code) {
        Some((_, da, en)) => format!("{} ({code})", if lang == Lang::Da { da } else { en }),
        None => code.to_string(),
    }
}

fn basis_label(basis: LegalBasis, lang: Lang) -> String {
    format!("{} – {}", basis.label(lang), basis.article())
}

fn category_label(policy: &Policy, key: &str, lang: Lang) -> String {
    policy.category(key).map(|c| c.label.get(lang).to_string()).unwrap_or_else(|| key.to_string())
}

/// One purpose as the notice shows it, with every recipient the policy registers for it (P03).
pub fn purpose_view(policy: &Policy, p: &pactum_policy::Purpose, lang: Lang) -> PurposeView {
    purpose_view_with(policy, p, lang, |_| true)
}

/// One purpose as the form of one activity shows it (P03, P08, P09): a recipient that takes part
/// only in the activities that name it (a partner that delivers courses, a co-organiser, a
/// sponsor) is listed only where the activity names it, among `named`.
pub fn purpose_view_at(policy: &Policy, p: &pactum_policy::Purpose, lang: Lang, named: &[String]) -> PurposeView {
    purpose_view_with(policy, p, lang, |r| match r.role {
        RecipientRole::CoursePartner | RecipientRole::CoOrganiser | RecipientRole::Sponsor => named.contains(&r.key),
        _ => true,
    })
}

fn purpose_view_with(
    policy: &Policy,
    p: &pactum_policy::Purpose,
    lang: Lang,
    shown: impl Fn(&pactum_policy::Recipient) -> bool,
) -> PurposeView {
    PurposeView {
        key: p.key.clone(),
        label: p.label.get(lang).to_string(),
        description: p.description.get(lang).to_string(),
        basis: p.basis.label(lang).to_string(),
        article: p.basis.article(),
        interest: p.interest.as_ref().map(|t| t.get(lang).to_string()),
        requirement: p.requirement.as_ref().map(|t| t.get(lang).to_string()),
        statute: p.statute.clone(),
        consent_text: p.consent_text.as_ref().map(|t| t.get(lang).to_string()),
        fields: p
            .fields
            .iter()
            .map(|f| FieldView { label: category_label(policy, &f.category, lang), required: f.required })
            .collect(),
        retention: p.retention.describe(lang),
        recipients: policy
            .recipients_of(&p.key)
            .filter(|r| shown(r))
            .map(|r| format!("{} ({}, {})", r.name, r.role.label(lang), country_name(&r.country, lang)))
            .collect(),
    }
}

pub fn page(policy: &Policy, lang: Lang) -> NoticePage<'_> {
    let purposes = policy.purposes.iter().map(|p| purpose_view(policy, p, lang)).collect();
    let recipients = policy
        .recipients
        .iter()
        .map(|r| RecipientView {
            name: r.name.clone(),
            role: r.role.label(lang),
            country: country_name(&r.country, lang),
            safeguard: r.safeguard.map(|s| s.label(lang)),
            basis: basis_label(r.basis, lang),
            statute: r.statute.clone(),
            description: r.description.as_ref().map(|d| d.get(lang).to_string()),
            purposes: r
                .purposes
                .iter()
                .map(|k| policy.purpose(k).map(|p| p.label.get(lang).to_string()).unwrap_or_else(|| k.clone()))
                .collect(),
            categories: r.categories.iter().map(|c| category_label(policy, c, lang)).collect(),
        })
        .collect();
    let transfers = policy
        .recipients
        .iter()
        .filter(|r| !r.in_eea())
        .map(|r| (r.name.clone(), country_name(&r.country, lang), r.safeguard.map(|s| s.label(lang)).unwrap_or("")))
        .collect();
    let t = wording(lang);
    let other = if lang == Lang::Da { Lang::En } else { Lang::Da };
    let cookies = policy
        .cookies
        .iter()
        .map(|c| CookieView {
            name: c.name.clone(),
            provider: c.provider.clone(),
            category: c.category.label(lang),
            purpose: c.purpose.get(lang).to_string(),
            lifetime: match c.lifetime {
                CookieLifetime::Session => t.session.to_string(),
                CookieLifetime::Days(d) => format!("{d} {}", t.days),
            },
        })
        .collect();
    NoticePage {
        c: Chrome::new(policy, lang, path(other)),
        categories: policy.categories.iter().map(|c| c.label.get(lang).to_string()).collect(),
        purposes,
        recipients,
        transfers,
        cookies,
        effective: format_date(policy.effective, lang),
    }
}

pub fn render(policy: &Policy, lang: Lang) -> Result<String, askama::Error> {
    page(policy, lang).render()
}
