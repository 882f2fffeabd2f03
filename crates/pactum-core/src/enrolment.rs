//! Enrolling on a course session and signing up for an event.
//!
//! An enrolment collects exactly the fields the `course_enrolment` purpose declares (P01, P24),
//! kept until the course end plus the purpose's period. Opting into certification starts the
//! `certification` purpose over the same data and nothing else (P13). The newsletter box is a
//! separate, unticked opt-in that goes through double opt-in (P07). An event sign-up may carry the
//! event's separate sponsor box, which records a consent and is the only way a sponsor receives
//! anything (P09, C3).

use pactum_policy::{Lang, LegalBasis};
use pactum_store::{
    AuditEvent, Backend, Change, ConsentId, ConsentRecord, ConsentState, Enrolment, EnrolmentId, Op, PurposeInstance,
    SessionId, Uuid,
};
use sha2::{Digest, Sha256};

use crate::mail::OutgoingMail;
use crate::newsletter::{SubscribeOutcome, Subscription};
use crate::personal::{Collected, Collection, PreparedCollection};
use crate::repeats::{RequestKey, sorted};
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

pub const ENROLMENT_PURPOSE: &str = "course_enrolment";
pub const CERTIFICATION_PURPOSE: &str = "certification";
pub const EVENT_PURPOSE: &str = "event_signup";
pub const SPONSOR_PURPOSE: &str = "event_sponsor_sharing";

#[derive(Debug, Clone)]
pub struct EnrolmentRequest {
    pub session: SessionId,
    /// (category, value) pairs from the form.
    pub values: Vec<(String, String)>,
    pub certification: bool,
    pub newsletter: bool,
    pub lang: Lang,
    pub method: String,
    pub notice_version: String,
    /// The key this sign-up was made under, if any (see [`crate::repeats`]): the form's one-time
    /// token, or the API caller's `Idempotency-Key`.
    pub repeat_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EventSignupRequest {
    pub event: Uuid,
    pub values: Vec<(String, String)>,
    pub sponsor_sharing: bool,
    pub newsletter: bool,
    pub lang: Lang,
    pub method: String,
    pub notice_version: String,
    /// As [`EnrolmentRequest::repeat_key`].
    pub repeat_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub enrolment: EnrolmentId,
    pub newsletter: Option<SubscribeOutcome>,
}

/// A full activity found inside the transaction is the same answer as one found before it.
pub(crate) fn seat_error(e: CoreError) -> CoreError {
    match e {
        CoreError::Store(pactum_store::StoreError::Full) => CoreError::Full,
        other => other,
    }
}

/// What a sign-up is for: a course session or an event.
struct Activity<'a> {
    id: Uuid,
    seats: u32,
    title: &'a str,
    dates: (time::Date, time::Date),
    location: &'a str,
}

/// A sign-up form's newsletter box: whether it was ticked, and what was given with it.
struct NewsletterBox<'a> {
    values: &'a [(String, String)],
    wanted: bool,
    lang: Lang,
    method: &'a str,
}

impl<'a> NewsletterBox<'a> {
    fn new(values: &'a [(String, String)], wanted: bool, lang: Lang, method: &'a str) -> Self {
        NewsletterBox { values, wanted, lang, method }
    }
}

/// What a sign-up answered, kept for a repeat of it (see [`crate::repeats`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct SignedUp {
    enrolment: EnrolmentId,
    newsletter: bool,
}

impl From<SignedUp> for Enrolled {
    fn from(first: SignedUp) -> Enrolled {
        Enrolled { enrolment: first.enrolment, newsletter: first.newsletter.then_some(SubscribeOutcome::Repeated) }
    }
}

