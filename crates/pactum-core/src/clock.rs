//! Time, injected everywhere it matters, so tests can move it forward (DESIGN: Time).

use std::sync::{Arc, Mutex, PoisonError};

use pactum_store::Micros;
use time::{Date, OffsetDateTime};

pub trait Clock: Clone + Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    fn today(&self) -> Date {
        self.now().date()
    }

    fn now_micros(&self) -> Micros {
        to_micros(self.now())
    }
}

pub fn to_micros(t: OffsetDateTime) -> Micros {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub fn from_micros(m: Micros) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A moment as `2026-12-07 19:41:08`, for messages to operators.
pub fn clock_text(m: Micros) -> String {
    let t = from_micros(m);
    format!("{} {:02}:{:02}:{:02}", pactum_store::date_to_text(t.date()), t.hour(), t.minute(), t.second())
}

/// The real clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until told to move. Only tests and the explicit test mode use it.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn at(start: OffsetDateTime) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, to: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }

    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
