//! Per-device rate limits: a token bucket for messages and one for bytes.
//!
//! A device publishing far above its rate (a firmware loop, a hostile hub) must not take Kafka
//! throughput or router memory from its neighbours. Past the limit, its session (`session.rs`)
//! slows a QoS 1 publisher down — it reads nothing more from that socket until the budget allows,
//! so a hub catching up after an outage loses nothing — and refuses QoS 0 publishes (at most once
//! by the sender's own choice), counted and summarised in at most one dead letter a second.

use std::time::{Duration, Instant};

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

    /// How long until a message of `bytes` would pass (zero if it would now).
    pub fn wait_time(&self, bytes: usize, now: Instant) -> Duration {
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        let short = |b: &Bucket, need: f64| {
            let have = (b.tokens + secs * b.rate).min(b.burst);
            if have >= need || b.rate <= 0.0 {
                0.0
            } else {
                (need - have) / b.rate
            }
        };
        let bytes = (bytes as f64).min(self.bytes.burst);
        Duration::from_secs_f64(short(&self.msgs, 1.0).max(short(&self.bytes, bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_sustains_the_rate() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, 1_000_000);
        let passed = (0..100).filter(|_| limit.allow(10, t0)).count();
        assert_eq!(passed, 20, "burst is twice the rate");
        assert!(!limit.allow(10, t0 + Duration::from_millis(50)));
        let wait = limit.wait_time(10, t0 + Duration::from_millis(50));
        assert!(
            wait > Duration::from_millis(40) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
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
