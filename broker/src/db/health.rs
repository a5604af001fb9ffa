//! The `device_health` table: written in batches by [`crate::fleet::FleetHealth`].

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// What changed for one device since the last flush (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthChange {
    /// `(online, start of the session that says so)`: a late "offline" from a session that an
    /// newer one (maybe on another broker) replaced does not overwrite "online".
    pub online: Option<(bool, DateTime<Utc>)>,
    pub last_reading_at: Option<DateTime<Utc>>,
    pub last_status_at: Option<DateTime<Utc>>,
    pub backlog: Option<i64>,
    pub agent_version: Option<String>,
    /// `(epoch, seq)`; only ever moves forward in the table.
    pub position: Option<(i64, i64)>,
}

/// Records that instance `instance_id` is alive (every second, with each flush). A device reads as
/// online only while its session's instance was seen in the last 15 s (`db::devices`).
pub async fn instance_alive(db: impl PgExecutor<'_>, instance_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO broker_instances (instance_id, seen_at) VALUES ($1, now())
         ON CONFLICT (instance_id) DO UPDATE SET seen_at = now()",
    )
    .bind(instance_id)
    .execute(db)
    .await
    .map(drop)
}

/// Applies changes (made on instance `instance_id`) in one statement.
pub async fn apply(
    db: impl PgExecutor<'_>,
    instance_id: &str,
    changes: &[(String, HealthChange)],
) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut online = Vec::new();
    let mut session_at = Vec::new();
    let mut reading_at = Vec::new();
    let mut status_at = Vec::new();
    let mut backlog = Vec::new();
    let mut version = Vec::new();
    let mut epoch = Vec::new();
    let mut seq = Vec::new();
    for (id, c) in changes {
        ids.push(id.clone());
        online.push(c.online.map(|o| o.0));
        session_at.push(c.online.map(|o| o.1));
        reading_at.push(c.last_reading_at);
        status_at.push(c.last_status_at);
        backlog.push(c.backlog);
        version.push(c.agent_version.clone());
        epoch.push(c.position.map(|p| p.0));
        seq.push(c.position.map(|p| p.1));
    }
    sqlx::query(
        "INSERT INTO device_health AS h (device_id, online, last_connect_at, last_disconnect_at,
             last_reading_at, last_status_at, backlog, agent_version, stream_epoch, stream_seq,
             instance_id)
         SELECT u.id, COALESCE(u.online, false),
                u.session_at, CASE WHEN NOT u.online THEN now() END,
                u.reading_at, u.status_at, u.backlog, u.version,
                COALESCE(u.epoch, 0), COALESCE(u.seq, 0),
                CASE WHEN u.online IS NOT NULL THEN $10 END
         FROM unnest($1::text[], $2::bool[], $3::timestamptz[], $4::timestamptz[],
                     $5::timestamptz[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[])
              AS u(id, online, session_at, reading_at, status_at, backlog, version, epoch, seq)
         JOIN devices d ON d.device_id = u.id
         ON CONFLICT (device_id) DO UPDATE SET
           -- A change of `online` counts only if its session is not older than the last one seen.
           online = CASE
               WHEN EXCLUDED.last_connect_at IS NULL THEN h.online
               WHEN EXCLUDED.last_connect_at >= COALESCE(h.last_connect_at, '-infinity') THEN EXCLUDED.online
               ELSE h.online END,
           instance_id = CASE
               WHEN EXCLUDED.last_connect_at IS NOT NULL
                    AND EXCLUDED.last_connect_at >= COALESCE(h.last_connect_at, '-infinity')
                 THEN EXCLUDED.instance_id
               ELSE h.instance_id END,
           last_connect_at = GREATEST(EXCLUDED.last_connect_at, h.last_connect_at),
           last_disconnect_at = COALESCE(EXCLUDED.last_disconnect_at, h.last_disconnect_at),
           last_reading_at = GREATEST(EXCLUDED.last_reading_at, h.last_reading_at),
           last_status_at = GREATEST(EXCLUDED.last_status_at, h.last_status_at),
           backlog = COALESCE(EXCLUDED.backlog, h.backlog),
           agent_version = COALESCE(EXCLUDED.agent_version, h.agent_version),
           (stream_epoch, stream_seq) = (SELECT CASE WHEN (EXCLUDED.stream_epoch, EXCLUDED.stream_seq)
                                                    > (h.stream_epoch, h.stream_seq)
                                               THEN EXCLUDED.stream_epoch ELSE h.stream_epoch END,
                                               CASE WHEN (EXCLUDED.stream_epoch, EXCLUDED.stream_seq)
                                                    > (h.stream_epoch, h.stream_seq)
                                               THEN EXCLUDED.stream_seq ELSE h.stream_seq END)",
    )
    .bind(ids)
    .bind(online)
    .bind(session_at)
    .bind(reading_at)
    .bind(status_at)
    .bind(backlog)
    .bind(version)
    .bind(epoch)
    .bind(seq)
    .bind(instance_id)
    .execute(db)
    .await
    .map(drop)
}
