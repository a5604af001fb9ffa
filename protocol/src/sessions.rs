//! Session revocations the auth service publishes on `auth.sessions.v1`, which every service
//! applies to the access tokens it verifies (`episante_kit::revocation`).
//!
//! Access tokens are verified locally (JWKS), so without this event a token stays valid until it
//! expires, whatever happened to its user. One event says: "tokens of this user — of this session
//! only, when `session_id` is set — issued at or before `revoked_at_ms` are no longer valid".
//! Events are idempotent and commutative (applying one twice, or two in any order, gives the same
//! result), so at-least-once delivery and replays are harmless.

use serde::{Deserialize, Serialize};

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
