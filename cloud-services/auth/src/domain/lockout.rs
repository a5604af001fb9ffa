//! Login back-off: slows password guessing without handing strangers a way to lock users out.
//!
//! Two counters, both incremented atomically in the database (concurrent failures all count):
//! the account's consecutive failures, and the failures per (account, client address). After
//! `threshold` failures the account backs off for `base`, doubling with each further failure up to
//! `max` (1 s, 2 s, 4 s … 15 min by default); a pair that failed `threshold` times backs off the
//! same way on its own count.
//!
//! The back-off is applied only to addresses that have failed against the account in the last
//! [`PAIR_MEMORY`]: an address that has not been failing (the user's own laptop, the clinic) is
//! never held back, so a stranger hammering the admin's account from elsewhere locks out only
//! himself. The cost: a distributed attacker gets one fresh guess per new address before that
//! address backs off too — bounded further by the per-address limit (`login_throttle`) and, for
//! staff, made useless by the second factor. A held-back attempt is answered exactly like a wrong
//! password for an unknown email (same status, body and Argon2 work): lockout reveals nothing.

use chrono::{DateTime, Duration, Utc};

/// How long a failing address stays "failing" for an account after its last failure.
pub const PAIR_MEMORY: Duration = Duration::hours(24);

/// Failures of one client address against one account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddressFailures {
    pub failures: i32,
    pub last_failed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub base: Duration,
    pub max: Duration,
}

impl LockoutPolicy {
    /// The back-off after `failures` consecutive failures: none below the threshold, then `base`
    /// doubling per further failure, capped at `max`.
    pub fn window(&self, failures: i32) -> Duration {
        let threshold = self.threshold.max(1) as i64;
        let over = failures as i64 - threshold;
        if over < 0 {
            return Duration::zero();
        }
        let factor = 1i64 << over.min(40);
        let ms = self.base.num_milliseconds().saturating_mul(factor);
        Duration::milliseconds(ms).min(self.max)
    }

    /// Whether an attempt on an account from an address with `pair` failures is held back (refused
    /// without checking the password) at `now`. Clean addresses never are.
    pub fn held_back(
        &self,
        account_locked_until: Option<DateTime<Utc>>,
        pair: Option<AddressFailures>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(pair) = pair.filter(|p| p.last_failed_at + PAIR_MEMORY > now) else {
            return false;
        };
        account_locked_until.is_some_and(|until| until > now)
            || pair.last_failed_at + self.window(pair.failures) > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            threshold: 5,
            base: Duration::seconds(1),
            max: Duration::minutes(15),
        }
    }

    #[test]
    fn backs_off_exponentially_after_the_threshold_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.window(4), Duration::zero());
        assert_eq!(p.window(5), Duration::seconds(1));
        assert_eq!(p.window(6), Duration::seconds(2));
        assert_eq!(p.window(9), Duration::seconds(16));
        assert_eq!(p.window(20), Duration::minutes(15));
        assert_eq!(p.window(i32::MAX), Duration::minutes(15), "no overflow");
    }

    #[test]
    fn only_failing_addresses_are_held_back() {
        let p = policy();
        let now = Utc::now();
        let locked = Some(now + Duration::minutes(10));
        assert!(
            !p.held_back(locked, None, now),
            "a clean address gets through"
        );
        let failing = AddressFailures {
            failures: 1,
            last_failed_at: now - Duration::seconds(1),
        };
        assert!(p.held_back(locked, Some(failing), now));
        assert!(!p.held_back(None, Some(failing), now), "account not locked");
        // Its own count backs a failing address off even once the account is unlocked.
        let hammering = AddressFailures {
            failures: 12,
            last_failed_at: now - Duration::seconds(60),
        };
        assert!(p.held_back(None, Some(hammering), now));
        // Forgotten after a day.
        let old = AddressFailures {
            failures: 50,
            last_failed_at: now - Duration::hours(25),
        };
        assert!(!p.held_back(locked, Some(old), now));
    }
}
