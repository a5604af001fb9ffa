//! A practitioner's public profile fields, parsed.

use std::str::FromStr;

use chrono_tz::Tz;
use episante_kit::Invalid;

/// An IANA time zone name (`Europe/Paris`) that the compiled-in tz database knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub Tz);

impl TimeZone {
    pub fn parse(name: &str) -> Result<Self, Invalid> {
        Tz::from_str(name.trim()).map(TimeZone).map_err(|_| {
            Invalid(format!(
                "time_zone {name:?} is not an IANA time zone name (e.g. Europe/Paris)"
            ))
        })
    }

    pub fn as_str(self) -> &'static str {
        self.0.name()
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A short, non-empty, single-line label (names, specialties, locations, languages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Invalid(format!("{field} must not be empty")));
        }
        if value.chars().count() > Self::MAX_CHARS || value.chars().any(char::is_control) {
            return Err(Invalid(format!(
                "{field} must be one line of at most {} characters",
                Self::MAX_CHARS
            )));
        }
        Ok(Label(value.to_string()))
    }

    /// Specialties and locations are matched case-insensitively: they are stored lowercase.
    pub fn parse_lowercase(field: &str, value: &str) -> Result<Self, Invalid> {
        Self::parse(field, value).map(|l| Label(l.0.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// BCP 47-ish language tags (`fr`, `en`, `pt-BR`): letters, digits and '-', at most 20 of them.
pub fn parse_languages(values: &[String]) -> Result<Vec<String>, Invalid> {
    if values.len() > 20 {
        return Err(Invalid("at most 20 languages".into()));
    }
    values
        .iter()
        .map(|v| {
            let v = v.trim();
            let ok = (2..=35).contains(&v.len())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if ok {
                Ok(v.to_ascii_lowercase())
            } else {
                Err(Invalid(format!(
                    "language {v:?} is not a language tag (e.g. fr, en, pt-br)"
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_must_be_iana_names() {
        assert_eq!(
            TimeZone::parse("Europe/Paris").unwrap().as_str(),
            "Europe/Paris"
        );
        for bad in ["", "Paris", "CEST+2", "Europe/Atlantis"] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_and_languages_are_checked() {
        assert_eq!(
            Label::parse_lowercase("s", " Cardiology ")
                .unwrap()
                .as_str(),
            "cardiology"
        );
        assert!(Label::parse("s", "  ").is_err());
        assert!(Label::parse("s", "a\nb").is_err());
        assert_eq!(
            parse_languages(&["FR".into(), "pt-BR".into()]).unwrap(),
            ["fr", "pt-br"]
        );
        assert!(parse_languages(&["f".into()]).is_err());
        assert!(parse_languages(&["fr; drop".into()]).is_err());
    }
}
