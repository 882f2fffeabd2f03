//! The catalogue: courses, their sessions and events, imported from a TOML file and checked against
//! the policy, so that a course delivered by a partner, a co-organiser or a sponsor can only name a
//! recipient the policy registers for that role and purpose (P08, P09, P10, C3).

use pactum_policy::{Lang, Policy, RecipientRole};
use pactum_store::{AuditEvent, Backend, Change, Course, CourseId, CourseSession, Event, EventId, Op, SessionId, Uuid};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::Date;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::staff::Role;
use crate::{Clock, CoreError, Pactum};

/// The highest price per seat a session may have, in kroner: far above any course, and low enough
/// that an order's amounts, in øre and with VAT, can never overflow.
const MAX_PRICE_DKK: i64 = 10_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    course: Vec<CourseEntry>,
    #[serde(default)]
    event: Vec<EventEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Localised {
    da: String,
    en: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CourseEntry {
    slug: String,
    title: Localised,
    summary: Localised,
    delivered_by: Option<String>,
    #[serde(default)]
    certification: bool,
    #[serde(default)]
    cancellation: Option<CancellationEntry>,
    #[serde(default)]
    session: Vec<SessionEntry>,
}

/// The provider's cancellation terms for a course's sessions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancellationEntry {
    /// Free of charge until this many days before the start.
    free_until_days_before: u32,
    /// The share of the price kept when cancelling later.
    late_fee_percent: u32,
}

