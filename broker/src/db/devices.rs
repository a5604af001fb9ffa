//! The `devices` table.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

/// A device with its fleet health (LEFT JOIN: a device that never connected has none).
#[derive(Debug, FromRow)]
pub struct DeviceRow {
    pub device_id: String,
    pub label: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub credentials_issued_at: DateTime<Utc>,
    pub online: Option<bool>,
    pub last_connect_at: Option<DateTime<Utc>>,
    pub last_reading_at: Option<DateTime<Utc>>,
    pub last_status_at: Option<DateTime<Utc>>,
    pub backlog: Option<i64>,
    pub agent_version: Option<String>,
}

/// `online` holds only while the instance holding the session is alive (see `db::health`).
const SELECT: &str =
    "SELECT d.device_id, d.label, d.revoked_at, d.created_at, d.credentials_issued_at,
        (h.online AND b.seen_at > now() - make_interval(secs => 15)) AS online,
        h.last_connect_at, h.last_reading_at, h.last_status_at, h.backlog, h.agent_version
    FROM devices d LEFT JOIN device_health h USING (device_id)
    LEFT JOIN broker_instances b ON b.instance_id = h.instance_id";

/// What the MQTT front door checks a CONNECT against, for an active device.
#[derive(Debug, Clone, FromRow)]
pub struct Credential {
    pub secret_hash: Vec<u8>,
    /// Hex serial of the current client certificate (`None` for devices from before serials).
    pub cert_serial: Option<String>,
    pub credentials_issued_at: DateTime<Utc>,
    pub stream_epoch: Option<i64>,
    pub stream_seq: Option<i64>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    device_id: &str,
    label: &str,
    secret_hash: &[u8],
    cert_serial: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO devices (device_id, label, secret_hash, cert_serial) VALUES ($1, $2, $3, $4)",
    )
    .bind(device_id)
    .bind(label)
    .bind(secret_hash)
    .bind(cert_serial)
    .execute(db)
    .await
    .map(drop)
}

pub async fn get(
    db: impl PgExecutor<'_>,
    device_id: &str,
) -> Result<Option<DeviceRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE d.device_id = $1"))
        .bind(device_id)
        .fetch_optional(db)
        .await
}

/// Devices by id; `offline_only`: active devices not connected now (never connected included).
pub async fn list(
    db: impl PgExecutor<'_>,
    offline_only: bool,
    limit: i64,
    offset: i64,
) -> Result<Vec<DeviceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE NOT $1 OR (d.revoked_at IS NULL AND NOT COALESCE(h.online AND b.seen_at > now() - make_interval(secs => 15), false))
         ORDER BY d.device_id LIMIT $2 OFFSET $3"
    ))
    .bind(offline_only)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many devices are registered (a FHIR searchset's `total`).
pub async fn count(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(db)
        .await
}

/// The credential of an active (not revoked) device, with where its stream stands.
pub async fn active_credential(
    db: impl PgExecutor<'_>,
    device_id: &str,
) -> Result<Option<Credential>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.secret_hash, d.cert_serial, d.credentials_issued_at, h.stream_epoch, h.stream_seq
         FROM devices d LEFT JOIN device_health h USING (device_id)
         WHERE d.device_id = $1 AND d.revoked_at IS NULL",
    )
    .bind(device_id)
    .fetch_optional(db)
    .await
}

/// Replaces the secret and certificate serial of an active device; returns the new issue time,
/// `None` when missing or revoked.
pub async fn rotate_credentials(
    db: impl PgExecutor<'_>,
    device_id: &str,
    secret_hash: &[u8],
    cert_serial: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE devices SET secret_hash = $2, cert_serial = $3, credentials_issued_at = clock_timestamp()
         WHERE device_id = $1 AND revoked_at IS NULL RETURNING credentials_issued_at",
    )
    .bind(device_id)
    .bind(secret_hash)
    .bind(cert_serial)
    .fetch_optional(db)
    .await
}

/// Revokes a device (idempotent); `false` when there is no such device.
pub async fn revoke(db: impl PgExecutor<'_>, device_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, clock_timestamp()) WHERE device_id = $1",
    )
    .bind(device_id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}
