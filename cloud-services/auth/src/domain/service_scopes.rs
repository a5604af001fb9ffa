//! The scopes granted to a service client: parsed from what an admin asked for, checked against
//! the platform's known list (`episante_kit::Scope`), stored and put in tokens as one
//! space-separated string.
//!
//! Why a set and not free text: a typo (`device:read`) must be refused at creation, not become a
//! client that mysteriously gets 403s — and a scope no endpoint knows must never be granted.

use std::collections::BTreeSet;

use episante_kit::{Invalid, Scope};

/// At most this many scopes in one request (there are fewer known scopes; a longer list is
/// either a mistake or an attempt to make us do work).
const MAX_REQUESTED: usize = 32;

/// A validated, deduplicated, ordered set of scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceScopes(BTreeSet<Scope>);

impl ServiceScopes {
    /// Parses an admin's request: every entry must be a known scope (422 otherwise).
    pub fn parse(requested: &[String]) -> Result<Self, Invalid> {
        if requested.len() > MAX_REQUESTED {
            return Err(Invalid(format!(
                "at most {MAX_REQUESTED} scopes may be requested"
            )));
        }
        requested
            .iter()
            .map(|s| s.parse::<Scope>().map_err(Invalid))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(ServiceScopes)
    }

    /// Reads what the database holds; entries no longer known (a scope retired from the platform)
    /// are dropped rather than granted.
    pub fn from_stored(stored: &[String]) -> Self {
        ServiceScopes(stored.iter().filter_map(|s| s.parse().ok()).collect())
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_string()).collect()
    }

    /// The token's `scope` claim (RFC 8693: space-separated); `None` when nothing is granted.
    pub fn to_claim(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.to_strings().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_scopes_are_deduplicated_and_ordered() {
        let scopes =
            ServiceScopes::parse(&strings(&["vitals:read", "devices:read", "vitals:read"]))
                .unwrap();
        assert_eq!(
            scopes.to_strings(),
            strings(&["devices:read", "vitals:read"])
        );
        assert_eq!(
            scopes.to_claim().as_deref(),
            Some("devices:read vitals:read")
        );
        assert_eq!(ServiceScopes::parse(&[]).unwrap().to_claim(), None);
    }

    #[test]
    fn unknown_or_malformed_scopes_are_refused() {
        for bad in [
            "device:read",
            "devices:*",
            "",
            "devices:read vitals:read",
            "admin",
        ] {
            let err = ServiceScopes::parse(&strings(&[bad])).unwrap_err();
            assert_eq!(
                episante_kit::ApiError::from(err).status(),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
        }
        let many = vec!["devices:read".to_string(); 33];
        assert!(ServiceScopes::parse(&many).is_err());
    }

    #[test]
    fn retired_scopes_in_the_database_are_not_granted() {
        let stored = strings(&["devices:read", "patients:write"]);
        assert_eq!(
            ServiceScopes::from_stored(&stored).to_claim().as_deref(),
            Some("devices:read")
        );
    }
}
