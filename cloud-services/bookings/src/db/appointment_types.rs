//! The `appointment_types` table.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct AppointmentTypeRow {
    pub id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub created_at: DateTime<Utc>,
}

impl AppointmentTypeRow {
    pub fn duration(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.duration_minutes as i64)
    }
}

const COLUMNS: &str = "id, name, duration_minutes, created_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    name: &str,
    duration_minutes: i32,
) -> Result<AppointmentTypeRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO appointment_types (id, name, duration_minutes) VALUES ($1, $2, $3)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(duration_minutes)
    .fetch_one(db)
    .await
}

pub async fn by_id(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<AppointmentTypeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM appointment_types WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn list(
    db: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<AppointmentTypeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM appointment_types ORDER BY name, id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}
