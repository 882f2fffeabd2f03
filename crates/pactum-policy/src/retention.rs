//! Retention date math: how long a purpose may hold data, counted from an anchor event.
//!
//! Retention is kept at day granularity in UTC. `retain_until` is the last day the data may be
//! held; it is deleted from the start of the following day. Adding years or months to a date
//! that does not exist in the target month clamps to that month's last day, so a course that
//! ends on 29 February 2028 is kept until 28 February 2033 (P18).

use serde::Serialize;
use time::{Date, Month};

use crate::model::Lang;

/// The event a retention period counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// When the data was collected.
    Collection,
    /// The last day of the course session.
    CourseEnd,
    /// The last day of the event.
    EventEnd,
    /// When the order was completed or cancelled.
    OrderCompleted,
    /// When the person withdrew consent or objected.
    Withdrawal,
    /// The end of the financial year in which the record was made (bookkeeping, L6/C10).
    FinancialYearEnd,
    /// When a rights request was closed.
    RequestClosed,
}

impl Anchor {
    pub const ALL: [(&'static str, Anchor); 7] = [
        ("collection", Anchor::Collection),
        ("course_end", Anchor::CourseEnd),
        ("event_end", Anchor::EventEnd),
        ("order_completed", Anchor::OrderCompleted),
        ("withdrawal", Anchor::Withdrawal),
        ("financial_year_end", Anchor::FinancialYearEnd),
        ("request_closed", Anchor::RequestClosed),
    ];

    pub fn key(self) -> &'static str {
        Self::ALL.iter().find(|(_, a)| *a == self).map(|(k, _)| *k).unwrap_or("collection")
    }

    pub fn from_key(key: &str) -> Option<Anchor> {
        Self::ALL.iter().find(|(k, _)| *k == key).map(|(_, a)| *a)
    }

    /// "after …" phrase for the notice.
    fn phrase(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Anchor::Collection, Lang::Da) => "efter indsamling",
            (Anchor::Collection, Lang::En) => "after collection",
            (Anchor::CourseEnd, Lang::Da) => "efter endt kursus",
            (Anchor::CourseEnd, Lang::En) => "after the course ends",
            (Anchor::EventEnd, Lang::Da) => "efter arrangementets afslutning",
            (Anchor::EventEnd, Lang::En) => "after the event ends",
            (Anchor::OrderCompleted, Lang::Da) => "efter ordren er afsluttet",
            (Anchor::OrderCompleted, Lang::En) => "after the order is completed",
            (Anchor::Withdrawal, Lang::Da) => "efter du har trukket dit samtykke tilbage eller gjort indsigelse",
            (Anchor::Withdrawal, Lang::En) => "after you withdraw your consent or object",
            (Anchor::FinancialYearEnd, Lang::Da) => "efter udgangen af regnskabsåret",
            (Anchor::FinancialYearEnd, Lang::En) => "after the end of the financial year",
            (Anchor::RequestClosed, Lang::Da) => "efter din anmodning er afsluttet",
            (Anchor::RequestClosed, Lang::En) => "after your request is closed",
        }
    }

    /// "until …" phrase, for a rule with no period after the anchor.
    fn until_phrase(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Anchor::Collection, Lang::Da) => "kun så længe behandlingen står på",
            (Anchor::Collection, Lang::En) => "only while it is being processed",
            (Anchor::CourseEnd, Lang::Da) => "indtil umiddelbart efter endt kursus",
            (Anchor::CourseEnd, Lang::En) => "until right after the course ends",
            (Anchor::EventEnd, Lang::Da) => "indtil umiddelbart efter arrangementet",
            (Anchor::EventEnd, Lang::En) => "until right after the event",
            (Anchor::OrderCompleted, Lang::Da) => "indtil ordren er afsluttet",
            (Anchor::OrderCompleted, Lang::En) => "until the order is completed",
            (Anchor::Withdrawal, Lang::Da) => "indtil du trækker dit samtykke tilbage",
            (Anchor::Withdrawal, Lang::En) => "until you withdraw your consent",
            (Anchor::FinancialYearEnd, Lang::Da) => "indtil udgangen af regnskabsåret",
            (Anchor::FinancialYearEnd, Lang::En) => "until the end of the financial year",
            (Anchor::RequestClosed, Lang::Da) => "indtil din anmodning er afsluttet",
            (Anchor::RequestClosed, Lang::En) => "until your request is closed",
        }
    }
}

