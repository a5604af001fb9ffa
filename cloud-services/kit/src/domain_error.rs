//! The errors domain rules give, free of HTTP: a value the rule refuses ([`Invalid`]) and an
//! action the current state refuses ([`Refused`]). `domain/` modules return these; the HTTP
//! layer maps them once (`From` into [`crate::ApiError`]: 422 and 409), so a handler's `?` does
//! the mapping and no domain module names a status code.

use std::fmt;

/// A value a domain rule refuses (an empty name, a time that is not a time), with a message
/// naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// An action the current state refuses (a cancellation after its window closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}
impl std::error::Error for Refused {}

impl From<Invalid> for crate::ApiError {
    fn from(e: Invalid) -> Self {
        crate::ApiError::Invalid(e.0)
    }
}

impl From<Refused> for crate::ApiError {
    fn from(e: Refused) -> Self {
        crate::ApiError::Conflict(e.0)
    }
}
