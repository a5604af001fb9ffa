//! Webhook deliveries: a durable queue, so a restart loses no notification.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

pub async fn enqueue(conn: &mut PgConnection, event_id: i64, urls: &[String]) -> sqlx::Result<()> {
    if urls.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (event_id, url) SELECT $1, u FROM UNNEST($2::text[]) AS u",
    )
    .bind(event_id)
    .bind(urls)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct Due {
    pub id: i64,
    pub event_id: i64,
    pub url: String,
    pub attempts: i32,
    pub body: sqlx::types::Json<serde_json::Value>,
}

/// Deliveries due now, leased for a minute so other instances (and this one's next round) skip
/// them while they are in flight.
pub async fn lease_due(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "WITH picked AS (SELECT id FROM webhook_deliveries \
             WHERE delivered_at IS NULL AND NOT gave_up AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '60 seconds' \
         FROM picked WHERE d.id = picked.id \
         RETURNING d.id, d.event_id, d.url, d.attempts, \
             (SELECT to_jsonb(e) FROM alert_events e WHERE e.id = d.event_id) AS body",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn delivered(pool: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET delivered_at = now(), attempts = attempts + 1 WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn failed(
    pool: &PgPool,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2, \
         next_attempt_at = COALESCE($3, next_attempt_at), gave_up = ($3 IS NULL) WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .execute(pool)
    .await?;
    Ok(())
}
