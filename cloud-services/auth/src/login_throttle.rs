//! Per-IP login throttling: the other half of brute-force protection.
//!
//! Account lockout (in the database) stops guessing one account's password; this stops one address
//! from spraying guesses across many accounts. It counts attempts per IP in fixed one-minute
//! windows, in memory: a restart forgets, which is acceptable for a throttle and keeps logins off
//! the database for rejected attempts. Several instances each throttle independently, so the
//! effective limit scales with instances — the gateway's rate limit is the global one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked addresses, expired windows are swept on insert.
const SWEEP_ABOVE: usize = 10_000;

pub struct LoginThrottle {
    per_window: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginThrottle {
    pub fn new(attempts_per_minute: u32) -> Self {
        LoginThrottle {
            per_window: attempts_per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `ip`; `Err(wait)` when over the limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("throttle poisoned");
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (started, _)| now.duration_since(*started) < WINDOW);
        }
        let (started, count) = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(*started) >= WINDOW {
            *started = now;
            *count = 0;
        }
        if *count >= self.per_window {
            return Err(WINDOW.saturating_sub(now.duration_since(*started)));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address() {
        let throttle = LoginThrottle::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.check(a).is_ok());
        }
        let wait = throttle.check(a).unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(50));
        assert!(throttle.check(b).is_ok());
    }
}