/// A calendar period: years, then months, then days are added in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Period {
    pub years: u16,
    pub months: u16,
    pub days: u16,
}

impl Period {
    pub fn is_zero(&self) -> bool {
        self.years == 0 && self.months == 0 && self.days == 0
    }

    fn describe(&self, lang: Lang) -> String {
        let units: [(u16, &str, &str); 3] = match lang {
            Lang::Da => [(self.years, "år", "år"), (self.months, "måned", "måneder"), (self.days, "dag", "dage")],
            Lang::En => [(self.years, "year", "years"), (self.months, "month", "months"), (self.days, "day", "days")],
        };
        let parts: Vec<String> = units
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
            .collect();
        let and = match lang {
            Lang::Da => " og ",
            Lang::En => " and ",
        };
        match parts.as_slice() {
            [] => String::new(),
            [only] => only.clone(),
            [init @ .., last] => format!("{}{and}{last}", init.join(", ")),
        }
    }
}

/// A record Pactum keeps about its own duties rather than about a person's data: it holds
/// pseudonymous ids only, and is kept as long as it documents that the duty was done (art. 5(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordClass {
    /// The Art. 19 notices to recipients (L4), kept from delivery, or from when delivery was given up.
    RecipientNotifications,
    /// The register of personal-data breaches (Art. 33(5), L9), kept from when a breach was recorded.
    Incidents,
}

impl RecordClass {
    pub const ALL: [(&'static str, RecordClass); 2] =
        [("recipient_notifications", RecordClass::RecipientNotifications), ("incidents", RecordClass::Incidents)];

    pub fn key(self) -> &'static str {
        Self::ALL.iter().find(|(_, c)| *c == self).map(|(k, _)| *k).unwrap_or("incidents")
    }

    /// The event the retention of this record counts from, in words.
    pub fn anchor_phrase(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (RecordClass::RecipientNotifications, Lang::Da) => "efter underretningen er leveret eller opgivet",
            (RecordClass::RecipientNotifications, Lang::En) => "after the notice was delivered or given up",
            (RecordClass::Incidents, Lang::Da) => "efter bruddet er registreret",
            (RecordClass::Incidents, Lang::En) => "after the breach was recorded",
        }
    }
}

/// How long the policy keeps one class of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordRule {
    pub class: RecordClass,
    pub label: crate::model::Text,
    pub period: Period,
}

impl RecordRule {
    /// The last day a record may be kept, given the day its retention counts from.
    pub fn retain_until(&self, anchor_date: Date) -> Date {
        add_period(anchor_date, self.period)
    }

    /// The rule in words, e.g. "5 år efter bruddet er registreret".
    pub fn describe(&self, lang: Lang) -> String {
        let period = self.period.describe(lang);
        let period = if period.is_empty() { "0".to_string() } else { period };
        format!("{period} {}", self.class.anchor_phrase(lang))
    }

    /// A day such that every record whose retention counted from an earlier day may have run out by
    /// `today`, and none from that day on has: a bound for the query, refined by
    /// [`retain_until`](Self::retain_until). A year is at least 365 days and a month at least 28.
    pub fn candidates_before(&self, today: Date) -> Date {
        let shortest =
            i64::from(self.period.years) * 365 + i64::from(self.period.months) * 28 + i64::from(self.period.days);
        today.checked_sub(time::Duration::days(shortest)).unwrap_or(Date::MIN)
    }
}

