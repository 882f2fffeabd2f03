//! The newsletter pages: sign-up with a separate, unticked box and the notice beside it (P03, P07),
//! the confirmation link, and the unsubscribe page whose POST is the RFC 8058 one-click target (L11).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use pactum_core::newsletter::{PURPOSE, SubscribeOutcome, Subscription, Withdrawal};
use pactum_core::{Clock, CoreError};
use pactum_policy::Lang;
use pactum_store::Backend;

use crate::AppState;
use crate::forms::{Submitted, form_token, form_token_valid, same_origin};
use crate::notice::{Chrome, PurposeView, purpose_view};
use crate::pages::{html, other};
use crate::responses::{
    FieldInput, MessagePage, Words, failure, message, message_with, purpose_inputs, stale_form, undeclared_field, words,
};

pub fn page_path(lang: Lang) -> &'static str {
    match lang {
        Lang::Da => "/nyhedsbrev",
        Lang::En => "/en/newsletter",
    }
}

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    Router::new()
        .route("/nyhedsbrev", get(form_da::<B, C>).post(submit_da::<B, C>))
        .route("/en/newsletter", get(form_en::<B, C>).post(submit_en::<B, C>))
        .route("/nyhedsbrev/bekraeft/{token}", get(confirm_da::<B, C>))
        .route("/en/newsletter/confirm/{token}", get(confirm_en::<B, C>))
        .route("/nyhedsbrev/afmeld/{token}", get(unsubscribe_page_da::<B, C>).post(unsubscribe_da::<B, C>))
        .route("/en/newsletter/unsubscribe/{token}", get(unsubscribe_page_en::<B, C>).post(unsubscribe_en::<B, C>))
}

#[derive(Template)]
#[template(path = "newsletter.html")]
struct NewsletterPage<'a> {
    c: Chrome<'a>,
    w: &'static Words,
    action: &'static str,
    token: String,
    notice_version: String,
    fields: Vec<FieldInput>,
    consent_text: String,
    consent_error: Option<String>,
    errors: Vec<String>,
    purposes: Vec<PurposeView>,
    notice_href: &'static str,
}

const CONTROL: [&str; 3] = ["form_token", "notice_version", "consent"];

fn form_page<'a, B: Backend, C: Clock>(
    state: &'a AppState<B, C>,
    lang: Lang,
    submitted: Option<&Submitted>,
    errors: &[(String, String)],
    consent_error: bool,
) -> NewsletterPage<'a> {
    let policy = &state.pactum.policy;
    let purpose = policy.purpose(PURPOSE);
    let fields = purpose.map(|p| purpose_inputs(policy, p, lang, submitted, errors)).unwrap_or_default();
    let w = words(lang);
    let mut all_errors: Vec<String> = errors.iter().map(|(_, m)| m.clone()).collect();
    if consent_error {
        all_errors.push(w.consent_missing.to_string());
    }
    NewsletterPage {
        c: Chrome::new(policy, lang, page_path(other(lang))),
        w,
        action: page_path(lang),
        token: form_token(&state.pactum.keys.blind_index, state.pactum.clock.now().unix_timestamp()),
        notice_version: policy.version.clone(),
        fields,
        consent_text: purpose
            .and_then(|p| p.consent_text.as_ref())
            .map(|t| t.get(lang).to_string())
            .unwrap_or_default(),
        consent_error: consent_error.then(|| w.consent_missing.to_string()),
        errors: all_errors,
        purposes: purpose.map(|p| vec![purpose_view(policy, p, lang)]).unwrap_or_default(),
        notice_href: crate::notice::path(lang),
    }
}

async fn form_da<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Response {
    html(form_page(&state, Lang::Da, None, &[], false).render())
}

async fn form_en<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>) -> Response {
    html(form_page(&state, Lang::En, None, &[], false).render())
}

async fn submit_da<B: Backend, C: Clock>(
    state: State<Arc<AppState<B, C>>>,
    headers: HeaderMap,
    form: Form<Vec<(String, String)>>,
) -> Response {
    submit(state, headers, form, Lang::Da).await
}

async fn submit_en<B: Backend, C: Clock>(
    state: State<Arc<AppState<B, C>>>,
    headers: HeaderMap,
    form: Form<Vec<(String, String)>>,
) -> Response {
    submit(state, headers, form, Lang::En).await
}

fn rerender<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    submitted: &Submitted,
    errors: &[(String, String)],
    consent_error: bool,
    status: StatusCode,
) -> Response {
    let mut response = html(form_page(state, lang, Some(submitted), errors, consent_error).render());
    *response.status_mut() = status;
    response
}

