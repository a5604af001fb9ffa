//! Ways a message reaches a person. Each channel says whether a failure is worth retrying.

pub mod email;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: SMTP 4xx, a connection refused or cut, a timeout.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help: SMTP 5xx, an address the relay refuses.
    #[error("{0}")]
    Permanent(String),
}
