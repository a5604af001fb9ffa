//! The `patients` and `consents` tables. Identity bytes here are always ciphertext.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::access::PatientScope;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PatientRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub status: String,
    pub wrapped_key: String,
    pub identity: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, status, wrapped_key, identity, created_at, updated_at";

/// The blind indexes of one identity.
pub struct Indexes {
    pub names: Vec<Vec<u8>>,
    pub national_id: Option<Vec<u8>>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Option<Uuid>,
    wrapped_key: &str,
    identity: &[u8],
    indexes: &Indexes,
) -> sqlx::Result<PatientRow> {
    sqlx::query_as(&format!(
        "INSERT INTO patients (id, user_id, wrapped_key, identity, name_index, national_id_index) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user_id)
    .bind(wrapped_key)
    .bind(identity)
    .bind(&indexes.names)
    .bind(&indexes.national_id)
    .fetch_one(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<PatientRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM patients WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Locks the row for a read-modify-write of the identity.
pub async fn by_id_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<PatientRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM patients WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn update_identity(
    db: impl PgExecutor<'_>,
    id: Uuid,
    wrapped_key: &str,
    identity: &[u8],
    indexes: &Indexes,
) -> sqlx::Result<PatientRow> {
    sqlx::query_as(&format!(
        "UPDATE patients SET wrapped_key = $2, identity = $3, name_index = $4, \
         national_id_index = $5, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(wrapped_key)
    .bind(identity)
    .bind(&indexes.names)
    .bind(&indexes.national_id)
    .fetch_one(db)
    .await
}

pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: &str,
) -> sqlx::Result<Option<PatientRow>> {
    sqlx::query_as(&format!(
        "UPDATE patients SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .fetch_optional(db)
    .await
}

pub async fn set_user(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Option<Uuid>,
) -> sqlx::Result<Option<PatientRow>> {
    sqlx::query_as(&format!(
        "UPDATE patients SET user_id = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// What a list asks for.
pub struct PatientFilter {
    pub scope: PatientScope,
    /// Every token's index must be present.
    pub name_tokens: Option<Vec<Vec<u8>>>,
    pub national_id: Option<Vec<u8>>,
    pub include_archived: bool,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(pool: &PgPool, filter: &PatientFilter) -> sqlx::Result<Vec<PatientRow>> {
    let (clinician, own) = match filter.scope {
        PatientScope::All => (None, None),
        PatientScope::CareOf(c) => (Some(c), None),
        PatientScope::Own(u) => (None, Some(u)),
    };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM patients p WHERE \
         ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM care_team_patients tp \
             JOIN care_team_members m ON m.team_id = tp.team_id \
             WHERE tp.patient_id = p.id AND m.clinician_id = $1)) \
         AND ($2::uuid IS NULL OR p.user_id = $2) \
         AND ($3::bytea[] IS NULL OR p.name_index @> $3) \
         AND ($4::bytea IS NULL OR p.national_id_index = $4) \
         AND ($5 OR p.status = 'active') \
         ORDER BY p.created_at, p.id LIMIT $6 OFFSET $7"
    ))
    .bind(clinician)
    .bind(own)
    .bind(&filter.name_tokens)
    .bind(&filter.national_id)
    .bind(filter.include_archived)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub scope: String,
    pub granted: bool,
    pub version: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

pub async fn consents(db: impl PgExecutor<'_>, patient: Uuid) -> sqlx::Result<Vec<ConsentRow>> {
    sqlx::query_as(
        "SELECT scope, granted, version, recorded_by, recorded_at FROM consents \
         WHERE patient_id = $1 ORDER BY scope",
    )
    .bind(patient)
    .fetch_all(db)
    .await
}

pub async fn set_consent(
    db: impl PgExecutor<'_>,
    patient: Uuid,
    scope: &str,
    granted: bool,
    version: Option<&str>,
    by: &str,
) -> sqlx::Result<ConsentRow> {
    sqlx::query_as(
        "INSERT INTO consents (patient_id, scope, granted, version, recorded_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (patient_id, scope) DO UPDATE SET granted = EXCLUDED.granted, \
         version = EXCLUDED.version, recorded_by = EXCLUDED.recorded_by, recorded_at = now() \
         RETURNING scope, granted, version, recorded_by, recorded_at",
    )
    .bind(patient)
    .bind(scope)
    .bind(granted)
    .bind(version)
    .bind(by)
    .fetch_one(db)
    .await
}

/// Every distinct wrapped data key in use, with the tables that hold it (for rewrap).
pub async fn wrapped_keys(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT wrapped_key FROM patients UNION SELECT wrapped_key FROM history_entries",
    )
    .fetch_all(pool)
    .await
}

/// Replaces a wrapped key everywhere; returns how many rows changed.
pub async fn replace_wrapped_key(pool: &PgPool, old: &str, new: &str) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let a = sqlx::query("UPDATE patients SET wrapped_key = $2 WHERE wrapped_key = $1")
        .bind(old)
        .bind(new)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let b = sqlx::query("UPDATE history_entries SET wrapped_key = $2 WHERE wrapped_key = $1")
        .bind(old)
        .bind(new)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(a + b)
}
