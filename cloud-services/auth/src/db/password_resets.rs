//! The `password_resets` table: admin-issued one-time reset tokens (SHA-256 digests).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Stores a new token for `user_id`; earlier unused tokens of the user are dropped (only the
/// latest works).
pub async fn replace(
    db: &mut sqlx::PgConnection,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
    created_by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, expires_at, created_by)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(expires_at)
    .bind(created_by)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Spends a token: its user when it exists, is unused and unexpired. One statement, so a token
/// works once even when presented twice at the same time.
pub async fn consume(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE password_resets SET used_at = now()
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}
