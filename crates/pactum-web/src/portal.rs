//! "My data" (P30, P33, P21, L1): ask for a link by e-mail address, open it, see everything Pactum
//! holds about you with the purposes, legal bases and deletion dates behind it, take a copy as JSON,
//! withdraw a consent, or erase it all. The portal carries its short-lived token in its address and
//! sets no cookie. Danish under `/mine-data`, English under `/en/my-data`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use pactum_core::{Clock, CoreError};
use pactum_policy::Lang;
use pactum_store::{Backend, ConsentState, SubjectId, Uuid};

use crate::AppState;
use crate::forms::{Submitted, form_token, form_token_valid, repeat_key, same_origin};
use crate::notice::{Chrome, format_date};
use crate::pages::html;
use crate::responses::{MessagePage, message, message_with};
use crate::signup::lang_of;
use crate::transport::ClientIp;

pub fn routes<B: Backend, C: Clock>() -> Router<Arc<AppState<B, C>>> {
    Router::new()
        .route("/mine-data", get(request_page::<B, C>).post(request::<B, C>))
        .route("/en/my-data", get(request_page::<B, C>).post(request::<B, C>))
        .route("/mine-data/adgang/{token}", get(open_page::<B, C>).post(open::<B, C>))
        .route("/en/my-data/access/{token}", get(open_page::<B, C>).post(open::<B, C>))
        .route("/mine-data/s/{portal}", get(portal::<B, C>))
        .route("/en/my-data/s/{portal}", get(portal::<B, C>))
        .route("/mine-data/s/{portal}/data.json", get(copy::<B, C>))
        .route("/en/my-data/s/{portal}/data.json", get(copy::<B, C>))
        .route("/mine-data/s/{portal}/rapport", get(report::<B, C>))
        .route("/en/my-data/s/{portal}/report", get(report::<B, C>))
        .route("/mine-data/s/{portal}/portabilitet.json", get(portable_json::<B, C>))
        .route("/en/my-data/s/{portal}/portability.json", get(portable_json::<B, C>))
        .route("/mine-data/s/{portal}/portabilitet.csv", get(portable_csv::<B, C>))
        .route("/en/my-data/s/{portal}/portability.csv", get(portable_csv::<B, C>))
        .route("/mine-data/s/{portal}/samtykker/{consent}/tilbagekald", post(withdraw::<B, C>))
        .route("/en/my-data/s/{portal}/consents/{consent}/withdraw", post(withdraw::<B, C>))
        .route("/mine-data/s/{portal}/certificering/{enrolment}/indsigelse", post(object::<B, C>))
        .route("/en/my-data/s/{portal}/certification/{enrolment}/object", post(object::<B, C>))
        .route("/mine-data/s/{portal}/markedsfoering/indsigelse", post(object_to_marketing::<B, C>))
        .route("/en/my-data/s/{portal}/marketing/object", post(object_to_marketing::<B, C>))
        .route("/mine-data/s/{portal}/anmodning", post(send_request::<B, C>))
        .route("/en/my-data/s/{portal}/request", post(send_request::<B, C>))
        .route("/mine-data/s/{portal}/ret", post(correct::<B, C>))
        .route("/en/my-data/s/{portal}/correct", post(correct::<B, C>))
        .route("/mine-data/ny-email/{token}", get(email_change_page::<B, C>).post(confirm_email_change::<B, C>))
        .route("/en/my-data/new-email/{token}", get(email_change_page::<B, C>).post(confirm_email_change::<B, C>))
        .route("/mine-data/s/{portal}/slet", post(erase::<B, C>))
        .route("/en/my-data/s/{portal}/erase", post(erase::<B, C>))
}

fn base(lang: Lang) -> &'static str {
    if lang == Lang::Da { "/mine-data" } else { "/en/my-data" }
}

fn portal_path(lang: Lang, portal: &str) -> String {
    format!("{}/s/{portal}", base(lang))
}

fn other(lang: Lang) -> Lang {
    if lang == Lang::Da { Lang::En } else { Lang::Da }
}

pub struct PortalWords {
    title: &'static str,
    intro: &'static str,
    email: &'static str,
    send_link: &'static str,
    other_channels: &'static str,
    sent_title: &'static str,
    sent: &'static str,
    open_intro: &'static str,
    open: &'static str,
    your_data: &'static str,
    visit_note: &'static str,
    items_heading: &'static str,
    nothing: &'static str,
    col_category: &'static str,
    col_value: &'static str,
    col_source: &'static str,
    col_held: &'static str,
    until: &'static str,
    no_end: &'static str,
    consents_heading: &'static str,
    no_consents: &'static str,
    receipt: &'static str,
    withdraw: &'static str,
    copy_heading: &'static str,
    copy_link: &'static str,
    erase_heading: &'static str,
    erase_intro: &'static str,
    erase_confirm: &'static str,
    erase: &'static str,
    complaint: &'static str,
    expired: &'static str,
    invalid: &'static str,
    stale: &'static str,
    too_many: &'static str,
    erased_title: &'static str,
    restricted_intro: &'static str,
    withdrawn: &'static str,
    kept: &'static str,
    confirm_missing: &'static str,
    col_recipients: &'static str,
    disclosures_heading: &'static str,
    no_disclosures: &'static str,
    statute: &'static str,
    participations_heading: &'static str,
    passed: &'static str,
    not_passed: &'static str,
    course_ended: &'static str,
    from_partner: &'static str,
    messages_heading: &'static str,
    objection_heading: &'static str,
    objection_confirm: &'static str,
    object: &'static str,
    objected: &'static str,
    objection_unconfirmed: &'static str,
    requests_heading: &'static str,
    no_requests: &'static str,
    received: &'static str,
    answer_by: &'static str,
    answered: &'static str,
    restricted_note: &'static str,
    marketing_heading: &'static str,
    marketing_intro: &'static str,
    marketing_object: &'static str,
    marketing_objected: &'static str,
    marketing_nothing: &'static str,
    request_heading: &'static str,
    request_intro: &'static str,
    request_kind: &'static str,
    request_details: &'static str,
    request_restrict: &'static str,
    request_send: &'static str,
    request_sent: &'static str,
    request_form_used: &'static str,
    kind_objection: &'static str,
    kind_rectification: &'static str,
    kind_restriction: &'static str,
    kind_other: &'static str,
    redactions_heading: &'static str,
    no_redactions: &'static str,
    report_link: &'static str,
    report_title: &'static str,
    report_made: &'static str,
    portability_heading: &'static str,
    portability_intro: &'static str,
    portability_json: &'static str,
    portability_csv: &'static str,
    correct_heading: &'static str,
    correct_intro: &'static str,
    correct_save: &'static str,
    corrected: &'static str,
    nothing_changed: &'static str,
    email_pending: &'static str,
    email_confirm_title: &'static str,
    email_confirm_intro: &'static str,
    email_confirm: &'static str,
    email_confirmed: &'static str,
    email_taken: &'static str,
}