async fn submit<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
    lang: Lang,
) -> Response {
    let policy = &state.pactum.policy;
    let chrome = || Chrome::new(policy, lang, page_path(other(lang)));
    let submitted = Submitted(fields);
    let now = state.pactum.clock.now().unix_timestamp();
    if !same_origin(&headers)
        || !form_token_valid(&state.pactum.keys.blind_index, submitted.get("form_token").unwrap_or(""), now)
    {
        return stale_form(chrome(), lang);
    }
    let Some(purpose) = policy.purpose(PURPOSE) else {
        return failure(chrome(), lang, CoreError::UnknownPurpose(PURPOSE.into()));
    };
    let allowed: Vec<&str> = purpose.fields.iter().map(|f| f.category.as_str()).chain(CONTROL).collect();
    if let Some(field) = submitted.unexpected(&allowed) {
        return undeclared_field(chrome(), lang, &field);
    }
    let consent_given = submitted.get("consent") == Some("yes");
    let email = submitted.get("email").unwrap_or("").to_string();
    if !consent_given {
        return rerender(&state, lang, &submitted, &[], true, StatusCode::BAD_REQUEST);
    }
    let subscription = Subscription {
        email,
        name: submitted.get("name").map(str::to_string),
        interests: submitted.get("newsletter_interests").map(str::to_string),
        lang,
        method: "form:newsletter".into(),
        notice_version: submitted.get("notice_version").unwrap_or("").to_string(),
    };
    match state.pactum.subscribe_newsletter(subscription).await {
        Ok(
            SubscribeOutcome::ConfirmationSent { .. } | SubscribeOutcome::AlreadyActive | SubscribeOutcome::Repeated,
        ) => {
            // The same answer either way, so the page never tells whether an address is known.
            let (title, text) = match lang {
                Lang::Da => (
                    "Tjek din indbakke",
                    "Vi har sendt en mail med et link. Åbn linket for at bekræfte din tilmelding. Er du allerede tilmeldt, sker der ikke mere.",
                ),
                Lang::En => (
                    "Check your inbox",
                    "We have sent you a mail with a link. Open it to confirm your sign-up. If you are already signed up, nothing more happens.",
                ),
            };
            message(chrome(), StatusCode::OK, title, vec![text.into()])
        }
        Err(CoreError::Invalid(problems)) => {
            let errors: Vec<(String, String)> = problems.iter().map(|p| (p.field.clone(), p.message(lang))).collect();
            rerender(&state, lang, &submitted, &errors, false, StatusCode::BAD_REQUEST)
        }
        Err(CoreError::NoticeChanged) => {
            let text = match lang {
                Lang::Da => {
                    "Vores privatlivspolitik er ændret, siden du åbnede siden. Læs den nye tekst nedenfor, og send formularen igen."
                }
                Lang::En => {
                    "Our privacy notice changed after you opened the page. Read the new text below and send the form again."
                }
            };
            rerender(&state, lang, &submitted, &[("notice".into(), text.into())], false, StatusCode::CONFLICT)
        }
        Err(e) => failure(chrome(), lang, e),
    }
}

async fn confirm_da<B: Backend, C: Clock>(state: State<Arc<AppState<B, C>>>, token: Path<String>) -> Response {
    confirm(state, token, Lang::Da).await
}

async fn confirm_en<B: Backend, C: Clock>(state: State<Arc<AppState<B, C>>>, token: Path<String>) -> Response {
    confirm(state, token, Lang::En).await
}

async fn confirm<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Path(token): Path<String>,
    lang: Lang,
) -> Response {
    let c = Chrome::new(&state.pactum.policy, lang, page_path(other(lang)));
    match state.pactum.confirm_consent(&token).await {
        Ok(consent) => {
            let (title, text, receipt) = match lang {
                Lang::Da => (
                    "Tak – din tilmelding er bekræftet",
                    "Du får nu vores nyhedsmails. Du kan afmelde dig med ét klik i hver mail.",
                    "Kvitterings-id for dit samtykke",
                ),
                Lang::En => (
                    "Thank you – your sign-up is confirmed",
                    "You now receive our newsletters. You can unsubscribe in one click in every mail.",
                    "Receipt id of your consent",
                ),
            };
            message(c, StatusCode::OK, title, vec![text.into(), format!("{receipt}: {}", consent.id)])
        }
        Err(CoreError::LinkExpired) => {
            let (title, text) = match lang {
                Lang::Da => (
                    "Linket er udløbet",
                    "Linket kunne kun bruges i 7 dage, og din tilmelding er ikke bekræftet. Tilmeld dig igen, hvis du stadig vil have nyhedsmails.",
                ),
                Lang::En => (
                    "The link has expired",
                    "The link could be used for 7 days only, and your sign-up is not confirmed. Sign up again if you still want newsletters.",
                ),
            };
            message(c, StatusCode::GONE, title, vec![text.into()])
        }
        Err(CoreError::InvalidLink) => invalid_link(c, lang),
        Err(e) => failure(c, lang, e),
    }
}

fn invalid_link(c: Chrome<'_>, lang: Lang) -> Response {
    let (title, text) = match lang {
        Lang::Da => ("Linket virker ikke", "Linket er ikke gyldigt. Tjek at du har kopieret hele linket fra mailen."),
        Lang::En => {
            ("The link does not work", "The link is not valid. Check that you copied the whole link from the mail.")
        }
    };
    message(c, StatusCode::NOT_FOUND, title, vec![text.into()])
}

