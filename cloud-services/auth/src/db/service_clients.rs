//! The `service_clients` table.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, FromRow)]
pub struct ServiceClientRow {
    pub client_id: String,
    pub secret_hash: Vec<u8>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// `episante_kit::Scope` names (see `domain::service_scopes`).
    pub scopes: Vec<String>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    client_id: &str,
    secret_hash: &[u8],
    scopes: &[String],
) -> Result<ServiceClientRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO service_clients (client_id, secret_hash, scopes) VALUES ($1, $2, $3)
         RETURNING client_id, secret_hash, active, created_at, scopes",
    )
    .bind(client_id)
    .bind(secret_hash)
    .bind(scopes)
    .fetch_one(db)
    .await
}

pub async fn by_id(
    db: impl PgExecutor<'_>,
    client_id: &str,
) -> Result<Option<ServiceClientRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, secret_hash, active, created_at, scopes FROM service_clients WHERE client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<ServiceClientRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, secret_hash, active, created_at, scopes FROM service_clients ORDER BY client_id",
    )
    .fetch_all(db)
    .await
}

pub async fn deactivate(db: impl PgExecutor<'_>, client_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE service_clients SET active = FALSE WHERE client_id = $1")
        .bind(client_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a client's scopes; false if there is no such client.
pub async fn set_scopes(
    db: impl PgExecutor<'_>,
    client_id: &str,
    scopes: &[String],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE service_clients SET scopes = $2 WHERE client_id = $1")
        .bind(client_id)
        .bind(scopes)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Creates or re-keys (and re-activates) a client: for service clients provisioned by
/// configuration, whose secret and scopes are the configuration's.
pub async fn upsert(
    db: impl PgExecutor<'_>,
    client_id: &str,
    secret_hash: &[u8],
    scopes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO service_clients (client_id, secret_hash, scopes) VALUES ($1, $2, $3)
         ON CONFLICT (client_id) DO UPDATE
         SET secret_hash = EXCLUDED.secret_hash, scopes = EXCLUDED.scopes, active = TRUE",
    )
    .bind(client_id)
    .bind(secret_hash)
    .bind(scopes)
    .execute(db)
    .await?;
    Ok(())
}
