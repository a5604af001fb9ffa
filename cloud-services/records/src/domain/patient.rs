//! A patient's identity (the PII we encrypt) and its validation.

use chrono::{NaiveDate, Utc};
use episante_kit::Invalid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Administrative sex, as FHIR `Patient.gender`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub fn as_fhir(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// Street lines, at most 3.
    pub lines: Vec<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `FR`.
    pub country: String,
}

/// Who the patient is: every field here is stored only encrypted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatientIdentity {
    /// Given names, first one first.
    #[schema(min_items = 1, max_items = 5)]
    pub given_names: Vec<String>,
    #[schema(min_length = 1, max_length = 100, format = "single-line")]
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    /// E.164, e.g. `+33612345678`.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<Address>,
    /// National health identifier (e.g. the French NIR), letters and digits.
    #[schema(pattern = r"^[ .-]*([A-Za-z0-9][ .-]*){5,32}$")]
    pub national_id: Option<String>,
}

/// A change to an identity; absent fields are kept, `null` clears optional ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct IdentityPatch {
    pub given_names: Option<Vec<String>>,
    pub family_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<Sex>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub national_id: Option<Option<String>>,
}

impl IdentityPatch {
    /// Whether the patch changes contact details only (email, phone, address): what a patient may
    /// change on their own record; who they are (names, birth date, sex, national id) is changed
    /// by staff.
    pub fn contact_details_only(&self) -> bool {
        self.given_names.is_none()
            && self.family_name.is_none()
            && self.birth_date.is_none()
            && self.sex.is_none()
            && self.national_id.is_none()
    }
}

/// For PATCH bodies: an absent field is `None`, `null` is `Some(None)`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

impl IdentityPatch {
    pub fn apply(self, mut identity: PatientIdentity) -> PatientIdentity {
        if let Some(v) = self.given_names {
            identity.given_names = v;
        }
        if let Some(v) = self.family_name {
            identity.family_name = v;
        }
        if let Some(v) = self.birth_date {
            identity.birth_date = v;
        }
        if let Some(v) = self.sex {
            identity.sex = v;
        }
        if let Some(v) = self.phone {
            identity.phone = v;
        }
        if let Some(v) = self.email {
            identity.email = v;
        }
        if let Some(v) = self.address {
            identity.address = v;
        }
        if let Some(v) = self.national_id {
            identity.national_id = v;
        }
        identity
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if value.is_empty() || value.chars().count() > max {
        return Err(Invalid(format!("{field} must be 1 to {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(value)
}

/// `+` and 8 to 15 digits once spaces, dots, dashes and parentheses are removed.
pub fn parse_phone(value: &str) -> Result<String, Invalid> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if !compact.starts_with('+')
        || !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Invalid(
            "phone must be in international format, e.g. +33 6 12 34 56 78".into(),
        ));
    }
    Ok(compact)
}

pub fn parse_email(value: &str) -> Result<String, Invalid> {
    let value = value.trim().to_lowercase();
    let valid = value.len() <= 254
        && !value.contains(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(value)
    } else {
        Err(Invalid(format!("email {value:?} is not an email address")))
    }
}

pub fn parse_national_id(value: &str) -> Result<String, Invalid> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.'))
        .flat_map(char::to_uppercase)
        .collect();
    if !(5..=32).contains(&compact.len()) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Invalid(
            "national_id must be 5 to 32 letters or digits".into(),
        ));
    }
    Ok(compact)
}

impl PatientIdentity {
    /// Checks and normalises every field; the error names the first bad one.
    pub fn validated(self) -> Result<PatientIdentity, Invalid> {
        if self.given_names.is_empty() || self.given_names.len() > 5 {
            return Err(Invalid("given_names must hold 1 to 5 names".into()));
        }
        let given_names = self
            .given_names
            .iter()
            .map(|n| text("given_names", n, 100))
            .collect::<Result<_, _>>()?;
        let family_name = text("family_name", &self.family_name, 100)?;
        let today = Utc::now().date_naive();
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
        if self.birth_date > today || self.birth_date < earliest {
            return Err(Invalid(
                "birth_date must be between 1900-01-01 and today".into(),
            ));
        }
        let address = match self.address {
            None => None,
            Some(a) => {
                if a.lines.is_empty() || a.lines.len() > 3 {
                    return Err(Invalid("address.lines must hold 1 to 3 lines".into()));
                }
                let country = a.country.trim().to_uppercase();
                if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(Invalid(
                        "address.country must be an ISO 3166-1 alpha-2 code, e.g. FR".into(),
                    ));
                }
                Some(Address {
                    lines: a
                        .lines
                        .iter()
                        .map(|l| text("address.lines", l, 200))
                        .collect::<Result<_, _>>()?,
                    city: text("address.city", &a.city, 100)?,
                    postal_code: text("address.postal_code", &a.postal_code, 20)?,
                    country,
                })
            }
        };
        Ok(PatientIdentity {
            given_names,
            family_name,
            birth_date: self.birth_date,
            sex: self.sex,
            phone: self.phone.as_deref().map(parse_phone).transpose()?,
            email: self.email.as_deref().map(parse_email).transpose()?,
            address,
            national_id: self
                .national_id
                .as_deref()
                .map(parse_national_id)
                .transpose()?,
        })
    }

    /// Every name, for the blind index.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.given_names
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.family_name.as_str()))
    }
}

/// A consent scope, e.g. `remote-monitoring`: lowercase letters, digits and dashes.
pub fn parse_consent_scope(value: &str) -> Result<String, Invalid> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(Invalid(
            "consent scope must be 1 to 64 lowercase letters, digits or dashes".into(),
        ))
    }
}

/// A consent text's version label: one short line.
pub fn parse_consent_version(value: &str) -> Result<&str, Invalid> {
    let value = value.trim();
    if (1..=64).contains(&value.chars().count()) && !value.chars().any(char::is_control) {
        Ok(value)
    } else {
        Err(Invalid(
            "consent version must be one line of 1 to 64 characters".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> PatientIdentity {
        PatientIdentity {
            given_names: vec!["  Ada ".into()],
            family_name: "Lovelace".into(),
            birth_date: NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(),
            sex: Sex::Female,
            phone: Some("+44 20 7946 0958".into()),
            email: Some("Ada@Example.org".into()),
            address: None,
            national_id: Some("1 85 12 75 108 042".into()),
        }
    }

    #[test]
    fn normalises_valid_input() {
        let v = ada().validated().unwrap();
        assert_eq!(v.given_names, ["Ada"]);
        assert_eq!(v.phone.as_deref(), Some("+442079460958"));
        assert_eq!(v.email.as_deref(), Some("ada@example.org"));
        assert_eq!(v.national_id.as_deref(), Some("1851275108042"));
    }

    #[test]
    fn rejects_bad_fields() {
        for bad in [
            PatientIdentity {
                family_name: " ".into(),
                ..ada()
            },
            PatientIdentity {
                given_names: vec![],
                ..ada()
            },
            PatientIdentity {
                phone: Some("0612".into()),
                ..ada()
            },
            PatientIdentity {
                email: Some("nope".into()),
                ..ada()
            },
            PatientIdentity {
                national_id: Some("12".into()),
                ..ada()
            },
            PatientIdentity {
                birth_date: NaiveDate::from_ymd_opt(2999, 1, 1).unwrap(),
                ..ada()
            },
        ] {
            assert!(matches!(bad.validated(), Err(Invalid(_))));
        }
    }
}
