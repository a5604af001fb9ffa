//! The `audit_events` table: append-only (the service role has SELECT and INSERT only).

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub patient_id: Option<Uuid>,
    pub action: String,
    pub purpose: String,
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

const COLUMNS: &str =
    "seq, at, actor, actor_role, patient_id, action, purpose, detail, prev_hash, hash";

/// Serialises appenders across every instance: the chain needs one writer at a time.
pub async fn lock_chain(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    // "audit" in ASCII.
    sqlx::query("SELECT pg_advisory_xact_lock(422711293300)")
        .execute(db)
        .await?;
    Ok(())
}

pub async fn last_hash(db: impl PgExecutor<'_>) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(db)
        .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: impl PgExecutor<'_>,
    at: DateTime<Utc>,
    actor: &str,
    actor_role: &str,
    patient_id: Option<Uuid>,
    action: &str,
    purpose: &str,
    detail: &str,
    prev_hash: &[u8],
    hash: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events \
         (at, actor, actor_role, patient_id, action, purpose, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(at)
    .bind(actor)
    .bind(actor_role)
    .bind(patient_id)
    .bind(action)
    .bind(purpose)
    .bind(detail)
    .bind(prev_hash)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(())
}

pub struct AuditQuery {
    pub patient_id: Option<Uuid>,
    pub actor: Option<String>,
    pub after_seq: i64,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, q: &AuditQuery) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE seq > $1 \
         AND ($2::uuid IS NULL OR patient_id = $2) AND ($3::text IS NULL OR actor = $3) \
         ORDER BY seq LIMIT $4"
    ))
    .bind(q.after_seq)
    .bind(q.patient_id)
    .bind(&q.actor)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}
