//! Newtypes that parse user input at the edge: once a value has one of these types it is valid.

use episante_kit::Invalid;

/// A normalised (trimmed, lowercased) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if valid {
            Ok(Email(email))
        } else {
            Err(Invalid(format!("{raw:?} is not a valid email address")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy (NIST SP 800-63B: length over composition rules).
#[derive(Clone)]
pub struct NewPassword(String);

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(Invalid(format!(
                "password must have at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(Invalid(format!(
                "password must have at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        Ok(NewPassword(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Invalid(
                "display name must be 1 to 100 printable characters".into(),
            ));
        }
        Ok(DisplayName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A service client id: lowercase letters, digits and '-', 3 to 64 characters.
#[derive(Debug, Clone)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = (3..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(ClientId(raw.to_string()))
        } else {
            Err(Invalid(
                "client id must be 3 to 64 lowercase letters, digits or '-'".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.ORG ").unwrap().as_str(),
            "alice@example.org"
        );
        for bad in [
            "",
            "alice",
            "@x.org",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            "a@.org",
            "a@org.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse(&"x".repeat(129)).is_err());
        assert!(NewPassword::parse("correct horse battery").is_ok());
    }

    #[test]
    fn names_and_client_ids() {
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse("Dr\u{7}Bell").is_err());
        assert_eq!(DisplayName::parse(" Dr. Ada ").unwrap().as_str(), "Dr. Ada");
        assert!(ClientId::parse("records").is_ok());
        assert!(ClientId::parse("Records!").is_err());
        assert!(ClientId::parse("ab").is_err());
    }
}
