//! The transactional outbox: rows written with the change they describe, published later by
//! `events::OutboxRelay`.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// One row to write.
#[derive(Debug, Clone)]
pub struct NewOutboxRow {
    pub event_id: Uuid,
    /// `booked`, `cancelled`, `rescheduled`, `reminder_24h`, `reminder_1h`, `slot_offered`.
    pub kind: &'static str,
    pub appointment_id: Option<Uuid>,
    /// The bus key (appointment id; per-key order).
    pub key: String,
    pub payload: String,
    pub due_at: DateTime<Utc>,
}

/// Rows as column arrays, for `INSERT … SELECT * FROM UNNEST(…)`.
pub struct OutboxColumns<'a> {
    pub event_ids: Vec<Uuid>,
    pub kinds: Vec<&'a str>,
    pub appointment_ids: Vec<Option<Uuid>>,
    pub keys: Vec<&'a str>,
    pub payloads: Vec<&'a str>,
    pub due: Vec<DateTime<Utc>>,
}

impl<'a> From<&'a [NewOutboxRow]> for OutboxColumns<'a> {
    fn from(rows: &'a [NewOutboxRow]) -> Self {
        OutboxColumns {
            event_ids: rows.iter().map(|r| r.event_id).collect(),
            kinds: rows.iter().map(|r| r.kind).collect(),
            appointment_ids: rows.iter().map(|r| r.appointment_id).collect(),
            keys: rows.iter().map(|r| r.key.as_str()).collect(),
            payloads: rows.iter().map(|r| r.payload.as_str()).collect(),
            due: rows.iter().map(|r| r.due_at).collect(),
        }
    }
}

pub async fn insert(db: impl PgExecutor<'_>, rows: &[NewOutboxRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let c = OutboxColumns::from(rows);
    sqlx::query(
        "INSERT INTO outbox (event_id, kind, appointment_id, key, payload, due_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                              $6::timestamptz[])",
    )
    .bind(&c.event_ids)
    .bind(&c.kinds)
    .bind(&c.appointment_ids)
    .bind(&c.keys)
    .bind(&c.payloads)
    .bind(&c.due)
    .execute(db)
    .await?;
    Ok(())
}

/// Withdraws the unsent reminders of an appointment (cancelled or rescheduled).
pub async fn cancel_reminders(
    db: impl PgExecutor<'_>,
    appointment_id: Uuid,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE outbox SET cancelled_at = now()
         WHERE appointment_id = $1 AND kind IN ('reminder_24h', 'reminder_1h')
           AND sent_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(appointment_id)
    .execute(db)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub payload: String,
}

/// Claims up to `limit` due, unsent rows for this transaction. Rows another instance has
/// claimed are skipped rather than waited for, so instances share the work and never send a
/// row twice.
pub async fn claim_due(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, key, payload FROM outbox
         WHERE sent_at IS NULL AND cancelled_at IS NULL AND due_at <= now()
         ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

pub async fn mark_sent(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET sent_at = now() WHERE id = ANY ($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
