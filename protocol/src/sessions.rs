//! Session revocations the auth service publishes on `auth.sessions.v1`, which every service
//! applies to the access tokens it verifies (`episante_kit::revocation`).
//!
//! Access tokens are verified locally (JWKS), so without this event a token stays valid until it
//! expires, whatever happened to its user. One event says: "tokens of this user — of this session
//! only, when `session_id` is set — issued at or before `revoked_at_ms` are no longer valid".
//! Events are idempotent and commutative (applying one twice, or two in any order, gives the same
//! result), so at-least-once delivery and replays are harmless.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// On `auth.sessions.v1`, keyed by user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRevoked {
    /// The user (access-token `sub`).
    pub user_id: String,
    /// The session (access-token `sid`); `None` revokes every session of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Tokens issued (`iat`, whole seconds) at or before this instant (ms since the epoch) are
    /// revoked. For a single session every token of it qualifies: sessions never resume.
    pub revoked_at_ms: i64,
}

/// On `auth.security.v1`, keyed by user id: something a person must hear about even when it was
/// them (so that when it was not, they act). Written by auth in the changing transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityNotice {
    /// Unique per notice: consumers deduplicate on it.
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub kind: SecurityNoticeKind,
    pub at: DateTime<Utc>,
    /// The client address the change or sign-in came from, as auth saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityNoticeKind {
    /// Changed by the person, or set with an admin-issued reset token.
    PasswordChanged,
    /// A successful sign-in from an address this account never signed in from before.
    NewSignIn,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_omits_an_absent_session() {
        let all = SessionRevoked {
            user_id: "u".into(),
            session_id: None,
            revoked_at_ms: 1,
        };
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(json, r#"{"user_id":"u","revoked_at_ms":1}"#);
        assert_eq!(serde_json::from_str::<SessionRevoked>(&json).unwrap(), all);
    }
}
