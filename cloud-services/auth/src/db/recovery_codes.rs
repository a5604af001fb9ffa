//! The `recovery_codes` table: MFA recovery codes (SHA-256 digests), single use.

use sqlx::PgExecutor;
use uuid::Uuid;

/// Replaces the user's codes with `hashes`.
pub async fn replace(
    db: &mut sqlx::PgConnection,
    user_id: Uuid,
    hashes: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, h FROM unnest($2::bytea[]) h",
    )
    .bind(user_id)
    .bind(hashes)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Spends a code (true when it existed unused). One statement: single use even concurrently.
pub async fn consume(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    code_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = now()
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(code_hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove_all(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}