/// An option asked for that the activity does not offer: refused before anything is stored, so
/// that nobody believes they signed up for something they did not get.
fn not_offered(option: &str) -> CoreError {
    CoreError::Invalid(vec![FieldError { field: option.into(), problem: Problem::NotOffered }])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Enrols a person on a session, with certification and newsletter only if asked for.
    pub async fn enrol(&self, request: EnrolmentRequest) -> Result<Enrolled, CoreError> {
        self.retried_if_raced(|| self.enrol_attempt(request.clone())).await
    }

    /// One try of [`Self::enrol`].
    async fn enrol_attempt(&self, request: EnrolmentRequest) -> Result<Enrolled, CoreError> {
        // A repeat is answered first, whatever changed since the first request (the notice).
        let (repeat_key, first) = self
            .earlier::<SignedUp>("enrolment", request.repeat_key.as_deref(), || {
                serde_json::json!({
                    "session": request.session,
                    "values": sorted(&request.values),
                    "certification": request.certification,
                    "newsletter": request.newsletter,
                    "notice_version": request.notice_version,
                })
            })
            .await?;
        if let Some(first) = first {
            return Ok(first.into());
        }
        if request.notice_version != self.policy.version {
            return Err(CoreError::NoticeChanged);
        }
        let catalogue = self.catalogue().await?;
        let session = catalogue.sessions.iter().find(|s| s.id == request.session).ok_or(CoreError::UnknownActivity)?;
        let course = catalogue.courses.iter().find(|c| c.id == session.course).ok_or(CoreError::UnknownActivity)?;
        if request.certification && !course.certification {
            return Err(not_offered("certification"));
        }
        let mut prepared = self
            .prepare_collection(Collection {
                purpose: ENROLMENT_PURPOSE.into(),
                values: request.values.clone(),
                source: request.method.clone(),
                anchor_date: Some(session.ends_on),
                actor: "subject".into(),
            })
            .await?;
        let subject = prepared.collected.subject;
        let title = if request.lang == Lang::Da { &course.title_da } else { &course.title_en };
        let this = Activity {
            id: session.id.0,
            seats: session.seats,
            title,
            dates: (session.starts_on, session.ends_on),
            location: &session.location,
        };
        let (change, enrolment) = match self.held_sign_up(&prepared, &this, &request.values, request.lang).await? {
            Some(held) => held,
            None => {
                let certification = if request.certification {
                    let purpose = self.purpose(CERTIFICATION_PURPOSE)?;
                    // Certification is over the values given for the enrolment, and nothing else (P13).
                    let instance = PurposeInstance {
                        items: prepared.collected.items.clone(),
                        ..self.start_purpose(subject, purpose, Some(session.ends_on))
                    };
                    let id = instance.id;
                    prepared.change.ops.push(Op::StartPurpose(instance));
                    Some(id)
                } else {
                    None
                };
                let enrolment = Enrolment {
                    id: EnrolmentId::new(),
                    activity: session.id.0,
                    kind: "course_session".into(),
                    subject,
                    instance: prepared.collected.instance,
                    certification,
                    sponsor_consent: None,
                    created_at: self.clock.now_micros(),
                    cancelled_at: None,
                };
                prepared.change.ops.push(Op::Enrol { enrolment: enrolment.clone(), seats: session.seats });
                prepared.change.audit.push(AuditEvent::new(
                    "subject",
                    "enrolment.create",
                    Some(subject),
                    serde_json::json!({
                        "enrolment": enrolment.id.to_string(),
                        "session": session.id.to_string(),
                        "course": course.slug,
                        "certification": certification.is_some(),
                        "notice_version": request.notice_version,
                    }),
                ));
                (prepared.change, enrolment.id)
            }
        };
        let newsletter = NewsletterBox::new(&request.values, request.newsletter, request.lang, &request.method);
        self.finish_sign_up(change, enrolment, repeat_key.as_ref(), newsletter).await
    }

    /// A person who already holds a live sign-up for `activity` is not signed up again and takes
    /// no second seat: nothing of the new request is stored. The held sign-up stays as it is: boxes
    /// ticked only in the repeat (certification, sponsor sharing) are not added by whoever typed the
    /// address. The answer is the one a new sign-up gets (a full activity is full for them too), and
    /// the address is mailed that it already was signed up (at most once an hour), so that its
    /// owner learns of a repeat someone else made. Gives the held sign-up and the change that
    /// records the repeat; `None` when the person holds no such sign-up.
    async fn held_sign_up(
        &self,
        prepared: &PreparedCollection,
        activity: &Activity<'_>,
        values: &[(String, String)],
        lang: Lang,
    ) -> Result<Option<(Change, EnrolmentId)>, CoreError> {
        let collected = &prepared.collected;
        let email = values.iter().find(|(c, _)| c == "email").map(|(_, v)| v.trim());
        let (true, Some(email)) = (collected.known, email) else { return Ok(None) };
        let Some(held) = self.held_enrolment(collected, activity.id).await? else { return Ok(None) };
        if self.store.backend().seats_taken(activity.id).await? >= activity.seats {
            return Err(CoreError::Full);
        }
        let mailed = self.repeat_mails.allow((collected.subject, activity.id));
        let event = AuditEvent::new(
            "subject",
            "enrolment.repeated",
            Some(collected.subject),
            serde_json::json!({"enrolment": held.id.to_string(), "activity": activity.id.to_string(), "mailed": mailed}),
        );
        let mut ops = Vec::new();
        if mailed {
            let mail = self.already_signed_up_mail(email, activity, lang);
            ops.push(self.mail_op(collected.subject, &prepared.key, "enrolment.repeated", mail)?);
        }
        Ok(Some((Change { at: self.clock.now_micros(), ops, audit: vec![event] }, held.id)))
    }

    /// The live sign-up for `activity` of the person `collected` found already stored, if any.
    pub(crate) async fn held_enrolment(
        &self,
        collected: &Collected,
        activity: Uuid,
    ) -> Result<Option<Enrolment>, CoreError> {
        if !collected.known {
            return Ok(None);
        }
        let held = self.store.backend().enrolments_of_subject(collected.subject).await?;
        Ok(held.into_iter().find(|e| e.activity == activity && e.cancelled_at.is_none()))
    }

    /// The mail to someone signed up again for what they are already signed up for.
    fn already_signed_up_mail(&self, to: &str, activity: &Activity<'_>, lang: Lang) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let (starts, ends) =
            (pactum_store::date_to_text(activity.dates.0), pactum_store::date_to_text(activity.dates.1));
        let what = format!("{}, {starts} – {ends}, {}", activity.title, activity.location);
        let (subject, text) = match lang {
            Lang::Da => (
                format!("Du er allerede tilmeldt: {}", activity.title),
                format!(
                    "Hej\n\nVi har modtaget en tilmelding med denne e-mailadresse til:\n\n{what}\n\n\
                     Du var allerede tilmeldt, så vi har ikke tilmeldt dig igen, og din tilmelding er uændret.\n\n\
                     Har du ikke selv tilmeldt dig igen, behøver du ikke gøre noget.\n\nVenlig hilsen\n{controller}\n"
                ),
            ),
            Lang::En => (
                format!("You are already signed up: {}", activity.title),
                format!(
                    "Hello\n\nWe have received a sign-up with this e-mail address for:\n\n{what}\n\n\
                     You were already signed up, so we have not signed you up again, and your sign-up is unchanged.\n\n\
                     If you did not sign up again yourself, you need not do anything.\n\nKind regards\n{controller}\n"
                ),
            ),
        };
        OutgoingMail { to: to.to_string(), subject, text, headers: Vec::new() }
    }

    /// Commits a sign-up's `change` once under its `repeat_key`, then asks for the newsletter if
    /// its box was ticked; a repeat of an earlier request gets that request's answer.
    async fn finish_sign_up(
        &self,
        change: Change,
        enrolment: EnrolmentId,
        repeat_key: Option<&RequestKey>,
        newsletter: NewsletterBox<'_>,
    ) -> Result<Enrolled, CoreError> {
        let outcome = SignedUp { enrolment, newsletter: newsletter.wanted };
        let mails = change.ops.iter().any(|op| matches!(op, Op::EnqueueMail(_)));
        if let Some(first) = self.commit_once(change, repeat_key, &outcome).await.map_err(seat_error)? {
            return Ok(first.into());
        }
        if mails {
            self.mail_ready.notify_one();
        }
        let newsletter = self.newsletter_from_form(newsletter).await?;
        Ok(Enrolled { enrolment, newsletter })
    }

    async fn newsletter_from_form(&self, newsletter: NewsletterBox<'_>) -> Result<Option<SubscribeOutcome>, CoreError> {
        if !newsletter.wanted {
            return Ok(None);
        }
        let value = |k: &str| newsletter.values.iter().find(|(c, _)| c == k).map(|(_, v)| v.clone());
        let subscription = Subscription {
            email: value("email").unwrap_or_default(),
            name: value("name"),
            interests: None,
            lang: newsletter.lang,
            method: newsletter.method.to_string(),
            notice_version: self.policy.version.clone(),
        };
        self.subscribe_newsletter(subscription).await.map(Some)
    }

    /// Signs a person up for an event; the sponsor box records its own consent (P09, C3).
    pub async fn sign_up_for_event(&self, request: EventSignupRequest) -> Result<Enrolled, CoreError> {
        self.retried_if_raced(|| self.sign_up_for_event_attempt(request.clone())).await
    }

    /// One try of [`Self::sign_up_for_event`].
    async fn sign_up_for_event_attempt(&self, request: EventSignupRequest) -> Result<Enrolled, CoreError> {
        // A repeat is answered first, whatever changed since the first request (the notice).
        let (repeat_key, first) = self
            .earlier::<SignedUp>("event_signup", request.repeat_key.as_deref(), || {
                serde_json::json!({
                    "event": request.event,
                    "values": sorted(&request.values),
                    "sponsor_sharing": request.sponsor_sharing,
                    "newsletter": request.newsletter,
                    "notice_version": request.notice_version,
                })
            })
            .await?;
        if let Some(first) = first {
            return Ok(first.into());
        }
        if request.notice_version != self.policy.version {
            return Err(CoreError::NoticeChanged);
        }
        let catalogue = self.catalogue().await?;
        let event = catalogue.events.iter().find(|e| e.id.0 == request.event).ok_or(CoreError::UnknownActivity)?;
        if request.sponsor_sharing && event.sponsor.is_none() {
            return Err(not_offered("sponsor_sharing"));
        }
        let mut prepared = self
            .prepare_collection(Collection {
                purpose: EVENT_PURPOSE.into(),
                values: request.values.clone(),
                source: request.method.clone(),
                anchor_date: Some(event.ends_on),
                actor: "subject".into(),
            })
            .await?;
        let subject = prepared.collected.subject;
        let title = if request.lang == Lang::Da { &event.title_da } else { &event.title_en };
        let this = Activity {
            id: event.id.0,
            seats: event.seats,
            title,
            dates: (event.starts_on, event.ends_on),
            location: &event.location,
        };
        let (change, signup) = match self.held_sign_up(&prepared, &this, &request.values, request.lang).await? {
            Some(held) => held,
            None => {
                let now = self.clock.now_micros();
                let sponsor_consent = match (&event.sponsor, request.sponsor_sharing) {
                    (Some(_), true) => Some(self.sponsor_consent(&mut prepared, event.ends_on, &request)?),
                    _ => None,
                };
                let signup = Enrolment {
                    id: EnrolmentId::new(),
                    activity: event.id.0,
                    kind: "event".into(),
                    subject,
                    instance: prepared.collected.instance,
                    certification: None,
                    sponsor_consent,
                    created_at: now,
                    cancelled_at: None,
                };
                prepared.change.ops.push(Op::Enrol { enrolment: signup.clone(), seats: event.seats });
                prepared.change.audit.push(AuditEvent::new(
                    "subject",
                    "event_signup.create",
                    Some(subject),
                    serde_json::json!({"signup": signup.id.to_string(), "event": event.slug, "sponsor_sharing": sponsor_consent.is_some()}),
                ));
                (prepared.change, signup.id)
            }
        };
        let newsletter = NewsletterBox::new(&request.values, request.newsletter, request.lang, &request.method);
        self.finish_sign_up(change, signup, repeat_key.as_ref(), newsletter).await
    }

    /// The event's separate sponsor box, ticked: a consent of its own, over the values given for
    /// this sign-up and nothing else, which is the only way a sponsor receives anything (P09, C3).
    fn sponsor_consent(
        &self,
        prepared: &mut PreparedCollection,
        ends_on: time::Date,
        request: &EventSignupRequest,
    ) -> Result<ConsentId, CoreError> {
        let subject = prepared.collected.subject;
        let now = self.clock.now_micros();
        let purpose = self.purpose(SPONSOR_PURPOSE)?;
        let text = match (&purpose.consent_text, purpose.basis) {
            (Some(t), LegalBasis::Consent) => t.get(request.lang).to_string(),
            _ => return Err(CoreError::UnknownPurpose(SPONSOR_PURPOSE.into())),
        };
        // The sponsor receives the values given for this sign-up, and nothing else.
        let instance = PurposeInstance {
            items: prepared.collected.items.clone(),
            ..self.start_purpose(subject, purpose, Some(ends_on))
        };
        let consent = ConsentRecord {
            id: ConsentId::new(),
            subject,
            purpose: SPONSOR_PURPOSE.into(),
            instance: instance.id,
            state: ConsentState::Active,
            lang: request.lang.code().into(),
            policy_version: self.policy.version.clone(),
            text_hash: hex(&Sha256::digest(text.as_bytes())),
            text,
            method: request.method.clone(),
            requested_at: now,
            confirmed_at: Some(now),
            withdrawn_at: None,
            withdraw_method: None,
        };
        prepared.change.audit.push(AuditEvent::new(
            "subject",
            "consent.grant",
            Some(subject),
            serde_json::json!({"consent": consent.id.to_string(), "purpose": SPONSOR_PURPOSE, "method": request.method, "text_hash": consent.text_hash}),
        ));
        let id = consent.id;
        prepared.change.ops.push(Op::StartPurpose(instance));
        prepared.change.ops.push(Op::RecordConsent(consent));
        Ok(id)
    }
}
