//! Bookings' rows in the transactional outbox, written with the change they describe and
//! published later by the kit's relay (`episante_kit::events::outbox`). Bookings adds three
//! columns of its own: the event id, the kind (one reminder of each kind per appointment) and
//! the appointment, so that cancelling withdraws its reminders.

use chrono::{DateTime, Utc};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use sqlx::PgExecutor;
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
        "INSERT INTO outbox (topic, event_id, kind, appointment_id, key, payload, due_at)
         SELECT $7, e, k, a, key, convert_to(p, 'UTF8'), d
         FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                     $6::timestamptz[]) AS u (e, k, a, key, p, d)",
    )
    .bind(&c.event_ids)
    .bind(&c.kinds)
    .bind(&c.appointment_ids)
    .bind(&c.keys)
    .bind(&c.payloads)
    .bind(&c.due)
    .bind(KAFKA_BOOKING_EVENTS)
    .execute(db)
    .await?;
    Ok(())
}

/// Withdraws the unpublished reminders of an appointment (cancelled or rescheduled).
pub async fn withdraw_reminders(
    db: impl PgExecutor<'_>,
    appointment_id: Uuid,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM outbox
         WHERE appointment_id = $1 AND kind IN ('reminder_24h', 'reminder_1h')
           AND published_at IS NULL",
    )
    .bind(appointment_id)
    .execute(db)
    .await?
    .rows_affected())
}