const DA: PortalWords = PortalWords {
    title: "Se dine data",
    intro: "Skriv den e-mailadresse, du har brugt hos os. Kender vi den, sender vi et link, der giver adgang til alt, vi har om dig. Linket virker én gang og i 30 minutter.",
    email: "E-mailadresse",
    send_link: "Send mig et link",
    other_channels: "Du kan også skrive til os:",
    sent_title: "Tjek din mail",
    sent: "Hvis vi har oplysninger om denne adresse, har vi nu sendt et link til den. Det virker én gang og i 30 minutter.",
    open_intro: "Klik for at åbne dine data. Linket kan kun bruges én gang.",
    open: "Åbn mine data",
    your_data: "Dine data",
    visit_note: "Siden virker i 30 minutter. Luk den, når du er færdig.",
    items_heading: "Oplysninger",
    nothing: "Vi har ingen oplysninger om dig.",
    col_category: "Oplysning",
    col_value: "Værdi",
    col_source: "Kilde og dato",
    col_held: "Formål, retsgrundlag og sletning",
    until: "slettes efter",
    no_end: "slettedato fastsættes, når",
    consents_heading: "Samtykker",
    no_consents: "Du har ikke givet os samtykke til noget.",
    receipt: "kvittering",
    withdraw: "Træk samtykket tilbage",
    copy_heading: "Få en kopi",
    copy_link: "Hent alle dine oplysninger som JSON",
    erase_heading: "Slet dine data",
    erase_intro: "Vi sletter alt, vi har om dig, med det samme. Din nøgle destrueres, så intet kan læses igen, heller ikke fra sikkerhedskopier. Kun hvad loven kræver, at vi gemmer, som fakturaer efter bogføringsloven, beholder vi, spærret for al anden brug, til den dato vi viser dig.",
    erase_confirm: "Ja, slet alle mine data",
    erase: "Slet mine data",
    complaint: "Er du utilfreds med, hvordan vi behandler dine data, kan du klage til Datatilsynet, www.datatilsynet.dk.",
    expired: "Linket er udløbet. Bed om et nyt.",
    invalid: "Linket virker ikke. Det er måske allerede brugt. Bed om et nyt.",
    stale: "Siden var for gammel. Prøv igen.",
    too_many: "For mange forsøg. Vent lidt og prøv igen.",
    erased_title: "Dine data er slettet",
    restricted_intro: "Loven kræver, at vi gemmer følgende. Vi bruger det ikke til andet, og det slettes automatisk på datoen:",
    withdrawn: "Dit samtykke er trukket tilbage med virkning fra nu.",
    kept: "Dette beholder vi på et andet grundlag:",
    confirm_missing: "Sæt kryds for at bekræfte, at alt skal slettes.",
    col_recipients: "Givet videre til",
    disclosures_heading: "Hvem har fået dine oplysninger",
    no_disclosures: "Vi har ikke givet dine oplysninger videre til nogen.",
    statute: "lovhjemmel",
    participations_heading: "Kursusdeltagelse og certificering",
    passed: "bestået",
    not_passed: "ikke bestået",
    course_ended: "kurset sluttede",
    from_partner: "oplyst af vores certificeringspartner",
    messages_heading: "Certificeringspartnerens beskeder til eksamensvagten",
    objection_heading: "Indsigelse mod videregivelse til certificeringspartneren",
    objection_confirm: "Ja, jeg gør indsigelse og ved, at jeg så ikke kan tage certificeringen",
    object: "Gør indsigelse og annullér certificeringen",
    objection_unconfirmed: "Sæt kryds for at bekræfte, at du gør indsigelse og så ikke kan tage certificeringen. Intet er ændret.",
    objected: "Din indsigelse er registreret, og certificeringen er annulleret. Vi giver ikke flere oplysninger til certificeringspartneren og har bedt partneren om ikke at bruge dem, partneren har fået. Din tilmelding til kurset gælder stadig.",
    requests_heading: "Dine anmodninger",
    no_requests: "Du har ikke sendt os nogen anmodninger.",
    received: "modtaget",
    answer_by: "svar senest",
    answered: "besvaret",
    restricted_note: "Dine oplysninger er begrænset, mens vi behandler din anmodning: vi opbevarer dem, men giver dem ikke videre og sender dig ingen markedsføring.",
    marketing_heading: "Frabed dig markedsføring",
    marketing_intro: "Du kan altid gøre indsigelse mod markedsføring. Det virker med det samme og uden betingelser: vi trækker alle dine samtykker til nyhedsmails og deling med sponsorer og markedsføringspartnere tilbage og sender dig ingen flere nyhedsmails.",
    marketing_object: "Stop al markedsføring",
    marketing_objected: "Din indsigelse mod markedsføring er registreret med virkning fra nu. Vi sender dig ingen markedsføring.",
    marketing_nothing: "Din indsigelse mod markedsføring er registreret. Du havde ikke givet samtykke til markedsføring, så intet andet er ændret.",
    request_heading: "Send os en anden anmodning",
    request_intro: "Er noget forkert, som du ikke selv kan rette, eller gør du indsigelse mod en behandling, vi foretager på grundlag af en legitim interesse, så skriv det her. Vi svarer senest én måned efter. Ved en indsigelse begrænser vi behandlingen, indtil vi har svaret.",
    request_kind: "Hvad drejer det sig om",
    request_details: "Beskriv din anmodning",
    request_restrict: "Begræns brugen af mine oplysninger, indtil I har svaret",
    request_send: "Send anmodningen",
    request_sent: "Vi har modtaget din anmodning og har sendt dig en kvittering på mail med fristen for vores svar.",
    request_form_used: "Denne side er allerede brugt til en anmodning, som vi har modtaget. Skriv din nye anmodning herunder, og send den igen for at lave en ny.",
    kind_objection: "Indsigelse mod en behandling",
    kind_rectification: "Noget er forkert (berigtigelse)",
    kind_restriction: "Begrænsning af behandlingen",
    kind_other: "Andet",
    redactions_heading: "Hvad vi ikke viser",
    no_redactions: "Vi har ikke tilbageholdt noget.",
    report_link: "Se en udskriftsvenlig indsigtsrapport",
    report_title: "Indsigtsrapport",
    report_made: "Rapporten er lavet",
    portability_heading: "Tag dine data med (dataportabilitet)",
    portability_intro: "De oplysninger, du selv har givet os efter aftale eller samtykke, i et maskinlæsbart format, som du kan give videre til en anden.",
    portability_json: "Hent som JSON",
    portability_csv: "Hent som CSV (regneark)",
    correct_heading: "Ret dine oplysninger",
    correct_intro: "Ret det, der er forkert. Ændringen gælder med det samme, og alle, der har fået oplysningen fra os, får besked. Ændrer du din e-mailadresse, sender vi et link til den nye adresse; først når du har fulgt det, bruger vi den.",
    correct_save: "Gem rettelserne",
    corrected: "Dine rettelser er gemt:",
    nothing_changed: "Du ændrede ikke noget.",
    email_pending: "Vi har sendt et link til din nye e-mailadresse. Indtil du har fulgt det, bruger vi den gamle.",
    email_confirm_title: "Bekræft din nye e-mailadresse",
    email_confirm_intro: "Klik for at bruge denne adresse fremover.",
    email_confirm: "Brug den nye adresse",
    email_confirmed: "Din nye e-mailadresse er bekræftet, og vi bruger den fra nu af. Vi har skrevet til din gamle adresse om ændringen.",
    email_taken: "Adressen bruges allerede af en anden hos os, så vi har ikke ændret noget. Skriv til os, hvis det er din.",
};

