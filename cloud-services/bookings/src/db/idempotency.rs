//! The `idempotency_keys` table: per caller and key, the digest of the request and the answer.

use sqlx::{FromRow, PgExecutor, Postgres, Transaction};

#[derive(Debug, Clone, FromRow)]
pub struct StoredKey {
    pub request_digest: Vec<u8>,
    pub status_code: Option<i16>,
    pub response: Option<String>,
}

/// Inserts the key in the caller's transaction, or returns what is stored under it. A concurrent
/// request with the same key waits here until the first one's transaction ends, then sees its
/// answer (or, if it rolled back, claims the key itself).
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    caller: &str,
    key: &str,
    digest: &[u8],
) -> Result<Option<StoredKey>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (caller, key, request_digest) VALUES ($1, $2, $3)
         ON CONFLICT (caller, key) DO NOTHING",
    )
    .bind(caller)
    .bind(key)
    .bind(digest)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT request_digest, status_code, response FROM idempotency_keys
         WHERE caller = $1 AND key = $2",
    )
    .bind(caller)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await
}

/// Stores the answer (inside the transaction that claimed the key, or on its own after a
/// rolled-back attempt that ended in a client error).
pub async fn store(
    db: impl PgExecutor<'_>,
    caller: &str,
    key: &str,
    digest: &[u8],
    status: u16,
    response: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (caller, key, request_digest, status_code, response)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (caller, key) DO UPDATE SET status_code = $4, response = $5
         WHERE idempotency_keys.request_digest = $3 AND idempotency_keys.status_code IS NULL",
    )
    .bind(caller)
    .bind(key)
    .bind(digest)
    .bind(status as i16)
    .bind(response)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn purge_older_than_hours(
    db: impl PgExecutor<'_>,
    hours: u32,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
    )
    .bind(hours as i32)
    .execute(db)
    .await?
    .rows_affected())
}
