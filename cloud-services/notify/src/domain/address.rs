//! Addresses a message goes to, parsed once where they enter (a contact read from auth, a phone
//! number typed in the preferences) and typed from there on: an email address a relay will
//! accept, and a phone number in E.164 form (what SMS providers take).

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

/// `+` then 8 to 15 digits, the first not 0 (ITU-T E.164; 8 is the shortest national plan in use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<PhoneNumber, String> {
        let digits = s.trim().strip_prefix('+').ok_or_else(|| {
            format!("{s:?} is not an E.164 number: it must start with + and the country code")
        })?;
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !valid {
            return Err(format!(
                "{s:?} is not an E.164 number: + then 8 to 15 digits, no spaces, no leading 0"
            ));
        }
        Ok(PhoneNumber(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            PhoneNumber::parse(" +33612345678").unwrap().as_str(),
            "+33612345678"
        );
        for bad in [
            "",
            "0612345678",
            "+0612345678",
            "+33 6 12 34 56 78",
            "+1234567",
            "+1234567890123456",
            "+33abc45678",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

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
