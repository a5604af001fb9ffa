//! Session revocations auth publishes on `auth.sessions.v1` (`episante_protocol::SessionRevoked`),
//! written to the outbox in the transaction that revokes the sessions (see
//! `episante_kit::events::outbox`), so an event exists if and only if the revocation committed;
//! and security notices on `auth.security.v1` (`SecurityNotice`: a password changed, a sign-in
//! from a new address), the same way.
//! Every service applies them to the tokens it verifies (`episante_kit::revocation`); auth also
//! applies them to its own verifier at once, after commit (`http::AppState::revoked`).

use chrono::{DateTime, Utc};
use episante_kit::events::outbox;
use episante_protocol::topics::{KAFKA_SECURITY, KAFKA_SESSIONS};
use episante_protocol::{SecurityNotice, SecurityNoticeKind, SessionRevoked};
use sqlx::PgConnection;
use uuid::Uuid;

/// Topics this service publishes to.
pub const TOPICS: &[&str] = &[KAFKA_SESSIONS, KAFKA_SECURITY];

/// Tells `user` (through notify) that `kind` happened, from `address`.
pub async fn security_notice(
    conn: &mut PgConnection,
    user: Uuid,
    kind: SecurityNoticeKind,
    address: Option<&str>,
) -> sqlx::Result<()> {
    let notice = SecurityNotice {
        event_id: Uuid::new_v4(),
        user_id: user,
        kind,
        at: Utc::now(),
        address: address.map(str::to_string),
    };
    let payload = serde_json::to_vec(&notice).expect("serialisable");
    outbox::enqueue(conn, KAFKA_SECURITY, &user.to_string(), &payload).await
}

async fn enqueue(conn: &mut PgConnection, event: SessionRevoked) -> sqlx::Result<SessionRevoked> {
    let payload = serde_json::to_vec(&event).expect("serialisable");
    outbox::enqueue(conn, KAFKA_SESSIONS, &event.user_id, &payload).await?;
    Ok(event)
}

/// One session (refresh-token family) ended: logout, password change elsewhere, token reuse.
pub async fn session_revoked(
    conn: &mut PgConnection,
    user: Uuid,
    session: Uuid,
) -> sqlx::Result<SessionRevoked> {
    enqueue(
        conn,
        SessionRevoked {
            user_id: user.to_string(),
            session_id: Some(session.to_string()),
            revoked_at_ms: Utc::now().timestamp_millis(),
        },
    )
    .await
}

/// Every session of `user` as of `at`: deactivation, role change, password reset.
pub async fn user_sessions_revoked(
    conn: &mut PgConnection,
    user: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<SessionRevoked> {
    enqueue(
        conn,
        SessionRevoked {
            user_id: user.to_string(),
            session_id: None,
            revoked_at_ms: at.timestamp_millis(),
        },
    )
    .await
}
