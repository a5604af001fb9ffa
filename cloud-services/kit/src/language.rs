//! The languages the platform speaks to people in: what a user's account stores (auth), what the
//! portal switches between, and what notify chooses templates by. One list, so a language cannot
//! be stored that no template exists for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::Fr];

    /// The BCP 47 tag (`en`, `fr`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = String;

    /// `en`, `fr`, and regional tags of them (`fr-CA` → `fr`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let primary = s.split(['-', '_']).next().unwrap_or_default();
        Language::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(primary))
            .ok_or_else(|| format!("unknown language {s:?} (known: en, fr)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_with_their_region_and_print_bare() {
        for (tag, language) in [
            ("en", Language::En),
            ("FR", Language::Fr),
            ("fr-CA", Language::Fr),
            ("en_GB", Language::En),
        ] {
            assert_eq!(tag.parse::<Language>().unwrap(), language, "{tag}");
        }
        assert!("de".parse::<Language>().is_err());
        assert!("".parse::<Language>().is_err());
        assert_eq!(Language::Fr.to_string(), "fr");
        assert_eq!(serde_json::to_string(&Language::Fr).unwrap(), "\"fr\"");
    }
}
