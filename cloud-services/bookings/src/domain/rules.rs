//! The configurable booking rules, as pure functions of times (the database queries that feed
//! them live in `db`, the locking that makes them race-free in `http::appointments`).

use chrono::{DateTime, Duration, Utc};
use episante_kit::Refused;

use crate::config::BookingsConfig;
use crate::domain::schedule::Span;

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Patients may cancel or reschedule until this long before the start.
    pub cancellation_window: Duration,
    /// Two active appointments of one patient and specialty must start at least this far apart;
    /// zero disables the rule.
    pub same_specialty_min: Duration,
    /// How long a freed slot is held for the first patient on the waitlist.
    pub waitlist_hold: Duration,
}

impl Rules {
    pub fn from_config(config: &BookingsConfig) -> Self {
        Rules {
            cancellation_window: Duration::hours(config.cancellation_window_hours as i64),
            same_specialty_min: Duration::days(config.same_specialty_min_days as i64),
            waitlist_hold: Duration::seconds(config.waitlist_hold_secs.min(i64::MAX as u64) as i64),
        }
    }

    /// When a patient's cancellation of an appointment starting at `starts_at` closes.
    pub fn cancellation_deadline(&self, starts_at: DateTime<Utc>) -> DateTime<Utc> {
        starts_at - self.cancellation_window
    }

    /// Refused once the cancellation window has closed.
    pub fn check_patient_may_cancel(
        &self,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Refused> {
        let deadline = self.cancellation_deadline(starts_at);
        if now > deadline {
            return Err(Refused(format!(
                "cancellation closed at {} ({} h before the appointment)",
                deadline.to_rfc3339(),
                self.cancellation_window.num_hours()
            )));
        }
        Ok(())
    }

    /// The starts another appointment of the same patient and specialty may not fall in, or
    /// `None` when the rule is off.
    pub fn same_specialty_exclusion(&self, starts_at: DateTime<Utc>) -> Option<Span> {
        (self.same_specialty_min > Duration::zero()).then(|| Span {
            start: starts_at - self.same_specialty_min + Duration::microseconds(1),
            end: starts_at + self.same_specialty_min,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::from_config(&BookingsConfig::default())
    }

    #[test]
    fn cancellation_closes_four_hours_before_by_default() {
        let start: DateTime<Utc> = "2026-05-04T10:00:00Z".parse().unwrap();
        let r = rules();
        assert!(r
            .check_patient_may_cancel(start, start - Duration::hours(5))
            .is_ok());
        assert!(r
            .check_patient_may_cancel(start, start - Duration::hours(4))
            .is_ok());
        assert!(r
            .check_patient_may_cancel(start, start - Duration::hours(4) + Duration::seconds(1))
            .is_err());
    }

    #[test]
    fn same_specialty_window_is_open_at_exactly_n_days() {
        let start: DateTime<Utc> = "2026-05-04T10:00:00Z".parse().unwrap();
        let span = rules().same_specialty_exclusion(start).unwrap();
        let seven = Duration::days(7);
        assert!(span.start > start - seven && span.end == start + seven);
        let off = Rules {
            same_specialty_min: Duration::zero(),
            ..rules()
        };
        assert!(off.same_specialty_exclusion(start).is_none());
    }
}
