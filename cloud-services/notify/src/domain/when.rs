//! How a time reads in a message: in the practitioner's zone (where the appointment happens),
//! named, in the recipient's language — "Tuesday 8 December 2026, 09:30 (Europe/Paris)", "mardi
//! 8 décembre 2026, 09:30 (Europe/Paris)". Names are spelled here rather than through chrono's
//! locale feature: two languages, and the wording is ours to review. When the recipient's own zone
//! (their preferences) reads differently, it is written beside it ([`describe_for`]).

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

/// `at` in the practitioner's `zone` and, when the recipient lives in another zone where the
/// clock reads differently, in theirs beside it — as the portal shows appointments.
pub fn describe_for(
    at: DateTime<Utc>,
    zone: Tz,
    recipient_zone: Option<Tz>,
    language: Language,
) -> String {
    let here = describe(at, zone, language);
    match recipient_zone {
        Some(theirs)
            if theirs != zone
                && at.with_timezone(&theirs).naive_local()
                    != at.with_timezone(&zone).naive_local() =>
        {
            let yours = describe(at, theirs, language);
            match language {
                Language::En => format!("{here}; for you: {yours}"),
                Language::Fr => format!("{here} ; chez vous : {yours}"),
            }
        }
        _ => here,
    }
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
        // The recipient's own zone beside it, only when their clock reads differently.
        let paris = chrono_tz::Europe::Paris;
        assert_eq!(
            describe_for(at, paris, None, Language::En),
            describe(at, paris, Language::En)
        );
        assert_eq!(
            describe_for(at, paris, Some(chrono_tz::Europe::Berlin), Language::En),
            describe(at, paris, Language::En)
        );
        assert_eq!(
            describe_for(at, paris, Some(chrono_tz::America::Martinique), Language::Fr),
            "mardi 8 décembre 2026, 09:30 (Europe/Paris) ; chez vous : mardi 8 décembre 2026, 04:30 (America/Martinique)"
        );
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 8, 30, 0).unwrap();
        assert_eq!(
            describe(summer, chrono_tz::Europe::Paris, Language::Fr),
            "mercredi 1 juillet 2026, 10:30 (Europe/Paris)"
        );
    }
}
