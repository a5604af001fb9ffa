//! Ending sessions: the refresh tokens in the database, and the access tokens already out there.
//!
//! A session is a refresh-token family; its access tokens carry its id (`sid` = family id).
//! Revoking it marks its refresh tokens revoked (no more refreshes) and writes a
//! `SessionRevoked` event to the outbox in the same transaction (so every service refuses its
//! access tokens within the bus's delivery time). Callers apply the returned events locally after
//! commit (`AppState::revoked`).

use chrono::Utc;
use episante_protocol::SessionRevoked;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{db, events};

/// Every session of `user`, as of now: deactivation, role change, password reset.
pub async fn revoke_all(conn: &mut PgConnection, user: Uuid) -> sqlx::Result<SessionRevoked> {
    let at = Utc::now();
    db::refresh_tokens::revoke_other_families(&mut *conn, user, None).await?;
    db::users::mark_sessions_revoked(&mut *conn, user, at).await?;
    events::user_sessions_revoked(conn, user, at).await
}

/// Every session of `user` except `keep` (password change: the session that changed it stays).
pub async fn revoke_others(
    conn: &mut PgConnection,
    user: Uuid,
    keep: Uuid,
) -> sqlx::Result<Vec<SessionRevoked>> {
    let families = db::refresh_tokens::revoke_other_families(&mut *conn, user, Some(keep)).await?;
    let mut revoked = Vec::with_capacity(families.len());
    for family in families {
        revoked.push(events::session_revoked(&mut *conn, user, family).await?);
    }
    Ok(revoked)
}

/// One session (logout, refresh-token reuse).
pub async fn revoke_one(
    conn: &mut PgConnection,
    user: Uuid,
    family: Uuid,
) -> sqlx::Result<SessionRevoked> {
    db::refresh_tokens::revoke_family(&mut *conn, family).await?;
    events::session_revoked(conn, user, family).await
}