/// How long a purpose may hold its data: a period after an anchor event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionRule {
    pub anchor: Anchor,
    pub period: Period,
}

impl RetentionRule {
    /// The last day the data may be kept, given the date of the anchor event.
    ///
    /// For `FinancialYearEnd` the anchor date is the day the record was made (an invoice date);
    /// the period counts from the end of the financial year that contains it.
    pub fn retain_until(&self, anchor_date: Date, financial_year_end: (u8, u8)) -> Date {
        let start = match self.anchor {
            Anchor::FinancialYearEnd => financial_year_end_on_or_after(anchor_date, financial_year_end),
            _ => anchor_date,
        };
        add_period(start, self.period)
    }

    /// The rule in words, e.g. "5 år efter endt kursus".
    pub fn describe(&self, lang: Lang) -> String {
        if self.period.is_zero() {
            self.anchor.until_phrase(lang).to_string()
        } else {
            format!("{} {}", self.period.describe(lang), self.anchor.phrase(lang))
        }
    }
}

/// Whether data kept until `retain_until` must be gone on `today`.
pub fn is_expired(retain_until: Date, today: Date) -> bool {
    today > retain_until
}

/// Adds a calendar period, clamping to the last day of a month where the day does not exist.
pub fn add_period(date: Date, period: Period) -> Date {
    let total_months = i64::from(date.year()) * 12
        + i64::from(u8::from(date.month()) - 1)
        + i64::from(period.years) * 12
        + i64::from(period.months);
    let year = i32::try_from(total_months.div_euclid(12)).unwrap_or(i32::MAX);
    let month_index = u8::try_from(total_months.rem_euclid(12)).unwrap_or(0) + 1;
    let shifted = clamped_date(year, month_index, date.day()).unwrap_or(Date::MAX);
    shifted.checked_add(time::Duration::days(i64::from(period.days))).unwrap_or(Date::MAX)
}

/// The last day of the financial year that contains `date`.
pub fn financial_year_end_on_or_after(date: Date, (month, day): (u8, u8)) -> Date {
    let this_year = clamped_date(date.year(), month, day).unwrap_or(Date::MAX);
    if this_year >= date { this_year } else { clamped_date(date.year() + 1, month, day).unwrap_or(Date::MAX) }
}

