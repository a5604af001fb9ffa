//! The `audit.events` table: in the admin-owned `audit` schema (`admin-migrations/`), where the
//! records role may only SELECT and INSERT. Every name here is schema-qualified.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::chain::Link;

/// The admin-owned schema of the trail, created by `admin-migrations/` (run by the admin account).
pub static ADMIN_MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../admin-migrations/0001_audit_chain.sql"),
    ),
    (
        2,
        include_str!("../../admin-migrations/0002_legacy_trail.sql"),
    ),
];

/// The schema, and what the records role may do in it.
pub const ADMIN_SCHEMA: episante_kit::db::AdminSchema<'static> = episante_kit::db::AdminSchema {
    name: "audit",
    migrations: ADMIN_MIGRATIONS,
    append_only: &["events"],
    read_only: &["chain_origin"],
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub n: i64,
    pub at: DateTime<Utc>,
    pub service: String,
    pub actor: String,
    pub actor_role: String,
    pub patient_id: Option<Uuid>,
    pub action: String,
    pub purpose: String,
    pub detail: String,
    pub event_id: Option<Uuid>,
    pub legacy: bool,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    /// The fields the chain binds.
    pub fn link(&self) -> Link<'_> {
        Link {
            n: self.n,
            at: self.at,
            service: &self.service,
            actor: &self.actor,
            actor_role: &self.actor_role,
            patient_id: self.patient_id,
            action: &self.action,
            purpose: &self.purpose,
            detail: &self.detail,
            event_id: self.event_id,
        }
    }
}

const COLUMNS: &str = "seq, n, at, service, actor, actor_role, patient_id, action, purpose, \
                       detail, event_id, legacy, prev_hash, hash";

/// Serialises appenders across every instance: the chain needs one writer at a time.
pub async fn lock_chain(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    // "audit" in ASCII.
    sqlx::query("SELECT pg_advisory_xact_lock(422711293300)")
        .execute(db)
        .await?;
    Ok(())
}

/// The chain's last entry: its position and hash.
pub async fn head(db: impl PgExecutor<'_>) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
    sqlx::query_as("SELECT n, hash FROM audit.events ORDER BY n DESC LIMIT 1")
        .fetch_optional(db)
        .await
}

/// The hash of the entry at position `n`.
pub async fn hash_at(db: impl PgExecutor<'_>, n: i64) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT hash FROM audit.events WHERE n = $1")
        .bind(n)
        .fetch_optional(db)
        .await
}

/// How many entries the migration moved from the pre-key trail (0 on fresh installs).
pub async fn legacy_entries(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(max(legacy_entries), 0)::bigint FROM audit.chain_origin")
        .fetch_one(db)
        .await
}

/// Whether an event published by another service is already in the trail.
pub async fn has_event(db: impl PgExecutor<'_>, event_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit.events WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(db)
        .await
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    link: &Link<'_>,
    prev_hash: &[u8],
    hash: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit.events \
         (n, at, service, actor, actor_role, patient_id, action, purpose, detail, event_id, \
          prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(link.n)
    .bind(link.at)
    .bind(link.service)
    .bind(link.actor)
    .bind(link.actor_role)
    .bind(link.patient_id)
    .bind(link.action)
    .bind(link.purpose)
    .bind(link.detail)
    .bind(link.event_id)
    .bind(prev_hash)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(())
}

pub struct AuditQuery {
    /// A patient record: its entries, and those other services filed under the patient's user id
    /// (bookings knows patients by their auth user).
    pub patient_id: Option<Uuid>,
    pub actor: Option<String>,
    pub after_seq: i64,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, q: &AuditQuery) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit.events WHERE seq > $1 \
         AND ($2::uuid IS NULL OR patient_id = ANY (ARRAY[$2, \
              (SELECT user_id FROM public.patients WHERE id = $2)])) \
         AND ($3::text IS NULL OR actor = $3) \
         ORDER BY seq LIMIT $4"
    ))
    .bind(q.after_seq)
    .bind(q.patient_id)
    .bind(&q.actor)
    .bind(q.limit)
    .fetch_all(pool)
    .await
}