const EN: PortalWords = PortalWords {
    title: "See your data",
    intro: "Enter the e-mail address you used with us. If we know it, we send a link that shows everything we hold about you. The link works once, for 30 minutes.",
    email: "E-mail address",
    send_link: "Send me a link",
    other_channels: "You can also write to us:",
    sent_title: "Check your mail",
    sent: "If we hold data about this address, we have now sent a link to it. It works once, for 30 minutes.",
    open_intro: "Click to open your data. The link can be used only once.",
    open: "Open my data",
    your_data: "Your data",
    visit_note: "This page works for 30 minutes. Close it when you are done.",
    items_heading: "Data",
    nothing: "We hold no data about you.",
    col_category: "Item",
    col_value: "Value",
    col_source: "Source and date",
    col_held: "Purpose, legal basis and deletion",
    until: "deleted after",
    no_end: "deletion date set when",
    consents_heading: "Consents",
    no_consents: "You have not given us consent to anything.",
    receipt: "receipt",
    withdraw: "Withdraw this consent",
    copy_heading: "Get a copy",
    copy_link: "Download all your data as JSON",
    erase_heading: "Erase your data",
    erase_intro: "We erase everything we hold about you at once. Your key is destroyed, so nothing can be read again, not even from backups. Only what the law requires us to keep, such as invoices under the Bookkeeping Act, we keep, restricted from any other use, until the date we show you.",
    erase_confirm: "Yes, erase all my data",
    erase: "Erase my data",
    complaint: "If you are unhappy with how we process your data, you can complain to the Danish Data Protection Agency, www.datatilsynet.dk.",
    expired: "The link has expired. Ask for a new one.",
    invalid: "The link does not work. It may have been used already. Ask for a new one.",
    stale: "The page was too old. Please try again.",
    too_many: "Too many attempts. Wait a little and try again.",
    erased_title: "Your data has been erased",
    restricted_intro: "The law requires us to keep the following. We use it for nothing else, and it is deleted automatically on the date shown:",
    withdrawn: "Your consent is withdrawn with effect from now.",
    kept: "We keep this on another basis:",
    confirm_missing: "Tick the box to confirm that everything is to be erased.",
    col_recipients: "Passed on to",
    disclosures_heading: "Who has received your data",
    no_disclosures: "We have not passed your data on to anyone.",
    statute: "legal basis in law",
    participations_heading: "Course participation and certification",
    passed: "passed",
    not_passed: "not passed",
    course_ended: "the course ended",
    from_partner: "reported by our certification partner",
    messages_heading: "The certification partner's messages to the exam proctor",
    objection_heading: "Object to the disclosure to the certification partner",
    objection_confirm: "Yes, I object and understand that I then cannot take the certification",
    object: "Object and cancel the certification",
    objection_unconfirmed: "Tick the box to confirm that you object and then cannot take the certification. Nothing has changed.",
    objected: "Your objection is recorded and the certification is cancelled. We give the certification partner no more of your data and have asked the partner not to use what it has received. Your course enrolment still stands.",
    requests_heading: "Your requests",
    no_requests: "You have not sent us any requests.",
    received: "received",
    answer_by: "answer by",
    answered: "answered",
    restricted_note: "Your data is restricted while we handle your request: we store it, but pass it on to no one and send you no marketing.",
    marketing_heading: "Opt out of marketing",
    marketing_intro: "You can always object to marketing. It takes effect at once and unconditionally: we withdraw all your consents to newsletters and to sharing with sponsors and marketing partners, and send you no more newsletters.",
    marketing_object: "Stop all marketing",
    marketing_objected: "Your objection to marketing is recorded with effect from now. We send you no marketing.",
    marketing_nothing: "Your objection to marketing is recorded. You had not consented to any marketing, so nothing else has changed.",
    request_heading: "Send us another request",
    request_intro: "If something is wrong that you cannot correct yourself, or you object to processing we do on the basis of a legitimate interest, write it here. We answer within one month. For an objection, we restrict the processing until we have answered.",
    request_kind: "What is it about",
    request_details: "Describe your request",
    request_restrict: "Restrict the use of my data until you have answered",
    request_send: "Send the request",
    request_sent: "We have received your request and mailed you a receipt with the date we will answer by.",
    request_form_used: "This page was already used for a request, which we have received. Write your new request below and send it again to make a new one.",
    kind_objection: "Objection to a processing",
    kind_rectification: "Something is wrong (rectification)",
    kind_restriction: "Restriction of processing",
    kind_other: "Other",
    redactions_heading: "What we do not show",
    no_redactions: "We have withheld nothing.",
    report_link: "See a printable access report",
    report_title: "Access report",
    report_made: "Report made",
    portability_heading: "Take your data with you (portability)",
    portability_intro: "The data you gave us yourself, under a contract or your consent, in a machine-readable format you can pass on to someone else.",
    portability_json: "Download as JSON",
    portability_csv: "Download as CSV (spreadsheet)",
    correct_heading: "Correct your data",
    correct_intro: "Correct what is wrong. The change applies at once, and everyone who received the data from us is told. If you change your e-mail address, we send a link to the new address; only once you have followed it do we use it.",
    correct_save: "Save the corrections",
    corrected: "Your corrections are saved:",
    nothing_changed: "You did not change anything.",
    email_pending: "We have sent a link to your new e-mail address. Until you follow it, we use the old one.",
    email_confirm_title: "Confirm your new e-mail address",
    email_confirm_intro: "Click to use this address from now on.",
    email_confirm: "Use the new address",
    email_confirmed: "Your new e-mail address is confirmed, and we use it from now on. We have written to your old address about the change.",
    email_taken: "The address is already used by someone else with us, so nothing has changed. Write to us if it is yours.",
};

