//! The `refresh_tokens` table.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, FromRow)]
pub struct RefreshTokenRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the session (the family's login) started: it ends `session_max_age_secs` later.
    pub session_started_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
    session_started_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at,
            session_started_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(family_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(expires_at)
    .bind(session_started_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Locks the row until the transaction ends, so two concurrent uses of one token serialise and
/// the second is seen as reuse.
pub async fn lock_by_hash(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<RefreshTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at, session_started_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

pub async fn mark_used(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn revoke_family(db: impl PgExecutor<'_>, family_id: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the session `token_hash` belongs to; returns its (user, family) when it was live.
pub async fn revoke_family_of(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE revoked_at IS NULL
           AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
         RETURNING user_id, family_id",
    )
    .bind(token_hash)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().next())
}

/// Revokes every session of `user_id` but `keep`; returns the sessions revoked.
pub async fn revoke_other_families(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut families: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR family_id <> $2)
         RETURNING family_id",
    )
    .bind(user_id)
    .bind(keep)
    .fetch_all(db)
    .await?;
    families.sort();
    families.dedup();
    Ok(families)
}
