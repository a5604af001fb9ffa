//! The `device_assignments` table: which device feeds which patient's record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize, ToSchema)]
pub struct DeviceAssignment {
    pub device_id: String,
    pub patient_id: Uuid,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
}

const COLUMNS: &str = "device_id, patient_id, assigned_by, assigned_at";

pub async fn by_device(
    db: impl PgExecutor<'_>,
    device: &str,
) -> sqlx::Result<Option<DeviceAssignment>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM device_assignments WHERE device_id = $1"
    ))
    .bind(device)
    .fetch_optional(db)
    .await
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    device: &str,
    patient: Uuid,
    by: &str,
) -> sqlx::Result<DeviceAssignment> {
    sqlx::query_as(&format!(
        "INSERT INTO device_assignments (device_id, patient_id, assigned_by) VALUES ($1, $2, $3) \
         RETURNING {COLUMNS}"
    ))
    .bind(device)
    .bind(patient)
    .bind(by)
    .fetch_one(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, device: &str, patient: Uuid) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM device_assignments WHERE device_id = $1 AND patient_id = $2")
            .bind(device)
            .bind(patient)
            .execute(db)
            .await?
            .rows_affected()
            == 1,
    )
}

pub async fn for_patient(
    db: impl PgExecutor<'_>,
    patient: Uuid,
) -> sqlx::Result<Vec<DeviceAssignment>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM device_assignments WHERE patient_id = $1 ORDER BY assigned_at"
    ))
    .bind(patient)
    .fetch_all(db)
    .await
}