fn words(lang: Lang) -> &'static PortalWords {
    if lang == Lang::Da { &DA } else { &EN }
}

fn chrome<'a, B: Backend, C: Clock>(state: &'a AppState<B, C>, lang: Lang, other_path: String) -> Chrome<'a> {
    Chrome::new(&state.pactum.policy, lang, other_path)
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The answer for a link that is unknown, used or expired, and for failures.
fn link_failure<B: Backend, C: Clock>(state: &AppState<B, C>, lang: Lang, e: CoreError) -> Response {
    let w = words(lang);
    let c = chrome(state, lang, base(other(lang)).to_string());
    let (status, text) = match e {
        CoreError::LinkExpired => (StatusCode::GONE, w.expired),
        CoreError::InvalidLink | CoreError::SubjectGone => (StatusCode::NOT_FOUND, w.invalid),
        other => return crate::responses::failure(c, lang, other),
    };
    let page = MessagePage {
        c,
        title: w.title.into(),
        paragraphs: vec![text.into()],
        list: Vec::new(),
        action: None,
        link: Some((base(lang).into(), w.title.into())),
    };
    no_store(message_with(page, status))
}

#[derive(Template)]
#[template(path = "portal_request.html")]
struct RequestPage<'a> {
    c: Chrome<'a>,
    w: &'static PortalWords,
    action: &'static str,
    form_token: String,
    email: String,
    error: Option<String>,
}

fn request_form<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    email: String,
    error: Option<String>,
) -> Response {
    let page = RequestPage {
        c: chrome(state, lang, base(other(lang)).to_string()),
        w: words(lang),
        action: base(lang),
        form_token: form_token(&state.pactum.keys.blind_index, state.pactum.clock.now().unix_timestamp()),
        email,
        error,
    };
    no_store(html(page.render()))
}

async fn request_page<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>, uri: Uri) -> Response {
    request_form(&state, lang_of(&uri), String::new(), None)
}

async fn request<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    ClientIp(client): ClientIp,
    uri: Uri,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let submitted = Submitted(fields);
    let email: String = submitted.get("email").unwrap_or("").chars().take(254).collect();
    let now = state.pactum.clock.now().unix_timestamp();
    if !same_origin(&headers)
        || !form_token_valid(&state.pactum.keys.blind_index, submitted.get("form_token").unwrap_or(""), now)
    {
        return with_status(request_form(&state, lang, email, Some(w.stale.into())), StatusCode::FORBIDDEN);
    }
    if let Some(field) = submitted.unexpected(&["form_token", "email"]) {
        let c = chrome(&state, lang, base(other(lang)).to_string());
        return crate::responses::undeclared_field(c, lang, &field);
    }
    let per_address = state.access_per_email.allow(state.pactum.keys.blind_index.email(&email));
    if !state.access_limiter.allow(client) || !per_address {
        return with_status(request_form(&state, lang, email, Some(w.too_many.into())), StatusCode::TOO_MANY_REQUESTS);
    }
    match state.pactum.request_access(&email, lang).await {
        Ok(()) => {
            let c = chrome(&state, lang, base(other(lang)).to_string());
            no_store(message(c, StatusCode::OK, w.sent_title, vec![w.sent.into()]))
        }
        Err(CoreError::Invalid(problems)) => {
            let error = problems.first().map(|p| p.message(lang));
            with_status(request_form(&state, lang, email, error), StatusCode::BAD_REQUEST)
        }
        Err(e) => link_failure(&state, lang, e),
    }
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

#[derive(Template)]
#[template(path = "portal_open.html")]
struct OpenPage<'a> {
    c: Chrome<'a>,
    title: &'static str,
    intro: &'static str,
    button: &'static str,
    action: String,
}

