//! A small fixed-window rate limiter keyed on the peer address (never on a client-supplied header).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_window: u32,
    window: Duration,
    state: Mutex<(Instant, HashMap<IpAddr, u32>)>,
}

impl RateLimiter {
    pub fn per_minute(limit: u32) -> RateLimiter {
        RateLimiter {
            per_window: limit,
            window: Duration::from_secs(60),
            state: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Counts one request from `ip`; false when it is over the limit for the current window.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (started, counts) = &mut *guard;
        if started.elapsed() >= self.window {
            *started = Instant::now();
            counts.clear();
        }
        let count = counts.entry(ip).or_insert(0);
        *count = count.saturating_add(1);
        *count <= self.per_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_limit_per_address() {
        let limiter = RateLimiter::per_minute(3);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert!(limiter.allow(a) && limiter.allow(a) && limiter.allow(a));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
    }
}
