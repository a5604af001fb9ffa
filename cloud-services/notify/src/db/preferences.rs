//! The `preferences` table: one row per person who changed theirs (others have the defaults).

use std::collections::BTreeMap;

use chrono::NaiveTime;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::preferences::{Preferences, PreferencesForm, QuietHoursForm};

#[derive(FromRow)]
struct Row {
    phone: Option<String>,
    channels: Json<BTreeMap<String, Vec<String>>>,
    quiet_start: Option<NaiveTime>,
    quiet_end: Option<NaiveTime>,
    quiet_zone: Option<String>,
    on_call: bool,
    time_zone: Option<String>,
}

impl Row {
    /// Stored rows were checked when written; one that no longer parses (a kind renamed) reads
    /// as the defaults rather than stopping messages.
    fn into_preferences(self) -> Preferences {
        let form = PreferencesForm {
            phone: self.phone,
            channels: self.channels.0,
            quiet_hours: match (self.quiet_start, self.quiet_end, self.quiet_zone) {
                (Some(start), Some(end), Some(time_zone)) => Some(QuietHoursForm {
                    start: start.format("%H:%M").to_string(),
                    end: end.format("%H:%M").to_string(),
                    time_zone,
                }),
                _ => None,
            },
            on_call: self.on_call,
            time_zone: self.time_zone,
        };
        Preferences::parse(&form, true).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored preferences no longer valid; using the defaults");
            Preferences::default()
        })
    }
}

pub async fn get(db: impl PgExecutor<'_>, user: Uuid) -> Result<Preferences, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT phone, channels, quiet_start, quiet_end, quiet_zone, on_call, time_zone \
         FROM preferences WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Row::into_preferences).unwrap_or_default())
}

pub async fn put(db: impl PgExecutor<'_>, user: Uuid, p: &Preferences) -> Result<(), sqlx::Error> {
    let form = p.to_form();
    sqlx::query(
        "INSERT INTO preferences (user_id, phone, channels, quiet_start, quiet_end, quiet_zone, on_call, \
             time_zone) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (user_id) DO UPDATE SET phone = EXCLUDED.phone, channels = EXCLUDED.channels, \
             quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, \
             quiet_zone = EXCLUDED.quiet_zone, on_call = EXCLUDED.on_call, \
             time_zone = EXCLUDED.time_zone, updated_at = now()",
    )
    .bind(user)
    .bind(form.phone)
    .bind(Json(form.channels))
    .bind(p.quiet_hours.map(|q| q.start))
    .bind(p.quiet_hours.map(|q| q.end))
    .bind(p.quiet_hours.map(|q| q.zone.name().to_string()))
    .bind(p.on_call)
    .bind(form.time_zone)
    .execute(db)
    .await
    .map(|_| ())
}

/// Everyone on call, for level-2 escalations.
pub async fn on_call(db: impl PgExecutor<'_>) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM preferences WHERE on_call ORDER BY user_id")
        .fetch_all(db)
        .await
}