/// The mailed link only shows a button: mail scanners that fetch links must not use it up.
async fn open_page<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>, uri: Uri) -> Response {
    let w = words(lang_of(&uri));
    button_page(&state, &uri, w.title, w.open_intro, w.open)
}

/// A page whose only content is a button that posts to the page's own address: what a mailed
/// link shows, so that mail scanners that fetch links do not use it up.
fn button_page<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    uri: &Uri,
    title: &'static str,
    intro: &'static str,
    button: &'static str,
) -> Response {
    let lang = lang_of(uri);
    let c = chrome(state, lang, base(other(lang)).to_string());
    let page = OpenPage { c, title, intro, button, action: uri.path().to_string() };
    no_store(html(page.render()))
}

async fn open<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    if !same_origin(&headers) {
        return link_failure(&state, lang, CoreError::InvalidLink);
    }
    match state.pactum.open_access(&token).await {
        Ok(portal) => Redirect::to(&portal_path(lang, &portal)).into_response(),
        Err(e) => link_failure(&state, lang, e),
    }
}

struct ItemRow {
    category_label: String,
    value: String,
    source: String,
    collected: String,
    held_by: Vec<String>,
    received_by: Vec<String>,
}

struct ConsentRow {
    id: String,
    purpose: String,
    state: &'static str,
    withdrawable: bool,
    withdraw_action: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    c: Chrome<'a>,
    w: &'static PortalWords,
    notice: Option<String>,
    items: Vec<ItemRow>,
    disclosures: Vec<String>,
    participations: Vec<String>,
    messages: Vec<String>,
    /// Certifications the person can object to: (form action, course and date).
    objectable: Vec<(String, String)>,
    /// What follows from an objection, as the policy states it (P13, P14).
    objection_consequence: String,
    consents: Vec<ConsentRow>,
    automated_decisions: &'static str,
    requests: Vec<String>,
    redactions: Vec<(String, String)>,
    /// The printable access report: the same content, no forms.
    printable: bool,
    made: String,
    report_href: String,
    portability_json_href: String,
    portability_csv_href: String,
    restricted: bool,
    /// The values the person may correct: (field name, label, current value, input type).
    editable: Vec<(String, String, String, &'static str)>,
    correct_action: String,
    marketing_action: String,
    request_action: String,
    request_kinds: Vec<(&'static str, &'static str)>,
    form_token: String,
    json_href: String,
    erase_action: String,
}

fn micros_date(micros: i64, lang: Lang) -> String {
    time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000)
        .map(|t| format_date(t.date(), lang))
        .unwrap_or_default()
}

async fn portal_page<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    portal: &str,
    subject: SubjectId,
    notice: Option<String>,
) -> Response {
    portal_view(state, lang, portal, subject, notice, false).await
}

