//! Weekly availability templates, exceptions and slot generation.
//!
//! A practitioner's week is described in *wall-clock* time of their own zone ("Mondays 09:00 to
//! 12:00 in Europe/Paris"), because that is how people plan. Slots are generated per local date
//! and only then turned into instants, so a 09:00 slot stays at 09:00 local on both sides of a
//! DST change (and moves by an hour in UTC). Local times that do not exist (the spring-forward
//! gap) yield no slot; local times that happen twice (the fall-back overlap) yield one slot, at
//! the earlier instant, so slots never overlap. Exceptions (holidays, absences) are instant
//! ranges: whatever overlaps one is not offered.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use episante_kit::Invalid;

/// A half-open instant range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// One weekly window: on `weekday`, from `start` to `end` local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyWindow {
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl WeeklyWindow {
    /// Parses `weekday` (`mon`/`monday`, any case) and `HH:MM[:SS]` times; `end` after `start`.
    pub fn parse(weekday: &str, start: &str, end: &str) -> Result<Self, Invalid> {
        let weekday = weekday
            .trim()
            .parse::<Weekday>()
            .map_err(|_| Invalid(format!("weekday {weekday:?} is not a day (mon … sun)")))?;
        let start = parse_time("start", start)?;
        let end = parse_time("end", end)?;
        if end <= start {
            return Err(Invalid(format!(
                "window end {end} must be after its start {start} (windows cannot cross midnight)"
            )));
        }
        Ok(WeeklyWindow {
            weekday,
            start,
            end,
        })
    }
}

fn parse_time(field: &str, value: &str) -> Result<NaiveTime, Invalid> {
    let value = value.trim();
    NaiveTime::parse_from_str(value, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(value, "%H:%M:%S"))
        .map_err(|_| Invalid(format!("{field} {value:?} is not a time (HH:MM)")))
}

/// Refuses overlapping windows on one weekday (they would offer the same slot twice).
pub fn check_windows(windows: &[WeeklyWindow]) -> Result<(), Invalid> {
    if windows.len() > 100 {
        return Err(Invalid("at most 100 weekly windows".into()));
    }
    let mut sorted = windows.to_vec();
    sorted.sort_by_key(|w| (w.weekday.number_from_monday(), w.start));
    for pair in sorted.windows(2) {
        if pair[0].weekday == pair[1].weekday && pair[1].start < pair[0].end {
            return Err(Invalid(format!(
                "windows on {} overlap ({}–{} and {}–{})",
                pair[0].weekday, pair[0].start, pair[0].end, pair[1].start, pair[1].end
            )));
        }
    }
    Ok(())
}

/// The instant a local wall-clock time denotes in `tz`: the earlier one when it happens twice,
/// `None` when it does not exist (DST gap).
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The first instant of local date `date` in `tz` (midnight, or the first existing minute after
/// it in zones that skip midnight).
pub fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    (0..=24 * 60)
        .find_map(|m| local_instant(tz, midnight + Duration::minutes(m)))
        // Unreachable: no zone skips a whole day's minutes within a day.
        .unwrap_or_else(|| midnight.and_utc())
}

/// Whole local days `from..=to` as an instant range.
pub fn days_span(tz: Tz, from: NaiveDate, to: NaiveDate) -> Span {
    Span {
        start: start_of_day(tz, from),
        end: start_of_day(tz, to.succ_opt().unwrap_or(to)),
    }
}

/// What slot generation needs to know about one practitioner.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub tz: Tz,
    pub windows: Vec<WeeklyWindow>,
    pub exceptions: Vec<Span>,
}

