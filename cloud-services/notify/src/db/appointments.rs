//! The `appointments` table: each appointment's latest state, from the booking events.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::message::AppointmentNow;

pub async fn set(
    db: impl PgExecutor<'_>,
    id: Uuid,
    booked: bool,
    starts_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointments (id, booked, starts_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET booked = EXCLUDED.booked, starts_at = EXCLUDED.starts_at, \
         updated_at = now()",
    )
    .bind(id)
    .bind(booked)
    .bind(starts_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Marks `id` as no longer booked (cancelled, or moved to another appointment), if known.
pub async fn withdraw(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE appointments SET booked = false, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<AppointmentNow>, sqlx::Error> {
    let row: Option<(bool, DateTime<Utc>)> =
        sqlx::query_as("SELECT booked, starts_at FROM appointments WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(booked, starts_at)| AppointmentNow { booked, starts_at }))
}

/// Records `id` as booked at `starts_at` unless something is known of it already (a reminder for
/// an appointment booked before notify was listening).
pub async fn remember(
    db: impl PgExecutor<'_>,
    id: Uuid,
    starts_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointments (id, booked, starts_at) VALUES ($1, true, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(starts_at)
    .execute(db)
    .await
    .map(|_| ())
}