/// The portal page, or with `printable` the access report: the same content without its forms.
async fn portal_view<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    portal: &str,
    subject: SubjectId,
    notice: Option<String>,
    printable: bool,
) -> Response {
    let w = words(lang);
    let c = chrome(state, lang, portal_path(other(lang), portal));
    let pactum = &state.pactum;
    let report = match pactum.subject_report(subject, lang).await {
        Ok(r) => r,
        Err(e) => return link_failure(state, lang, e),
    };
    let recipient = |name: &str, country: &str, safeguard: &Option<String>| match safeguard {
        Some(safeguard) => format!("{name} ({country}, {safeguard})"),
        None => format!("{name} ({country})"),
    };
    let disclosures = report
        .disclosures
        .iter()
        .map(|d| {
            let mut line = format!(
                "{}: {} – {} – {} ({})",
                micros_date(d.at, lang),
                recipient(&d.recipient_name, &d.country, &d.safeguard),
                d.category_labels.join(", "),
                d.purpose_label,
                d.basis_label
            );
            if let Some(statute) = &d.statute {
                line.push_str(&format!(", {}: {statute}", w.statute));
            }
            line
        })
        .collect();
    let participations = report
        .participations
        .iter()
        .map(|p| {
            let until = p.retain_until.map(|d| format!("; {} {}", w.until, format_date(d, lang))).unwrap_or_default();
            format!(
                "{}, {} {}: {} ({}{until})",
                p.course,
                w.course_ended,
                format_date(p.course_ends_on, lang),
                if p.passed { w.passed } else { w.not_passed },
                w.from_partner
            )
        })
        .collect();
    let messages = report
        .certification_messages
        .iter()
        .map(|m| {
            let until = m.retain_until.map(|d| format!("; {} {}", w.until, format_date(d, lang))).unwrap_or_default();
            format!("{}: «{}» ({}{until})", micros_date(m.received_at, lang), m.subject_line, w.from_partner)
        })
        .collect();
    let requests = report
        .requests
        .iter()
        .map(|r| {
            let due = format_date(r.extended_to.unwrap_or(r.due_on), lang);
            let mut line = format!(
                "{}: {} {}, {} {} – {}",
                r.kind_label,
                w.received,
                format_date(r.received_on, lang),
                w.answer_by,
                due,
                r.standing.label(lang)
            );
            if let Some(reason) = &r.extension_reason {
                line.push_str(&format!(" ({reason})"));
            }
            if let (Some(on), Some(reason)) = (r.decided_on, &r.decision_reason) {
                line.push_str(&format!("; {} {}: {reason}", w.answered, format_date(on, lang)));
            }
            line
        })
        .collect();
    let restricted = report.restricted;
    let redactions = report.redactions.iter().map(|r| (r.what.clone(), r.reason.clone())).collect();
    let mut editable: Vec<(String, String, String, &'static str)> = Vec::new();
    let mut newest: Vec<&pactum_core::personal::ItemReport> = report.items.iter().collect();
    newest.sort_by_key(|i| std::cmp::Reverse(i.collected_at));
    for item in newest {
        let kind = if item.category == "email" { "email" } else { "text" };
        let may = item.category == "email" || pactum.self_editable(&item.category);
        if may && !editable.iter().any(|(c, _, _, _)| *c == item.category) {
            editable.push((item.category.clone(), item.category_label.clone(), item.value.clone(), kind));
        }
    }
    let items = report
        .items
        .into_iter()
        .map(|i| ItemRow {
            category_label: i.category_label,
            value: i.value,
            source: i.source,
            collected: micros_date(i.collected_at, lang),
            held_by: i
                .held_by
                .iter()
                .filter(|h| h.live)
                .map(|h| match h.retain_until {
                    Some(until) => {
                        format!("{} ({}): {} {}", h.purpose_label, h.basis_label, w.until, format_date(until, lang))
                    }
                    None => format!("{} ({}): {} {}", h.purpose_label, h.basis_label, w.no_end, h.rule),
                })
                .collect(),
            received_by: i
                .received_by
                .iter()
                .map(|r| {
                    format!("{}, {}", recipient(&r.recipient_name, &r.country, &r.safeguard), micros_date(r.at, lang))
                })
                .collect(),
        })
        .collect();
    let objectable = match pactum.objectable_certifications(subject, lang).await {
        Ok(list) => list
            .into_iter()
            .map(|(enrolment, course, ends)| {
                let action = match lang {
                    Lang::Da => format!("{}/certificering/{enrolment}/indsigelse", portal_path(lang, portal)),
                    Lang::En => format!("{}/certification/{enrolment}/object", portal_path(lang, portal)),
                };
                (action, format!("{course}, {}", format_date(ends, lang)))
            })
            .collect(),
        Err(e) => return link_failure(state, lang, e),
    };
    let objection_consequence = pactum
        .policy
        .purpose(pactum_core::enrolment::CERTIFICATION_PURPOSE)
        .and_then(|p| p.requirement.as_ref())
        .map(|t| t.get(lang).to_string())
        .unwrap_or_default();
    let withdraw_base = match lang {
        Lang::Da => format!("{}/samtykker", portal_path(lang, portal)),
        Lang::En => format!("{}/consents", portal_path(lang, portal)),
    };
    let verb = if lang == Lang::Da { "tilbagekald" } else { "withdraw" };
    let consents = report
        .consents
        .iter()
        .map(|k| ConsentRow {
            id: k.id.to_string(),
            purpose: k.purpose_label.clone(),
            state: k.state_label,
            withdrawable: k.state != ConsentState::Withdrawn.key(),
            withdraw_action: format!("{withdraw_base}/{}/{verb}", k.id),
        })
        .collect();
    let page = PortalPage {
        c,
        w,
        notice,
        items,
        disclosures,
        participations,
        messages,
        objectable,
        objection_consequence,
        consents,
        automated_decisions: report.automated_decisions,
        requests,
        redactions,
        printable,
        made: crate::admin::staff_time(pactum.clock.now_micros()),
        report_href: format!("{}/{}", portal_path(lang, portal), if lang == Lang::Da { "rapport" } else { "report" }),
        portability_json_href: format!(
            "{}/{}",
            portal_path(lang, portal),
            if lang == Lang::Da { "portabilitet.json" } else { "portability.json" }
        ),
        portability_csv_href: format!(
            "{}/{}",
            portal_path(lang, portal),
            if lang == Lang::Da { "portabilitet.csv" } else { "portability.csv" }
        ),
        restricted,
        editable,
        correct_action: format!("{}/{}", portal_path(lang, portal), if lang == Lang::Da { "ret" } else { "correct" }),
        marketing_action: match lang {
            Lang::Da => format!("{}/markedsfoering/indsigelse", portal_path(lang, portal)),
            Lang::En => format!("{}/marketing/object", portal_path(lang, portal)),
        },
        request_action: format!(
            "{}/{}",
            portal_path(lang, portal),
            if lang == Lang::Da { "anmodning" } else { "request" }
        ),
        request_kinds: vec![
            ("objection", w.kind_objection),
            ("rectification", w.kind_rectification),
            ("restriction", w.kind_restriction),
            ("other", w.kind_other),
        ],
        form_token: form_token(&pactum.keys.blind_index, pactum.clock.now().unix_timestamp()),
        json_href: format!("{}/data.json", portal_path(lang, portal)),
        erase_action: format!("{}/{}", portal_path(lang, portal), if lang == Lang::Da { "slet" } else { "erase" }),
    };
    no_store(html(page.render()))
}

async fn portal<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    Path(portal): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    match state.pactum.portal_subject(&portal).await {
        Ok(subject) => portal_page(&state, lang, &portal, subject, None).await,
        Err(e) => link_failure(&state, lang, e),
    }
}

/// Everything held about the person, as JSON (P30, L5).
async fn copy<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    Path(portal): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    let subject = match state.pactum.portal_subject(&portal).await {
        Ok(s) => s,
        Err(e) => return link_failure(&state, lang, e),
    };
    match state.pactum.subject_report(subject, lang).await {
        Ok(report) => no_store(Json(report).into_response()),
        Err(e) => link_failure(&state, lang, e),
    }
}

/// The access report as a printable page (P30, P31).
async fn report<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    Path(portal): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    match state.pactum.portal_subject(&portal).await {
        Ok(subject) => portal_view(&state, lang, &portal, subject, None, true).await,
        Err(e) => link_failure(&state, lang, e),
    }
}

/// What the person gave under consent or contract, as JSON (L5).
async fn portable_json<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    Path(portal): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    let items = match portable(&state, lang, &portal).await {
        Ok(items) => items,
        Err(response) => return response,
    };
    let body = serde_json::json!({ "controller": state.pactum.policy.controller.name, "items": items });
    no_store(Json(body).into_response())
}

/// The same as CSV, for a spreadsheet (L5).
async fn portable_csv<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    Path(portal): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    let items = match portable(&state, lang, &portal).await {
        Ok(items) => items,
        Err(response) => return response,
    };
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"pactum-data.csv\""),
    ];
    no_store((headers, pactum_core::portability::portability_csv(&items)).into_response())
}