impl Schedule {
    /// Slots of `duration` on local dates `from..=to`, in time order, minus those overlapping an
    /// exception. Booked or held slots are the caller's business.
    pub fn slots(&self, duration: Duration, from: NaiveDate, to: NaiveDate) -> Vec<Span> {
        let mut slots = Vec::new();
        let step = duration.num_seconds();
        if step <= 0 {
            return slots;
        }
        let mut windows = self.windows.clone();
        windows.sort_by_key(|w| w.start);
        let mut date = from;
        while date <= to {
            for window in windows.iter().filter(|w| w.weekday == date.weekday()) {
                let end = seconds_of_day(window.end);
                let mut at = seconds_of_day(window.start);
                while at + step <= end {
                    let local = date.and_time(NaiveTime::MIN) + Duration::seconds(at);
                    if let Some(start) = local_instant(self.tz, local) {
                        let slot = Span {
                            start,
                            end: start + duration,
                        };
                        if !self.exceptions.iter().any(|e| e.overlaps(&slot)) {
                            slots.push(slot);
                        }
                    }
                    at += step;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        slots.sort();
        slots.dedup();
        slots
    }

    /// The slot of `duration` starting exactly at `start`, if the schedule offers one.
    pub fn slot_at(&self, duration: Duration, start: DateTime<Utc>) -> Option<Span> {
        let date = start.with_timezone(&self.tz).date_naive();
        self.slots(duration, date, date)
            .into_iter()
            .find(|s| s.start == start)
    }
}

fn seconds_of_day(t: NaiveTime) -> i64 {
    use chrono::Timelike;
    t.num_seconds_from_midnight() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris_mornings() -> Schedule {
        let windows = [Weekday::Sat, Weekday::Sun, Weekday::Mon]
            .into_iter()
            .map(|d| WeeklyWindow {
                weekday: d,
                start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            })
            .collect();
        Schedule {
            tz: chrono_tz::Europe::Paris,
            windows,
            exceptions: vec![],
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn local_nine_o_clock_survives_spring_forward() {
        // 2026-03-29 03:00 CET → CEST: Saturday is UTC+1, Sunday and Monday UTC+2.
        let slots = paris_mornings().slots(
            Duration::minutes(30),
            date("2026-03-28"),
            date("2026-03-30"),
        );
        let starts: Vec<_> = slots.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-03-28T08:00:00Z"),
                utc("2026-03-28T08:30:00Z"),
                utc("2026-03-29T07:00:00Z"),
                utc("2026-03-29T07:30:00Z"),
                utc("2026-03-30T07:00:00Z"),
                utc("2026-03-30T07:30:00Z"),
            ]
        );
    }

    #[test]
    fn local_nine_o_clock_survives_fall_back() {
        // 2026-10-25 03:00 CEST → 02:00 CET.
        let slots = paris_mornings().slots(
            Duration::minutes(60),
            date("2026-10-24"),
            date("2026-10-26"),
        );
        let starts: Vec<_> = slots.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-10-24T07:00:00Z"),
                utc("2026-10-25T08:00:00Z"),
                utc("2026-10-26T08:00:00Z"),
            ]
        );
    }

    #[test]
    fn night_windows_skip_the_gap_and_never_overlap_in_the_repeated_hour() {
        let night = |weekday| Schedule {
            tz: chrono_tz::Europe::Paris,
            windows: vec![WeeklyWindow {
                weekday,
                start: NaiveTime::from_hms_opt(1, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
            }],
            exceptions: vec![],
        };
        // Spring: 02:00 and 02:30 do not exist.
        let spring = night(Weekday::Sun).slots(
            Duration::minutes(30),
            date("2026-03-29"),
            date("2026-03-29"),
        );
        assert_eq!(spring.len(), 4, "{spring:?}");
        assert_eq!(spring[1].start, utc("2026-03-29T00:30:00Z"));
        assert_eq!(spring[2].start, utc("2026-03-29T01:00:00Z")); // 03:00 CEST
                                                                  // Autumn: 02:00 and 02:30 happen twice; offered once, at the earlier instant.
        let autumn = night(Weekday::Sun).slots(
            Duration::minutes(30),
            date("2026-10-25"),
            date("2026-10-25"),
        );
        assert_eq!(autumn.len(), 6, "{autumn:?}");
        for pair in autumn.windows(2) {
            assert!(!pair[0].overlaps(&pair[1]), "{pair:?}");
        }
        assert_eq!(autumn[2].start, utc("2026-10-25T00:00:00Z")); // 02:00 CEST
        assert_eq!(autumn[4].start, utc("2026-10-25T02:00:00Z")); // 03:00 CET
    }

    #[test]
    fn exceptions_remove_overlapping_slots_and_days_span_dst_days() {
        let mut schedule = paris_mornings();
        let day = days_span(schedule.tz, date("2026-03-29"), date("2026-03-29"));
        assert_eq!(day.end - day.start, Duration::hours(23));
        schedule.exceptions.push(day);
        let slots = schedule.slots(
            Duration::minutes(30),
            date("2026-03-28"),
            date("2026-03-30"),
        );
        assert_eq!(slots.len(), 4);
        assert!(slots.iter().all(|s| !s.overlaps(&day)));
        assert!(schedule
            .slot_at(Duration::minutes(30), utc("2026-03-29T07:00:00Z"))
            .is_none());
        assert!(schedule
            .slot_at(Duration::minutes(30), utc("2026-03-30T07:30:00Z"))
            .is_some());
        assert!(schedule
            .slot_at(Duration::minutes(30), utc("2026-03-30T07:10:00Z"))
            .is_none());
    }

    #[test]
    fn windows_are_parsed_and_overlaps_refused() {
        let w = WeeklyWindow::parse("Monday", "09:00", "12:30").unwrap();
        assert_eq!(w.weekday, Weekday::Mon);
        assert!(WeeklyWindow::parse("mon", "12:00", "09:00").is_err());
        assert!(WeeklyWindow::parse("someday", "09:00", "10:00").is_err());
        assert!(WeeklyWindow::parse("mon", "9h", "10:00").is_err());
        let b = WeeklyWindow::parse("mon", "12:00", "13:00").unwrap();
        assert!(check_windows(&[w, b]).is_err());
        let c = WeeklyWindow::parse("mon", "12:30", "13:00").unwrap();
        assert!(check_windows(&[w, c]).is_ok());
    }
}
