//! An email address that a relay will accept, parsed once where it enters (a contact read from
//! auth) and typed from there on.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(lettre::Address);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<EmailAddress, String> {
        s.trim()
            .parse::<lettre::Address>()
            .map(EmailAddress)
            .map_err(|e| format!("{s:?} is not an email address: {e}"))
    }

    pub fn as_address(&self) -> &lettre::Address {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_at_the_edge() {
        assert_eq!(
            EmailAddress::parse(" ada@example.org ")
                .unwrap()
                .to_string(),
            "ada@example.org"
        );
        for bad in ["", "ada", "ada@", "@example.org", "a b@example.org"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
