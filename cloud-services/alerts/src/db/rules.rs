//! Per-patient rule overrides.

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::rules::AlertRule;

pub async fn overrides(pool: &PgPool, patient: Uuid) -> sqlx::Result<Vec<AlertRule>> {
    let json: Option<sqlx::types::Json<Vec<AlertRule>>> =
        sqlx::query_scalar("SELECT rules FROM patient_rules WHERE patient_id = $1")
            .bind(patient)
            .fetch_optional(pool)
            .await?;
    Ok(json.map(|j| j.0).unwrap_or_default())
}

pub async fn set_overrides(
    db: impl PgExecutor<'_>,
    patient: Uuid,
    rules: &[AlertRule],
    by: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO patient_rules (patient_id, rules, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (patient_id) DO UPDATE SET rules = EXCLUDED.rules, \
         updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(patient)
    .bind(sqlx::types::Json(rules))
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}