async fn unsubscribe_page_da<B: Backend, C: Clock>(state: State<Arc<AppState<B, C>>>, token: Path<String>) -> Response {
    unsubscribe_page(state, token, Lang::Da).await
}

async fn unsubscribe_page_en<B: Backend, C: Clock>(state: State<Arc<AppState<B, C>>>, token: Path<String>) -> Response {
    unsubscribe_page(state, token, Lang::En).await
}

/// A GET only asks: mail scanners follow links, and following one must not unsubscribe anybody.
async fn unsubscribe_page<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Path(token): Path<String>,
    lang: Lang,
) -> Response {
    let c = Chrome::new(&state.pactum.policy, lang, page_path(other(lang)));
    match state.pactum.unsubscribe_link_known(&token).await {
        Ok(true) => {}
        Ok(false) => return invalid_link(c, lang),
        Err(e) => return failure(c, lang, e),
    }
    let (title, text, button) = match lang {
        Lang::Da => {
            ("Afmeld nyhedsmails", "Vil du afmelde dig vores nyhedsmails? Det træder i kraft med det samme.", "Afmeld")
        }
        Lang::En => (
            "Unsubscribe from newsletters",
            "Do you want to unsubscribe from our newsletters? It takes effect at once.",
            "Unsubscribe",
        ),
    };
    let path = match lang {
        Lang::Da => format!("/nyhedsbrev/afmeld/{token}"),
        Lang::En => format!("/en/newsletter/unsubscribe/{token}"),
    };
    let page = MessagePage {
        c,
        title: title.into(),
        paragraphs: vec![text.into()],
        list: Vec::new(),
        action: Some((path, button.into())),
        link: None,
    };
    message_with(page, StatusCode::OK)
}

async fn unsubscribe_da<B: Backend, C: Clock>(state: State<Arc<AppState<B, C>>>, token: Path<String>) -> Response {
    unsubscribe(state, token, Lang::Da).await
}

async fn unsubscribe_en<B: Backend, C: Clock>(state: State<Arc<AppState<B, C>>>, token: Path<String>) -> Response {
    unsubscribe(state, token, Lang::En).await
}

/// The one-click target (RFC 8058): works without cookie, login or form token, answers without a redirect.
async fn unsubscribe<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    Path(token): Path<String>,
    lang: Lang,
) -> Response {
    let policy = &state.pactum.policy;
    let c = Chrome::new(policy, lang, page_path(other(lang)));
    match state.pactum.unsubscribe(&token, "one-click").await {
        Ok(withdrawal) => {
            let page = unsubscribed_page(c, policy, lang, &withdrawal);
            message_with(page, StatusCode::OK)
        }
        Err(CoreError::InvalidLink) => invalid_link(c, lang),
        Err(e) => failure(c, lang, e),
    }
}

fn unsubscribed_page<'a>(c: Chrome<'a>, policy: &pactum_policy::Policy, lang: Lang, w: &Withdrawal) -> MessagePage<'a> {
    let date = |d: Option<time::Date>| d.map(|d| crate::notice::format_date(d, lang)).unwrap_or_default();
    let (title, done, deleted, kept_intro) = match lang {
        Lang::Da => (
            "Du er afmeldt",
            "Du får ikke flere nyhedsmails fra os. Det gælder fra nu af.".to_string(),
            format!(
                "Dine oplysninger til nyhedsmails slettes senest {}.",
                date(w.retain_until.map(|d| d + time::Duration::days(1)))
            ),
            "Vi beholder disse oplysninger på et andet grundlag:",
        ),
        Lang::En => (
            "You are unsubscribed",
            "You will receive no more newsletters from us, from now on.".to_string(),
            format!(
                "Your newsletter data is deleted by {}.",
                date(w.retain_until.map(|d| d + time::Duration::days(1)))
            ),
            "We keep the following on another basis:",
        ),
    };
    let list: Vec<String> = w
        .kept
        .iter()
        .map(|k| {
            let purpose = policy.purpose(&k.purpose);
            let label = purpose.map(|p| p.label.get(lang).to_string()).unwrap_or_else(|| k.purpose.clone());
            let basis = purpose.map(|p| p.basis.label(lang).to_string()).unwrap_or_else(|| k.basis.clone());
            match k.retain_until {
                Some(d) => format!(
                    "{label} – {basis}, {} {}",
                    if lang == Lang::Da { "indtil" } else { "until" },
                    crate::notice::format_date(d, lang)
                ),
                None => format!("{label} – {basis}"),
            }
        })
        .collect();
    let mut paragraphs = vec![done];
    if w.retain_until.is_some() {
        paragraphs.push(deleted);
    }
    if !list.is_empty() {
        paragraphs.push(kept_intro.into());
    }
    MessagePage { c, title: title.into(), paragraphs, list, action: None, link: None }
}
