//! Reading bookkeeping: per-device progress (deduplication by `(epoch, seq)`, and when a reading
//! was last accepted) and per-minute rollups.

use chrono::{DateTime, Utc};
use episante_protocol::stream::StreamPosition;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Where a device's reading stream stands in the database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// The last `(epoch, seq)` applied: readings at or before it are duplicates.
    pub position: StreamPosition,
    /// The latest measurement time applied (for gaps after a restart).
    pub last_ts: DateTime<Utc>,
    /// When a reading was last accepted (consumer's clock): what the dropout watchdog keys on.
    pub accepted_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ProgressRow {
    device_id: String,
    last_epoch: i64,
    last_seq: i64,
    last_ts: DateTime<Utc>,
    accepted_at: DateTime<Utc>,
}

/// The progress of each of `devices` that has any, locked for this transaction.
pub async fn progress_for_update(
    conn: &mut PgConnection,
    devices: &[String],
) -> sqlx::Result<Vec<(String, Progress)>> {
    let rows: Vec<ProgressRow> = sqlx::query_as(
        "SELECT device_id, last_epoch, last_seq, last_ts, accepted_at FROM device_progress \
         WHERE device_id = ANY($1) ORDER BY device_id FOR UPDATE",
    )
    .bind(devices)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            // Written by `save_progress` from non-negative values only.
            let position = StreamPosition::new(
                u64::try_from(row.last_epoch).unwrap_or(0),
                u64::try_from(row.last_seq).unwrap_or(0),
            );
            let progress = Progress {
                position,
                last_ts: row.last_ts,
                accepted_at: row.accepted_at,
            };
            (row.device_id, progress)
        })
        .collect())
}

/// Stores `rows`. Positions must fit in `bigint` (the consumer admits epochs up to `i64::MAX`;
/// seqs are bounded by `episante_protocol::MAX_SEQ`).
pub async fn save_progress(
    conn: &mut PgConnection,
    rows: &[(String, Progress)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut devices = Vec::with_capacity(rows.len());
    let (mut epochs, mut seqs) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    let (mut tss, mut accepted) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (device, p) in rows {
        devices.push(device.clone());
        epochs.push(i64::try_from(p.position.epoch).unwrap_or(i64::MAX));
        seqs.push(i64::try_from(p.position.seq).unwrap_or(i64::MAX));
        tss.push(p.last_ts);
        accepted.push(p.accepted_at);
    }
    sqlx::query(
        "INSERT INTO device_progress (device_id, last_epoch, last_seq, last_ts, accepted_at) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], \
             $5::timestamptz[]) \
         ON CONFLICT (device_id) DO UPDATE SET last_epoch = EXCLUDED.last_epoch, \
         last_seq = EXCLUDED.last_seq, \
         last_ts = GREATEST(device_progress.last_ts, EXCLUDED.last_ts), \
         accepted_at = GREATEST(device_progress.accepted_at, EXCLUDED.accepted_at)",
    )
    .bind(&devices)
    .bind(&epochs)
    .bind(&seqs)
    .bind(&tss)
    .bind(&accepted)
    .execute(conn)
    .await?;
    Ok(())
}

/// When a reading of each of `devices` was last accepted, by any instance.
pub async fn accepted_at(
    pool: &PgPool,
    devices: &[String],
) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    sqlx::query_as("SELECT device_id, accepted_at FROM device_progress WHERE device_id = ANY($1)")
        .bind(devices)
        .fetch_all(pool)
        .await
}

/// One minute of one vital of one device, accumulated in memory before the upsert.
#[derive(Debug, Clone, Copy)]
pub struct Rollup {
    pub patient: Option<Uuid>,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: i64,
}

/// A rollup's key: device, vital, minute.
pub type RollupKey = (String, &'static str, DateTime<Utc>);

pub async fn add_rollups(
    conn: &mut PgConnection,
    rows: &[(RollupKey, Rollup)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut devices = Vec::with_capacity(rows.len());
    let mut vitals = Vec::with_capacity(rows.len());
    let mut minutes = Vec::with_capacity(rows.len());
    let mut patients = Vec::with_capacity(rows.len());
    let (mut mins, mut maxs, mut sums, mut counts) = (vec![], vec![], vec![], vec![]);
    for ((device, vital, minute), r) in rows {
        devices.push(device.clone());
        vitals.push(*vital);
        minutes.push(*minute);
        patients.push(r.patient);
        mins.push(r.min);
        maxs.push(r.max);
        sums.push(r.sum);
        counts.push(r.count);
    }
    sqlx::query(
        "INSERT INTO vitals_minute (device_id, vital, minute, patient_id, min, max, sum, count) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::uuid[], \
             $5::float8[], $6::float8[], $7::float8[], $8::bigint[]) \
         ON CONFLICT (device_id, vital, minute) DO UPDATE SET \
             min = LEAST(vitals_minute.min, EXCLUDED.min), \
             max = GREATEST(vitals_minute.max, EXCLUDED.max), \
             sum = vitals_minute.sum + EXCLUDED.sum, \
             count = vitals_minute.count + EXCLUDED.count, \
             patient_id = COALESCE(EXCLUDED.patient_id, vitals_minute.patient_id)",
    )
    .bind(&devices)
    .bind(&vitals)
    .bind(&minutes)
    .bind(&patients)
    .bind(&mins)
    .bind(&maxs)
    .bind(&sums)
    .bind(&counts)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize)]
pub struct VitalBucket {
    pub vital: String,
    pub t: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

/// Rollups of `patient` in `[from, to)` re-bucketed to `bucket_secs`.
pub async fn history(
    pool: &PgPool,
    patient: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_secs: i64,
) -> sqlx::Result<Vec<VitalBucket>> {
    sqlx::query_as(
        "SELECT vital, date_bin(make_interval(secs => $4), minute, TIMESTAMPTZ '2000-01-01') AS t, \
             min(min) AS min, max(max) AS max, sum(sum) / sum(count) AS avg, sum(count)::bigint AS count \
         FROM vitals_minute WHERE patient_id = $1 AND minute >= $2 AND minute < $3 \
         GROUP BY vital, t ORDER BY vital, t",
    )
    .bind(patient)
    .bind(from)
    .bind(to)
    .bind(bucket_secs as f64)
    .fetch_all(pool)
    .await
}
