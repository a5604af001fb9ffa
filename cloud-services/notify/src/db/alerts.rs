//! The `alerts` table: whether each alert still waits for someone, from `alerts.events.v1`.

use sqlx::PgExecutor;
use uuid::Uuid;

pub async fn set(db: impl PgExecutor<'_>, id: Uuid, active: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alerts (id, active) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active, updated_at = now()",
    )
    .bind(id)
    .bind(active)
    .execute(db)
    .await
    .map(|_| ())
}

/// Whether `id` is still unacknowledged (`None`: never heard of).
pub async fn active(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar("SELECT active FROM alerts WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
