//! The `history_entries` table (content is ciphertext).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub kind: String,
    pub wrapped_key: String,
    pub content: Vec<u8>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, patient_id, kind, wrapped_key, content, recorded_by, recorded_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    patient: Uuid,
    kind: &str,
    wrapped_key: &str,
    content: &[u8],
    by: &str,
) -> sqlx::Result<HistoryRow> {
    sqlx::query_as(&format!(
        "INSERT INTO history_entries (id, patient_id, kind, wrapped_key, content, recorded_by) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(patient)
    .bind(kind)
    .bind(wrapped_key)
    .bind(content)
    .bind(by)
    .fetch_one(db)
    .await
}

pub async fn for_patient(
    db: impl PgExecutor<'_>,
    patient: Uuid,
    kind: Option<&str>,
) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM history_entries WHERE patient_id = $1 \
         AND ($2::text IS NULL OR kind = $2) ORDER BY recorded_at, id"
    ))
    .bind(patient)
    .bind(kind)
    .fetch_all(db)
    .await
}