async fn portable<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    portal: &str,
) -> Result<Vec<pactum_core::portability::PortableItem>, Response> {
    let subject = state.pactum.portal_subject(portal).await.map_err(|e| link_failure(state, lang, e))?;
    state.pactum.portable_items(subject, lang).await.map_err(|e| link_failure(state, lang, e))
}

/// Checks origin and form token of a portal form; the subject when they hold.
async fn portal_form<B: Backend, C: Clock>(
    state: &AppState<B, C>,
    lang: Lang,
    portal: &str,
    headers: &HeaderMap,
    submitted: &Submitted,
    allowed: &[&str],
) -> Result<SubjectId, Response> {
    let subject = state.pactum.portal_subject(portal).await.map_err(|e| link_failure(state, lang, e))?;
    let now = state.pactum.clock.now().unix_timestamp();
    if !same_origin(headers)
        || !form_token_valid(&state.pactum.keys.blind_index, submitted.get("form_token").unwrap_or(""), now)
    {
        let page = portal_page(state, lang, portal, subject, Some(words(lang).stale.into())).await;
        return Err(with_status(page, StatusCode::FORBIDDEN));
    }
    if let Some(field) = submitted.unexpected(allowed) {
        let c = chrome(state, lang, portal_path(other(lang), portal));
        return Err(crate::responses::undeclared_field(c, lang, &field));
    }
    Ok(subject)
}

async fn withdraw<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path((portal, consent)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let submitted = Submitted(fields);
    let subject = match portal_form(&state, lang, &portal, &headers, &submitted, &["form_token"]).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    // Only the person's own consents: any other id is answered as not found.
    let Ok(Some(record)) = state.pactum.own_consent(subject, &consent).await else {
        return link_failure(&state, lang, CoreError::InvalidLink);
    };
    match state.pactum.withdraw_consent(record, "portal").await {
        Ok(withdrawal) => {
            let mut notice = w.withdrawn.to_string();
            if !withdrawal.kept.is_empty() {
                let kept: Vec<String> = withdrawal
                    .kept
                    .iter()
                    .map(|k| {
                        let label = state.pactum.policy.purpose(&k.purpose).map(|p| p.label.get(lang).to_string());
                        label.unwrap_or_else(|| k.purpose.clone())
                    })
                    .collect();
                notice = format!("{notice} {} {}.", w.kept, kept.join(", "));
            }
            portal_page(&state, lang, &portal, subject, Some(notice)).await
        }
        Err(e) => link_failure(&state, lang, e),
    }
}

/// An objection to the certification disclosure, confirmed with the box that states its
/// consequence (P14, C4); effective in this request.
async fn object<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path((portal, enrolment)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let submitted = Submitted(fields);
    let subject = match portal_form(&state, lang, &portal, &headers, &submitted, &["form_token", "confirm"]).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if submitted.get("confirm") != Some("yes") {
        let page = portal_page(&state, lang, &portal, subject, Some(w.objection_unconfirmed.into())).await;
        return with_status(page, StatusCode::BAD_REQUEST);
    }
    let Ok(enrolment) = Uuid::parse_str(&enrolment).map(pactum_store::EnrolmentId) else {
        return link_failure(&state, lang, CoreError::InvalidLink);
    };
    match state.pactum.object_to_certification(subject, enrolment).await {
        Ok(()) => portal_page(&state, lang, &portal, subject, Some(w.objected.into())).await,
        // Someone else's enrolment, or one already objected to: nothing to do, and nothing told.
        Err(CoreError::CertificationNotChosen) => link_failure(&state, lang, CoreError::InvalidLink),
        Err(e) => link_failure(&state, lang, e),
    }
}

/// The person's own corrections (P25, P32): effective at once, a new e-mail address once confirmed.
async fn correct<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path(portal): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let subject = match state.pactum.portal_subject(&portal).await {
        Ok(s) => s,
        Err(e) => return link_failure(&state, lang, e),
    };
    // The fields this person's form has: the categories they hold and may correct.
    let held: Vec<String> = match state.pactum.store.backend().items_of(subject).await {
        Ok(items) => items.into_iter().map(|i| i.category).collect(),
        Err(e) => return link_failure(&state, lang, e.into()),
    };
    let mut allowed: Vec<&str> = vec!["form_token"];
    allowed.extend(held.iter().map(String::as_str).filter(|c| *c == "email" || state.pactum.self_editable(c)));
    let submitted = Submitted(fields);
    let subject = match portal_form(&state, lang, &portal, &headers, &submitted, &allowed).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let values: Vec<(String, String)> = submitted.0.iter().filter(|(k, _)| k != "form_token").cloned().collect();
    match state.pactum.rectify(subject, &values, lang).await {
        Ok(done) => {
            let mut notice = if done.changed.is_empty() {
                String::new()
            } else {
                let labels: Vec<String> = done
                    .changed
                    .iter()
                    .map(|c| state.pactum.policy.category(c).map(|x| x.label.get(lang).to_string()).unwrap_or_default())
                    .collect();
                format!("{} {}.", w.corrected, labels.join(", "))
            };
            if done.email_pending.is_some() {
                notice = format!("{notice} {}", w.email_pending).trim().to_string();
            }
            if notice.is_empty() {
                notice = w.nothing_changed.into();
            }
            portal_page(&state, lang, &portal, subject, Some(notice)).await
        }
        Err(CoreError::Invalid(problems)) => {
            let text = problems.iter().map(|p| p.message(lang)).collect::<Vec<_>>().join(" ");
            with_status(portal_page(&state, lang, &portal, subject, Some(text)).await, StatusCode::BAD_REQUEST)
        }
        Err(e) => link_failure(&state, lang, e),
    }
}

/// The mailed link for a new address only shows a button, so that mail scanners do not use it.
async fn email_change_page<B: Backend, C: Clock>(State(state): State<Arc<AppState<B, C>>>, uri: Uri) -> Response {
    let w = words(lang_of(&uri));
    button_page(&state, &uri, w.email_confirm_title, w.email_confirm_intro, w.email_confirm)
}

