//! The `devices` table.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, FromRow)]
pub struct DeviceRow {
    pub device_id: String,
    pub label: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub credentials_issued_at: DateTime<Utc>,
}

const COLUMNS: &str = "device_id, label, revoked_at, created_at, credentials_issued_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    device_id: &str,
    label: &str,
    secret_hash: &[u8],
) -> Result<DeviceRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO devices (device_id, label, secret_hash) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(device_id)
    .bind(label)
    .bind(secret_hash)
    .fetch_one(db)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    device_id: &str,
) -> Result<Option<DeviceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM devices WHERE device_id = $1"
    ))
    .bind(device_id)
    .fetch_optional(db)
    .await
}

pub async fn list(
    db: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<DeviceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM devices ORDER BY device_id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// The secret digest of an active (not revoked) device.
pub async fn active_secret_hash(
    db: impl PgExecutor<'_>,
    device_id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT secret_hash FROM devices WHERE device_id = $1 AND revoked_at IS NULL",
    )
    .bind(device_id)
    .fetch_optional(db)
    .await
}

/// Replaces the secret of an active device; `None` when missing or revoked.
pub async fn rotate_secret(
    db: impl PgExecutor<'_>,
    device_id: &str,
    secret_hash: &[u8],
) -> Result<Option<DeviceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE devices SET secret_hash = $2, credentials_issued_at = now()
         WHERE device_id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(device_id)
    .bind(secret_hash)
    .fetch_optional(db)
    .await
}

pub async fn revoke(
    db: impl PgExecutor<'_>,
    device_id: &str,
) -> Result<Option<DeviceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, now())
         WHERE device_id = $1 RETURNING {COLUMNS}"
    ))
    .bind(device_id)
    .fetch_optional(db)
    .await
}
