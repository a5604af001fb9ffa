//! Revoked sessions: what lets a locally verified access token die before it expires.
//!
//! Access tokens are checked locally against the JWKS, so on its own a token stays valid until
//! `exp` whatever happened to its user (logout, deactivation, role or password change). The auth
//! service publishes a [`SessionRevoked`] on `auth.sessions.v1` for each of those; every service
//! runs [`spawn_listener`] (a consumer group of its own per instance, so each instance sees every
//! event) and keeps the events in a [`SessionRevocations`] list, which [`TokenVerifier::verify`]
//! consults for every token (`TokenError::Revoked`, 401).
//!
//! The list stays small: an entry is needed only while a token it revokes could still be valid,
//! so entries are dropped `retention` (the longest access-token lifetime plus leeway, see
//! `TokenConfig::max_token_lifetime_secs`) after their revocation instant. Memory is bounded by
//! the revocation rate over that window (a few bytes per logout), and a check is two hash lookups
//! under a mutex. The alternatives — asking auth about every token (introspection: one network
//! round trip per request, auth on every request's critical path) or much shorter tokens (a
//! refresh every minute or so for every client, still a minute of exposure) — cost more and do
//! less; see docs/ARCHITECTURE.md (security notes).
//!
//! [`TokenVerifier::verify`]: crate::authz::TokenVerifier::verify

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub use episante_protocol::SessionRevoked;
use tokio::sync::watch;

use crate::authz::Claims;

/// Sweep expired entries at most this often (on insert).
const SWEEP_EVERY_MS: i64 = 10_000;

