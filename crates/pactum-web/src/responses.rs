//! The pages and pieces every form shares: wording, inputs built from the policy's categories,
//! and the answers for a stale form, an undeclared field and a failure.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use pactum_core::CoreError;
use pactum_policy::{FieldKind, Lang, Policy, Purpose};

use crate::forms::Submitted;
use crate::notice::Chrome;
use crate::pages::html;

/// The fixed wording every form page shares (the newsletter page uses `title` and `intro` too).
pub struct Words {
    pub title: &'static str,
    pub intro: &'static str,
    pub required: &'static str,
    pub optional: &'static str,
    pub submit: &'static str,
    pub errors_heading: &'static str,
    pub consent_missing: &'static str,
    pub notice_heading: &'static str,
    pub notice_link: &'static str,
}

pub const DA: Words = Words {
    title: "Tilmeld dig vores nyhedsmails",
    intro: "Få besked om nye kurser, konferencer og certificeringer. Du får først mails, når du har bekræftet din tilmelding via et link, vi sender dig.",
    required: "skal udfyldes",
    optional: "frivilligt",
    submit: "Tilmeld",
    errors_heading: "Ret venligst følgende",
    consent_missing: "Sæt kryds i boksen, hvis du vil have nyhedsmails. Uden dit samtykke tilmelder vi dig ikke.",
    notice_heading: "Sådan behandler vi dine oplysninger",
    notice_link: "Hele privatlivspolitikken",
};

pub const EN: Words = Words {
    title: "Sign up for our newsletter",
    intro: "Hear about new courses, conferences and certifications. You receive mail only after confirming your sign-up through a link we send you.",
    required: "required",
    optional: "optional",
    submit: "Sign up",
    errors_heading: "Please correct the following",
    consent_missing: "Tick the box if you want newsletters. Without your consent we do not sign you up.",
    notice_heading: "How we process your data",
    notice_link: "The full privacy notice",
};

pub fn words(lang: Lang) -> &'static Words {
    if lang == Lang::Da { &DA } else { &EN }
}

/// One input of a form, ready to render.
pub struct FieldInput {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub required: bool,
    pub value: String,
    pub error: Option<String>,
}

/// The inputs for the fields `purpose` declares, in the policy's order, filled from a submission.
pub fn purpose_inputs(
    policy: &Policy,
    purpose: &Purpose,
    lang: Lang,
    submitted: Option<&Submitted>,
    errors: &[(String, String)],
) -> Vec<FieldInput> {
    prefixed_inputs(policy, purpose, lang, submitted, errors, "")
}

/// [`purpose_inputs`] with every input's name (and so its value and error) prefixed, for forms that
/// collect the same purpose for several people (`p2_email`).
pub fn prefixed_inputs(
    policy: &Policy,
    purpose: &Purpose,
    lang: Lang,
    submitted: Option<&Submitted>,
    errors: &[(String, String)],
    prefix: &str,
) -> Vec<FieldInput> {
    purpose
        .fields
        .iter()
        .filter_map(|field| {
            let category = policy.category(&field.category)?;
            let (kind, autocomplete) = match (category.kind, field.category.as_str()) {
                (FieldKind::Record, _) => return None,
                (FieldKind::Email, _) => ("email", "email"),
                (FieldKind::Phone, _) => ("tel", "tel"),
                (FieldKind::Name, _) => ("text", "name"),
                (FieldKind::Company, _) => ("text", "organization"),
                (FieldKind::Address, _) => ("text", "street-address"),
                (_, "title") => ("text", "organization-title"),
                _ => ("text", "off"),
            };
            let name = format!("{prefix}{}", field.category);
            Some(FieldInput {
                label: category.label.get(lang).to_string(),
                kind,
                autocomplete,
                required: field.required,
                value: submitted.and_then(|s| s.get(&name)).unwrap_or("").to_string(),
                error: errors.iter().find(|(f, _)| *f == name).map(|(_, m)| m.clone()),
                name,
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub c: Chrome<'a>,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub list: Vec<String>,
    pub action: Option<(String, String)>,
    pub link: Option<(String, String)>,
}

/// Renders a simple page of text with a status.
pub fn message(c: Chrome<'_>, status: StatusCode, title: &str, paragraphs: Vec<String>) -> Response {
    message_with(MessagePage { c, title: title.into(), paragraphs, list: Vec::new(), action: None, link: None }, status)
}

pub fn message_with(page: MessagePage<'_>, status: StatusCode) -> Response {
    let mut response = html(page.render());
    *response.status_mut() = status;
    response
}

/// The page for a form that cannot be accepted as sent: expired, forged, or from another site.
pub fn stale_form(c: Chrome<'_>, lang: Lang) -> Response {
    let (title, text) = match lang {
        Lang::Da => (
            "Formularen kunne ikke modtages",
            "Formularen er udløbet eller kom ikke fra vores side. Indlæs siden igen og send formularen på ny.",
        ),
        Lang::En => (
            "The form could not be accepted",
            "The form has expired or did not come from our site. Reload the page and send the form again.",
        ),
    };
    message(c, StatusCode::FORBIDDEN, title, vec![text.into()])
}

/// The page for a field the purpose does not declare: named, and nothing stored (P01).
pub fn undeclared_field(c: Chrome<'_>, lang: Lang, field: &str) -> Response {
    let problem = pactum_core::values::FieldError::undeclared(field);
    let title = match lang {
        Lang::Da => "Formularen indeholder et felt, vi ikke indsamler",
        Lang::En => "The form contains a field we do not collect",
    };
    message(c, StatusCode::BAD_REQUEST, title, vec![problem.message(lang)])
}

/// A failure that is not the visitor's: logged, and a page that says to try again.
pub fn failure(c: Chrome<'_>, lang: Lang, e: CoreError) -> Response {
    tracing::error!(error = %e, "a form could not be processed");
    let (title, text) = match lang {
        Lang::Da => ("Noget gik galt", "Vi kunne ikke gemme din formular lige nu. Intet er gemt. Prøv igen om lidt."),
        Lang::En => {
            ("Something went wrong", "We could not save your form just now. Nothing was saved. Try again shortly.")
        }
    };
    message(c, StatusCode::SERVICE_UNAVAILABLE, title, vec![text.into()])
}