/// A date, with the day clamped to the month's length; `None` when the year or month is out of range.
pub fn clamped_date(year: i32, month: u8, day: u8) -> Option<Date> {
    let month = Month::try_from(month).ok()?;
    let last = month.length(year);
    Date::from_calendar_date(year, month, day.min(last)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const CALENDAR_YEAR: (u8, u8) = (12, 31);

    fn rule(anchor: Anchor, years: u16, months: u16, days: u16) -> RetentionRule {
        RetentionRule { anchor, period: Period { years, months, days } }
    }

    #[test]
    fn p18_participation_is_kept_five_years_after_course_end() {
        let r = rule(Anchor::CourseEnd, 5, 0, 0);
        assert_eq!(r.retain_until(date!(2025 - 03 - 15), CALENDAR_YEAR), date!(2030 - 03 - 15));
        assert!(!is_expired(date!(2030 - 03 - 15), date!(2030 - 03 - 15)));
        assert!(is_expired(date!(2030 - 03 - 15), date!(2030 - 03 - 16)));
    }

    #[test]
    fn p18_course_ending_29_february_is_kept_until_28_february() {
        let r = rule(Anchor::CourseEnd, 5, 0, 0);
        assert_eq!(r.retain_until(date!(2028 - 02 - 29), CALENDAR_YEAR), date!(2033 - 02 - 28));
        // Four years lands on a leap day again and keeps it.
        let four = rule(Anchor::CourseEnd, 4, 0, 0);
        assert_eq!(four.retain_until(date!(2028 - 02 - 29), CALENDAR_YEAR), date!(2032 - 02 - 29));
    }

    #[test]
    fn l6_invoice_is_kept_five_years_after_the_financial_year_ends() {
        let r = rule(Anchor::FinancialYearEnd, 5, 0, 0);
        assert_eq!(r.retain_until(date!(2025 - 03 - 15), CALENDAR_YEAR), date!(2030 - 12 - 31));
        assert_eq!(r.retain_until(date!(2025 - 12 - 31), CALENDAR_YEAR), date!(2030 - 12 - 31));
        assert_eq!(r.retain_until(date!(2026 - 01 - 01), CALENDAR_YEAR), date!(2031 - 12 - 31));
    }

    #[test]
    fn l6_financial_year_ending_30_june() {
        let r = rule(Anchor::FinancialYearEnd, 5, 0, 0);
        assert_eq!(r.retain_until(date!(2025 - 03 - 15), (6, 30)), date!(2030 - 06 - 30));
        assert_eq!(r.retain_until(date!(2025 - 07 - 01), (6, 30)), date!(2031 - 06 - 30));
    }

    #[test]
    fn p20_newsletter_contact_kept_thirty_days_after_withdrawal() {
        let r = rule(Anchor::Withdrawal, 0, 0, 30);
        assert_eq!(r.retain_until(date!(2026 - 01 - 15), CALENDAR_YEAR), date!(2026 - 02 - 14));
    }

    #[test]
    fn month_addition_clamps_to_month_end() {
        assert_eq!(add_period(date!(2026 - 01 - 31), Period { years: 0, months: 1, days: 0 }), date!(2026 - 02 - 28));
        assert_eq!(add_period(date!(2028 - 01 - 31), Period { years: 0, months: 1, days: 0 }), date!(2028 - 02 - 29));
        assert_eq!(add_period(date!(2026 - 12 - 31), Period { years: 0, months: 2, days: 0 }), date!(2027 - 02 - 28));
    }

    #[test]
    fn rules_are_described_in_words() {
        assert_eq!(rule(Anchor::CourseEnd, 5, 0, 0).describe(Lang::Da), "5 år efter endt kursus");
        assert_eq!(rule(Anchor::CourseEnd, 5, 0, 0).describe(Lang::En), "5 years after the course ends");
        assert_eq!(
            rule(Anchor::Withdrawal, 0, 0, 30).describe(Lang::En),
            "30 days after you withdraw your consent or object"
        );
        assert_eq!(rule(Anchor::CourseEnd, 0, 0, 0).describe(Lang::Da), "indtil umiddelbart efter endt kursus");
        assert_eq!(rule(Anchor::Collection, 1, 2, 1).describe(Lang::En), "1 year, 2 months and 1 day after collection");
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (1990i32..2200, 1u8..=12, 1u8..=31).prop_filter_map("valid date", |(y, m, d)| clamped_date(y, m, d))
    }

    proptest! {
        #[test]
        fn retain_until_is_never_before_the_anchor(d in any_date(), y in 0u16..20, m in 0u16..30, days in 0u16..400) {
            let r = rule(Anchor::CourseEnd, y, m, days);
            prop_assert!(r.retain_until(d, CALENDAR_YEAR) >= d);
        }

        #[test]
        fn years_keep_month_and_day_unless_clamped(d in any_date(), y in 0u16..20) {
            let out = add_period(d, Period { years: y, months: 0, days: 0 });
            prop_assert_eq!(out.year(), d.year() + i32::from(y));
            prop_assert_eq!(out.month(), d.month());
            prop_assert!(out.day() == d.day() || (d.day() == 29 && out.day() == 28));
        }

        #[test]
        fn financial_year_end_contains_the_date(d in any_date(), m in 1u8..=12, day in 1u8..=31) {
            let end = financial_year_end_on_or_after(d, (m, day));
            prop_assert!(end >= d);
            prop_assert!((end - d).whole_days() < 366);
        }
    }
}