/// The revocations in force on this instance.
pub struct SessionRevocations {
    retention_ms: i64,
    state: Mutex<State>,
    /// Bumped on every applied event, so long-lived streams can re-check their token at once.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// user → latest instant before which (inclusive) all its tokens are revoked.
    users: HashMap<String, i64>,
    /// (user, session) → latest instant before which (inclusive) the session's tokens are revoked.
    sessions: HashMap<(String, String), i64>,
    last_sweep_ms: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SessionRevocations {
    /// Entries are kept for `retention` after their revocation instant: it must be at least the
    /// longest lifetime of an access token (plus leeway), else a revoked token would come back.
    pub fn new(retention: Duration) -> Self {
        SessionRevocations {
            retention_ms: retention.as_millis().min(i64::MAX as u128) as i64,
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        }
    }

    /// Records `event` (idempotent; events older than the retention are ignored).
    pub fn apply(&self, event: &SessionRevoked) {
        let now = now_ms();
        if event.revoked_at_ms.saturating_add(self.retention_ms) < now {
            return;
        }
        {
            let mut state = self.state.lock().expect("revocations poisoned");
            let slot = match &event.session_id {
                None => state.users.entry(event.user_id.clone()).or_insert(i64::MIN),
                Some(sid) => state
                    .sessions
                    .entry((event.user_id.clone(), sid.clone()))
                    .or_insert(i64::MIN),
            };
            *slot = (*slot).max(event.revoked_at_ms);
            if now - state.last_sweep_ms >= SWEEP_EVERY_MS {
                let horizon = now - self.retention_ms;
                state.users.retain(|_, at| *at >= horizon);
                state.sessions.retain(|_, at| *at >= horizon);
                state.last_sweep_ms = now;
            }
        }
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Whether a token with these claims was revoked: issued (`iat`, seconds) at or before a
    /// revocation of its user, or of its session.
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        let issued_ms = claims.iat.saturating_mul(1000);
        let state = self.state.lock().expect("revocations poisoned");
        if state
            .users
            .get(&claims.sub)
            .is_some_and(|at| issued_ms <= *at)
        {
            return true;
        }
        match &claims.sid {
            Some(sid) => state
                .sessions
                .get(&(claims.sub.clone(), sid.clone()))
                .is_some_and(|at| issued_ms <= *at),
            None => false,
        }
    }

    /// Entries currently held (users + sessions).
    pub fn len(&self) -> usize {
        let state = self.state.lock().expect("revocations poisoned");
        state.users.len() + state.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes whenever a revocation is applied: wait on it, then re-check with [`is_revoked`].
    ///
    /// [`is_revoked`]: SessionRevocations::is_revoked
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Resolves when a long-lived response's token (an SSE stream, authorised once when it opened)
/// expires or is revoked, with the reason. Revocations wake it
/// at once; it also re-checks every second.
pub async fn authorisation_ends(claims: &Claims, revocations: &SessionRevocations) -> &'static str {
    let mut changes = revocations.subscribe();
    let left_ms = claims.exp.saturating_mul(1000) - chrono::Utc::now().timestamp_millis();
    let expiry = tokio::time::sleep(Duration::from_millis(left_ms.max(0) as u64));
    tokio::pin!(expiry);
    loop {
        if revocations.is_revoked(claims) {
            return "token revoked";
        }
        tokio::select! {
            _ = &mut expiry => return "token expired",
            _ = changes.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Consumes `auth.sessions.v1` into `revocations` until `shutdown`. `service` names the consumer
/// group, made unique per instance (each instance must see every event); a new group reads the
/// topic from its start, so a restarted instance relearns the revocations still in force.
#[cfg(feature = "events")]
pub fn spawn_listener(
    bus: std::sync::Arc<dyn crate::events::EventBus>,
    revocations: std::sync::Arc<SessionRevocations>,
    service: &str,
    shutdown: crate::Shutdown,
) -> tokio::task::JoinHandle<()> {
    use episante_protocol::topics::KAFKA_SESSIONS;
    let group = format!("episante-{service}-sessions-{:016x}", rand::random::<u64>());
    shutdown.clone().spawn(async move {
        let retry = Duration::from_secs(1);
        let mut subscription = loop {
            let ready = match bus.ensure_topics(&[KAFKA_SESSIONS]).await {
                Ok(()) => bus.subscribe(&group, &[KAFKA_SESSIONS]),
                Err(e) => Err(e),
            };
            match ready {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to session revocations yet");
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = shutdown.wait() => return,
                    }
                }
            }
        };
        loop {
            let record = tokio::select! {
                r = subscription.next() => r,
                _ = shutdown.wait() => return,
            };
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "session revocation stream failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = shutdown.wait() => return,
                    }
                    continue;
                }
            };
            match serde_json::from_slice::<SessionRevoked>(&record.payload) {
                Ok(event) => {
                    tracing::debug!(user = %event.user_id, session = ?event.session_id,
                        "session revocation applied");
                    revocations.apply(&event);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable session revocation skipped"),
            }
            let _ = subscription.commit(&record);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use std::time::Instant;

    fn claims(sub: &str, sid: Option<&str>, iat: i64) -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: sub.into(),
            role: Role::Clinician,
            iat,
            nbf: iat,
            exp: iat + 900,
            jti: "j".into(),
            sid: sid.map(Into::into),
            scope: None,
        }
    }

    #[test]
    fn a_user_revocation_covers_older_tokens_of_every_session_only() {
        let list = SessionRevocations::new(Duration::from_secs(3600));
        let now = chrono::Utc::now().timestamp();
        list.apply(&SessionRevoked {
            user_id: "u".into(),
            session_id: None,
            revoked_at_ms: now * 1000,
        });
        assert!(list.is_revoked(&claims("u", Some("a"), now - 10)));
        assert!(list.is_revoked(&claims("u", None, now)));
        assert!(
            !list.is_revoked(&claims("u", Some("b"), now + 1)),
            "later login"
        );
        assert!(
            !list.is_revoked(&claims("v", Some("a"), now - 10)),
            "other user"
        );
    }

    #[test]
    fn a_session_revocation_spares_the_other_sessions() {
        let list = SessionRevocations::new(Duration::from_secs(3600));
        let now = chrono::Utc::now().timestamp();
        let changes = list.subscribe();
        list.apply(&SessionRevoked {
            user_id: "u".into(),
            session_id: Some("a".into()),
            revoked_at_ms: now * 1000 + 5,
        });
        assert!(changes.has_changed().unwrap());
        assert!(list.is_revoked(&claims("u", Some("a"), now)));
        assert!(!list.is_revoked(&claims("u", Some("b"), now)));
        assert!(!list.is_revoked(&claims("u", None, now)));
        // Same session id under another user: not the same session.
        assert!(!list.is_revoked(&claims("v", Some("a"), now)));
    }

    #[test]
    fn entries_expire_after_the_retention() {
        let list = SessionRevocations::new(Duration::from_secs(60));
        let now = chrono::Utc::now().timestamp_millis();
        list.apply(&SessionRevoked {
            user_id: "old".into(),
            session_id: None,
            revoked_at_ms: now - 61_000,
        });
        assert!(list.is_empty(), "too old to matter: not even stored");
        list.apply(&SessionRevoked {
            user_id: "u".into(),
            session_id: None,
            revoked_at_ms: now - 59_000,
        });
        assert_eq!(list.len(), 1);
        // A sweep drops it once it is past the retention.
        {
            let mut state = list.state.lock().unwrap();
            state.users.insert("u".into(), now - 70_000);
            state.last_sweep_ms = 0;
        }
        list.apply(&SessionRevoked {
            user_id: "w".into(),
            session_id: None,
            revoked_at_ms: now,
        });
        assert_eq!(list.len(), 1);
    }

    fn claims_expiring(exp_in_secs: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "u".into(),
            role: Role::Clinician,
            iat: now - 1,
            nbf: now - 1,
            exp: now + exp_in_secs,
            jti: "j".into(),
            sid: Some("s".into()),
            scope: None,
        }
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_token_expires() {
        let revocations = SessionRevocations::new(Duration::from_secs(3600));
        let start = Instant::now();
        let why = authorisation_ends(&claims_expiring(1), &revocations).await;
        assert_eq!(why, "token expired");
        assert!(start.elapsed() <= Duration::from_millis(2_100));
    }

    #[tokio::test]
    async fn a_stream_ends_as_soon_as_its_session_is_revoked() {
        let revocations = std::sync::Arc::new(SessionRevocations::new(Duration::from_secs(3600)));
        let list = revocations.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            list.apply(&SessionRevoked {
                user_id: "u".into(),
                session_id: Some("s".into()),
                revoked_at_ms: chrono::Utc::now().timestamp_millis(),
            });
        });
        let start = Instant::now();
        let why = authorisation_ends(&claims_expiring(600), &revocations).await;
        assert_eq!(why, "token revoked");
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "woken, not polled"
        );
    }
}
