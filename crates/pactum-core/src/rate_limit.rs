//! A small fixed-window rate limiter, kept in memory, keyed on the peer address (never on a
//! client-supplied header) or on another key: the blind index of an e-mail address, a person and
//! what they signed up for.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct RateLimiter<K = IpAddr> {
    per_window: u32,
    window: Duration,
    state: Mutex<(Instant, HashMap<K, u32>)>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn per_minute(limit: u32) -> RateLimiter<K> {
        Self::per_window(limit, Duration::from_secs(60))
    }

    pub fn per_window(limit: u32, window: Duration) -> RateLimiter<K> {
        RateLimiter { per_window: limit, window, state: Mutex::new((Instant::now(), HashMap::new())) }
    }

    /// Counts one request for `key`; false when it is over the limit for the current window.
    pub fn allow(&self, key: K) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (started, counts) = &mut *guard;
        if started.elapsed() >= self.window {
            *started = Instant::now();
            counts.clear();
        }
        let count = counts.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        *count <= self.per_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_per_address() {
        let limiter: RateLimiter = RateLimiter::per_minute(3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert!(limiter.allow(a) && limiter.allow(a) && limiter.allow(a));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
    }
}
