//! Per-device rate limits: a token bucket for messages and one for bytes.
//!
//! A device publishing far above its rate (a firmware loop, a hostile hub) must not take Kafka
//! throughput or router memory from its neighbours: past the limit its publishes are refused at
//! its own session, counted, and summarised in at most one dead letter per second.

use std::time::Instant;

struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64) -> Self {
        let burst = (rate * 2.0).max(1.0);
        Bucket {
            tokens: burst,
            rate,
            burst,
        }
    }

    fn refill(&mut self, secs: f64) {
        self.tokens = (self.tokens + secs * self.rate).min(self.burst);
    }
}

pub struct RateLimit {
    msgs: Bucket,
    bytes: Bucket,
    last: Instant,
}

impl RateLimit {
    pub fn new(msgs_per_sec: u32, bytes_per_sec: u64) -> Self {
        RateLimit {
            msgs: Bucket::new(msgs_per_sec as f64),
            bytes: Bucket::new(bytes_per_sec as f64),
            last: Instant::now(),
        }
    }

    /// Whether a message of `bytes` may pass now (takes its tokens if so).
    pub fn allow(&mut self, bytes: usize, now: Instant) -> bool {
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.msgs.refill(secs);
        self.bytes.refill(secs);
        let bytes = bytes as f64;
        if self.msgs.tokens >= 1.0 && self.bytes.tokens >= bytes.min(self.bytes.burst) {
            self.msgs.tokens -= 1.0;
            self.bytes.tokens -= bytes;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_sustains_the_rate() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, 1_000_000);
        let passed = (0..100).filter(|_| limit.allow(10, t0)).count();
        assert_eq!(passed, 20, "burst is twice the rate");
        assert!(!limit.allow(10, t0 + Duration::from_millis(50)));
        assert!(limit.allow(10, t0 + Duration::from_millis(150)));
    }

    #[test]
    fn bytes_are_limited_too() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(1_000, 1_000);
        assert!(limit.allow(1_500, t0));
        assert!(!limit.allow(1_000, t0));
        assert!(limit.allow(1_000, t0 + Duration::from_secs(1)));
    }
}