/// Free cancellation until 14 days before the start, then no refund, unless a course says otherwise.
pub const DEFAULT_CANCELLATION: (u32, u32) = (14, 100);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionEntry {
    /// A stable code, so that importing the file again updates the session instead of adding one.
    code: String,
    starts_on: toml::value::Datetime,
    ends_on: toml::value::Datetime,
    location: String,
    #[serde(default)]
    online: bool,
    language: String,
    price_dkk: i64,
    seats: u32,
    /// The username of the instructor's staff account; only they see the roster.
    #[serde(default)]
    instructor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventEntry {
    slug: String,
    title: Localised,
    summary: Localised,
    starts_on: toml::value::Datetime,
    ends_on: toml::value::Datetime,
    location: String,
    co_organiser: Option<String>,
    sponsor: Option<String>,
    seats: u32,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub courses: usize,
    pub sessions: usize,
    pub events: usize,
}

/// A stable id derived from a name, so that an import is repeatable.
fn stable_id(kind: &str, name: &str) -> Uuid {
    let digest = Sha256::digest(format!("pactum/{kind}/{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

fn date(value: &toml::value::Datetime, what: &str, errors: &mut Vec<String>) -> Option<Date> {
    let parsed = value.date.filter(|_| value.time.is_none()).and_then(|d| {
        time::Month::try_from(d.month).ok().and_then(|m| Date::from_calendar_date(i32::from(d.year), m, d.day).ok())
    });
    if parsed.is_none() {
        errors.push(format!("{what} must be a date such as 2027-03-15"));
    }
    parsed
}

/// Checks the texts every catalogue entry needs.
fn require_text(what: &str, fields: &[(&str, &str)], errors: &mut Vec<String>) {
    for (name, value) in fields {
        if value.trim().is_empty() {
            errors.push(format!("{what}: `{name}` is empty"));
        }
    }
}

/// The two dates of an entry, checked together; `Date::MIN` stands in for one already reported.
fn dates(
    starts: &toml::value::Datetime,
    ends: &toml::value::Datetime,
    what: &str,
    errors: &mut Vec<String>,
) -> (Date, Date) {
    let starts_on = date(starts, &format!("{what}: starts_on"), errors);
    let ends_on = date(ends, &format!("{what}: ends_on"), errors);
    if let (Some(s), Some(e)) = (starts_on, ends_on)
        && e < s
    {
        errors.push(format!("{what} ends before it starts"));
    }
    (starts_on.unwrap_or(Date::MIN), ends_on.unwrap_or(Date::MIN))
}

fn check_recipient(
    policy: &Policy,
    key: &str,
    role: RecipientRole,
    purpose: &str,
    what: &str,
    errors: &mut Vec<String>,
) {
    match policy.recipient(key) {
        None => errors.push(format!("{what} names `{key}`, which the policy does not register as a recipient (P10)")),
        Some(r) if r.role != role => errors.push(format!(
            "{what} names `{key}`, which the policy registers as {} rather than {}",
            r.role.label(Lang::En).to_lowercase(),
            role.label(Lang::En).to_lowercase()
        )),
        Some(r) if !r.purposes.iter().any(|p| p == purpose) => {
            errors.push(format!("{what} names `{key}`, which the policy does not register for the purpose `{purpose}`"))
        }
        Some(_) => {}
    }
}

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 80
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A checked catalogue file ready to store, or the stored catalogue as last read.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub courses: Vec<Course>,
    pub sessions: Vec<CourseSession>,
    pub events: Vec<Event>,
}

/// Reads and checks a catalogue file against the policy; every problem is reported.
pub fn parse_catalogue(policy: &Policy, text: &str) -> Result<Catalogue, Vec<String>> {
    let file: CatalogueFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let (mut courses, mut sessions, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let (mut slugs, mut codes) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    for c in file.course {
        let what = format!("course `{}`", c.slug);
        require_text(&what, &[("title.da", &c.title.da), ("title.en", &c.title.en)], &mut errors);
        if !slugs.insert(format!("course/{}", c.slug)) {
            errors.push(format!("{what}: the slug is used twice"));
        }
        if !valid_slug(&c.slug) {
            errors.push(format!("{what}: a slug is lower-case letters, digits and hyphens"));
        }
        if let Some(partner) = &c.delivered_by {
            check_recipient(policy, partner, RecipientRole::CoursePartner, "course_enrolment", &what, &mut errors);
        }
        if c.certification && policy.purpose("certification").is_none() {
            errors.push(format!("{what} offers certification, but the policy has no `certification` purpose"));
        }
        let id = CourseId(stable_id("course", &c.slug));
        for s in &c.session {
            let what = format!("session `{}` of {what}", s.code);
            let (starts_on, ends_on) = dates(&s.starts_on, &s.ends_on, &what, &mut errors);
            if !["da", "en"].contains(&s.language.as_str()) {
                errors.push(format!("{what}: `language` must be \"da\" or \"en\""));
            }
            require_text(&what, &[("code", &s.code), ("location", &s.location)], &mut errors);
            if !codes.insert(s.code.clone()) {
                errors.push(format!("{what}: the code is used twice; every session needs its own"));
            }
            if s.price_dkk < 0 || s.seats == 0 {
                errors.push(format!("{what}: the price cannot be negative and there must be at least one seat"));
            }
            if s.price_dkk > MAX_PRICE_DKK {
                errors.push(format!(
                    "{what}: `price_dkk` is at most {MAX_PRICE_DKK} (kroner per seat), not {}; write the price in whole kroner",
                    s.price_dkk
                ));
            }
            sessions.push(CourseSession {
                id: SessionId(stable_id("session", &s.code)),
                course: id,
                starts_on,
                ends_on,
                location: s.location.clone(),
                online: s.online,
                language: s.language.clone(),
                price_ore: s.price_dkk.saturating_mul(100),
                seats: s.seats,
                instructor: s.instructor.clone(),
            });
        }
        let (cancel_free_days, cancel_late_fee_percent) = match &c.cancellation {
            None => DEFAULT_CANCELLATION,
            Some(terms) => {
                if terms.free_until_days_before > 365 {
                    errors.push(format!(
                        "course `{}`: `cancellation.free_until_days_before` is at most 365 days, not {}",
                        c.slug, terms.free_until_days_before
                    ));
                }
                if terms.late_fee_percent > 100 {
                    errors.push(format!(
                        "course `{}`: `cancellation.late_fee_percent` is a share of the price, 0 to 100, not {}",
                        c.slug, terms.late_fee_percent
                    ));
                }
                (terms.free_until_days_before, terms.late_fee_percent)
            }
        };
        courses.push(Course {
            cancel_free_days,
            cancel_late_fee_percent,
            id,
            slug: c.slug,
            title_da: c.title.da,
            title_en: c.title.en,
            summary_da: c.summary.da,
            summary_en: c.summary.en,
            delivered_by: c.delivered_by,
            certification: c.certification,
        });
    }
    for e in file.event {
        let what = format!("event `{}`", e.slug);
        if !valid_slug(&e.slug) {
            errors.push(format!("{what}: a slug is lower-case letters, digits and hyphens"));
        }
        if let Some(co) = &e.co_organiser {
            check_recipient(policy, co, RecipientRole::CoOrganiser, "event_signup", &what, &mut errors);
        }
        if let Some(sponsor) = &e.sponsor {
            check_recipient(policy, sponsor, RecipientRole::Sponsor, "event_sponsor_sharing", &what, &mut errors);
        }
        let (starts_on, ends_on) = dates(&e.starts_on, &e.ends_on, &what, &mut errors);
        require_text(
            &what,
            &[("title.da", &e.title.da), ("title.en", &e.title.en), ("location", &e.location)],
            &mut errors,
        );
        if e.seats == 0 {
            errors.push(format!("{what}: there must be at least one seat"));
        }
        if !slugs.insert(format!("event/{}", e.slug)) {
            errors.push(format!("{what}: the slug is used twice"));
        }
        events.push(Event {
            id: EventId(stable_id("event", &e.slug)),
            slug: e.slug,
            title_da: e.title.da,
            title_en: e.title.en,
            summary_da: e.summary.da,
            summary_en: e.summary.en,
            starts_on,
            ends_on,
            location: e.location,
            co_organiser: e.co_organiser,
            sponsor: e.sponsor,
            seats: e.seats,
        });
    }
    if errors.is_empty() { Ok(Catalogue { courses, sessions, events }) } else { Err(errors) }
}

/// A course session with what the catalogue pages show about it.
#[derive(Debug, Clone)]
pub struct SessionListing {
    pub session: CourseSession,
    pub seats_left: u32,
}

#[derive(Debug, Clone)]
pub struct CourseListing {
    pub course: Course,
    pub sessions: Vec<SessionListing>,
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Imports (adds or updates) a catalogue file in one transaction.
    pub async fn import_catalogue(&self, text: &str, actor: &str) -> Result<ImportSummary, CoreError> {
        let Catalogue { courses, sessions, events } =
            parse_catalogue(&self.policy, text).map_err(CoreError::Catalogue)?;
        let mut unknown = Vec::new();
        let backend = self.store.backend();
        for (session, username) in sessions.iter().filter_map(|s| s.instructor.as_ref().map(|u| (s, u))) {
            let account = backend.staff_by_username(username).await?;
            if account.is_none_or(|a| a.role != Role::Instructor.key() || a.disabled_at.is_some()) {
                unknown.push(format!(
                    "session starting {}: `instructor = \"{username}\"` names no active instructor account; \
                     create it with `pactum admin create --role instructor` or in the admin pages first",
                    session.starts_on
                ));
            }
        }
        if !unknown.is_empty() {
            return Err(CoreError::Catalogue(unknown));
        }
        let summary = ImportSummary { courses: courses.len(), sessions: sessions.len(), events: events.len() };
        let ops = courses
            .into_iter()
            .map(Op::PutCourse)
            .chain(sessions.into_iter().map(Op::PutSession))
            .chain(events.into_iter().map(Op::PutEvent))
            .collect();
        let event = AuditEvent::new(
            actor,
            "catalogue.import",
            None,
            serde_json::json!({"courses": summary.courses, "sessions": summary.sessions, "events": summary.events}),
        );
        self.store.commit(Change { at: self.clock.now_micros(), ops, audit: vec![event] }).await?;
        self.catalogue_cache.clear();
        Ok(summary)
    }

    /// The stored catalogue, read at most [`CATALOGUE_TTL`] ago. An import on this node shows at
    /// once; one from another process within the TTL. Seat limits never rely on it: each claim is
    /// checked inside the enrolment's own transaction.
    pub async fn catalogue(&self) -> Result<Arc<Catalogue>, CoreError> {
        if let Some(fresh) = self.catalogue_cache.fresh() {
            return Ok(fresh);
        }
        let backend = self.store.backend();
        let catalogue = Arc::new(Catalogue {
            courses: backend.courses().await?,
            sessions: backend.sessions().await?,
            events: backend.events().await?,
        });
        self.catalogue_cache.keep(catalogue.clone());
        Ok(catalogue)
    }

    async fn seats_left(&self, activity: Uuid, seats: u32) -> Result<u32, CoreError> {
        Ok(seats.saturating_sub(self.store.backend().seats_taken(activity).await?))
    }

    /// Every course with its sessions still to come, and the seats left on each.
    pub async fn course_listings(&self) -> Result<Vec<CourseListing>, CoreError> {
        let catalogue = self.catalogue().await?;
        let today = self.clock.today();
        let mut out = Vec::new();
        for course in catalogue.courses.iter().cloned() {
            let mut listed = Vec::new();
            for session in catalogue.sessions.iter().filter(|s| s.course == course.id && s.ends_on >= today) {
                listed.push(SessionListing {
                    seats_left: self.seats_left(session.id.0, session.seats).await?,
                    session: session.clone(),
                });
            }
            out.push(CourseListing { course, sessions: listed });
        }
        Ok(out)
    }

    pub async fn course_listing(&self, slug: &str) -> Result<Option<CourseListing>, CoreError> {
        Ok(self.course_listings().await?.into_iter().find(|c| c.course.slug == slug))
    }

    /// Events still to come, with the seats left.
    pub async fn event_listings(&self) -> Result<Vec<(Event, u32)>, CoreError> {
        let today = self.clock.today();
        let mut out = Vec::new();
        for event in self.catalogue().await?.events.iter().filter(|e| e.ends_on >= today).cloned() {
            let left = self.seats_left(event.id.0, event.seats).await?;
            out.push((event, left));
        }
        Ok(out)
    }

    /// Loads the example catalogue when the catalogue is empty, for a first run with the bundled policy.
    pub async fn seed_example_catalogue(&self, text: &str) -> Result<Option<ImportSummary>, CoreError> {
        let backend = self.store.backend();
        if !backend.courses().await?.is_empty() || !backend.events().await?.is_empty() {
            return Ok(None);
        }
        self.import_catalogue(text, "system").await.map(Some)
    }
}

/// How long a read of the catalogue is reused.
pub const CATALOGUE_TTL: Duration = Duration::from_secs(2);

/// The catalogue as last read, so that an enrolment does not read it from the database each time.
#[derive(Default)]
pub struct CatalogueCache {
    last: Mutex<Option<(Instant, Arc<Catalogue>)>>,
}

impl CatalogueCache {
    fn fresh(&self) -> Option<Arc<Catalogue>> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_ref().filter(|(read, _)| read.elapsed() < CATALOGUE_TTL).map(|(_, c)| c.clone())
    }

    fn keep(&self, catalogue: Arc<Catalogue>) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), catalogue));
    }

    fn clear(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
