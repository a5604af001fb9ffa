//! How a time reads in a message: in the practitioner's zone (where the appointment happens),
//! named, in the recipient's language — "Tuesday 8 December 2026, 09:30 (Europe/Paris)", "mardi
//! 8 décembre 2026, 09:30 (Europe/Paris)". Names are spelled here rather than through chrono's
//! locale feature: two languages, and the wording is ours to review.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use episante_kit::Language;

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const FR_DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// `at` in `zone`, written for `language`.
pub fn describe(at: DateTime<Utc>, zone: Tz, language: Language) -> String {
    let local = at.with_timezone(&zone);
    let day = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let (days, months) = match language {
        Language::En => (EN_DAYS, EN_MONTHS),
        Language::Fr => (FR_DAYS, FR_MONTHS),
    };
    format!(
        "{} {} {} {}, {:02}:{:02} ({})",
        days[day],
        local.day(),
        months[month],
        local.year(),
        local.hour(),
        local.minute(),
        zone.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_read_in_the_practitioners_zone_and_the_recipients_language() {
        // 08:30 UTC on 8 December is 09:30 in Paris (winter), 08:30 in London.
        let at = Utc.with_ymd_and_hms(2026, 12, 8, 8, 30, 0).unwrap();
        let table = [
            (
                chrono_tz::Europe::Paris,
                Language::En,
                "Tuesday 8 December 2026, 09:30 (Europe/Paris)",
            ),
            (
                chrono_tz::Europe::Paris,
                Language::Fr,
                "mardi 8 décembre 2026, 09:30 (Europe/Paris)",
            ),
            (
                chrono_tz::Europe::London,
                Language::En,
                "Tuesday 8 December 2026, 08:30 (Europe/London)",
            ),
            // Summer time: 1 July 08:30 UTC is 10:30 in Paris.
        ];
        for (zone, language, expected) in table {
            assert_eq!(describe(at, zone, language), expected);
        }
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 8, 30, 0).unwrap();
        assert_eq!(
            describe(summer, chrono_tz::Europe::Paris, Language::Fr),
            "mercredi 1 juillet 2026, 10:30 (Europe/Paris)"
        );
    }
}