async fn confirm_email_change<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    if !same_origin(&headers) {
        return link_failure(&state, lang, CoreError::InvalidLink);
    }
    let c = chrome(&state, lang, base(other(lang)).to_string());
    match state.pactum.confirm_email_change(&token).await {
        Ok(()) => no_store(message(c, StatusCode::OK, w.email_confirm_title, vec![w.email_confirmed.into()])),
        Err(CoreError::EmailTaken) => {
            no_store(message(c, StatusCode::CONFLICT, w.email_confirm_title, vec![w.email_taken.into()]))
        }
        Err(e) => link_failure(&state, lang, e),
    }
}

/// An objection to marketing (P35, C2): effective in this request, with no condition.
async fn object_to_marketing<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path(portal): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let submitted = Submitted(fields);
    let subject = match portal_form(&state, lang, &portal, &headers, &submitted, &["form_token"]).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    match state.pactum.object_to_marketing(subject, repeat_key(&submitted).as_deref()).await {
        Ok(ended) => {
            let notice = if ended.is_empty() { w.marketing_nothing } else { w.marketing_objected };
            portal_page(&state, lang, &portal, subject, Some(notice.into())).await
        }
        Err(e) => link_failure(&state, lang, e),
    }
}

/// A request for the DPO: an objection, a dispute of accuracy, a restriction, anything else
/// (P32, P35, L3). Answered within a month; a receipt is mailed at once.
async fn send_request<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path(portal): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let submitted = Submitted(fields);
    let allowed = ["form_token", "kind", "details", "restrict"];
    let subject = match portal_form(&state, lang, &portal, &headers, &submitted, &allowed).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let kind = match submitted.get("kind").and_then(pactum_core::rights::RequestKind::parse) {
        Some(
            kind @ (pactum_core::rights::RequestKind::Objection
            | pactum_core::rights::RequestKind::Rectification
            | pactum_core::rights::RequestKind::Restriction
            | pactum_core::rights::RequestKind::Other),
        ) => kind,
        _ => {
            let problem = pactum_core::values::FieldError {
                field: "kind".into(),
                problem: pactum_core::values::Problem::UnknownChoice,
            };
            let page = portal_page(&state, lang, &portal, subject, Some(problem.message(lang))).await;
            return with_status(page, StatusCode::BAD_REQUEST);
        }
    };
    let details = submitted.get("details").unwrap_or("");
    let restrict = submitted.get("restrict") == Some("yes");
    match state.pactum.request_from_portal(subject, kind, details, restrict, lang, repeat_key(&submitted)).await {
        Ok(_) => portal_page(&state, lang, &portal, subject, Some(w.request_sent.into())).await,
        // Sent again from a page already used for a request, with other words (the browser's back
        // button): the page again, with forms of its own, so that sending makes a new request.
        Err(CoreError::KeyReused) => with_status(
            portal_page(&state, lang, &portal, subject, Some(w.request_form_used.into())).await,
            StatusCode::CONFLICT,
        ),
        Err(CoreError::Invalid(problems)) => {
            let text = problems.iter().map(|p| p.message(lang)).collect::<Vec<_>>().join(" ");
            with_status(portal_page(&state, lang, &portal, subject, Some(text)).await, StatusCode::BAD_REQUEST)
        }
        Err(e) => link_failure(&state, lang, e),
    }
}

/// "Bookkeeping (Bogføringsloven … § 10): name, address … – deleted on 31 December 2030".
fn kept_hold_line(policy: &pactum_policy::Policy, hold: &pactum_core::personal::KeptHold, lang: Lang) -> String {
    let purpose = policy.purpose(&hold.purpose);
    let label = purpose.map(|p| p.label.get(lang).to_string()).unwrap_or_else(|| hold.purpose.clone());
    let categories: Vec<String> = hold
        .categories
        .iter()
        .map(|c| policy.category(c).map(|x| x.label.get(lang).to_string()).unwrap_or_else(|| c.clone()))
        .collect();
    let statute = hold.statute.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
    let until = match (hold.retain_until, lang) {
        (Some(date), Lang::Da) => format!("slettes {}", format_date(date, lang)),
        (Some(date), Lang::En) => format!("deleted on {}", format_date(date, lang)),
        (None, _) => purpose.map(|p| p.retention.describe(lang)).unwrap_or_default(),
    };
    format!("{label}{statute}: {} – {until}", categories.join(", "))
}

async fn erase<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    uri: Uri,
    headers: HeaderMap,
    Path(portal): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = lang_of(&uri);
    let w = words(lang);
    let submitted = Submitted(fields);
    let subject = match portal_form(&state, lang, &portal, &headers, &submitted, &["form_token", "confirm"]).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if submitted.get("confirm") != Some("yes") {
        let page = portal_page(&state, lang, &portal, subject, Some(w.confirm_missing.into())).await;
        return with_status(page, StatusCode::BAD_REQUEST);
    }
    let rule = "erasure requested by the person (GDPR Art. 17)";
    match state.pactum.erase_on_request(subject, rule, "subject", repeat_key(&submitted).as_deref()).await {
        Ok(erasure) => {
            let c = chrome(&state, lang, base(other(lang)).to_string());
            let proof = match lang {
                Lang::Da => {
                    format!("Vi har slettet {} oplysninger. Sletningsbevis: {}.", erasure.items_deleted, erasure.proof)
                }
                Lang::En => format!("We erased {} items. Deletion proof: {}.", erasure.items_deleted, erasure.proof),
            };
            let mut paragraphs = vec![proof];
            let mut list = Vec::new();
            if !erasure.kept.is_empty() {
                paragraphs.push(w.restricted_intro.into());
                list = erasure.kept.iter().map(|hold| kept_hold_line(&state.pactum.policy, hold, lang)).collect();
            }
            let page = MessagePage { c, title: w.erased_title.into(), paragraphs, list, action: None, link: None };
            no_store(message_with(page, StatusCode::OK))
        }
        Err(e) => link_failure(&state, lang, e),
    }
}
