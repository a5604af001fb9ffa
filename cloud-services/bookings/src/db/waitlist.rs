//! The `waitlist_entries` and `slot_holds` tables.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::schedule::Span;

#[derive(Debug, Clone, FromRow)]
pub struct WaitlistRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// The slot held for this entry right now, if any (read by `list`).
    #[sqlx(default)]
    pub offer_starts_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    pub offer_ends_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    pub offer_appointment_type_id: Option<Uuid>,
    #[sqlx(default)]
    pub offer_expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, patient_id, practitioner_id, window_start, window_end, status, created_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    patient_id: Uuid,
    practitioner_id: Uuid,
    window: Span,
) -> Result<WaitlistRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO waitlist_entries (id, patient_id, practitioner_id, window_start, window_end)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(patient_id)
    .bind(practitioner_id)
    .bind(window.start)
    .bind(window.end)
    .fetch_one(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<WaitlistRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM waitlist_entries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn list(
    db: impl PgExecutor<'_>,
    patient_id: Option<Uuid>,
    practitioner_id: Option<Uuid>,
    limit: i64,
    offset: i64,
) -> Result<Vec<WaitlistRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT w.id, w.patient_id, w.practitioner_id, w.window_start, w.window_end, w.status,
                w.created_at, h.starts_at AS offer_starts_at, h.ends_at AS offer_ends_at,
                h.appointment_type_id AS offer_appointment_type_id,
                h.expires_at AS offer_expires_at
         FROM waitlist_entries w
         LEFT JOIN slot_holds h ON h.waitlist_entry_id = w.id AND h.released_at IS NULL
                                AND h.expires_at > now()
         WHERE ($1::uuid IS NULL OR w.patient_id = $1) AND ($2::uuid IS NULL OR w.practitioner_id = $2)
         ORDER BY w.created_at, w.id LIMIT $3 OFFSET $4",
    )
    .bind(patient_id)
    .bind(practitioner_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: &str,
) -> Result<Option<WaitlistRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE waitlist_entries SET status = $2 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .fetch_optional(db)
    .await
}

/// The first patient in line whose window contains `slot`, other than `except_patient`, locked
/// for this transaction (entries another transaction is offering are skipped).
pub async fn first_waiting_for(
    tx: &mut Transaction<'_, Postgres>,
    practitioner_id: Uuid,
    slot: Span,
    except_patient: Uuid,
) -> Result<Option<WaitlistRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM waitlist_entries
         WHERE practitioner_id = $1 AND status = 'waiting'
           AND window_start <= $2 AND window_end >= $3 AND patient_id <> $4
         ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(practitioner_id)
    .bind(slot.start)
    .bind(slot.end)
    .bind(except_patient)
    .fetch_optional(&mut **tx)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct HoldRow {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub appointment_type_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub patient_id: Uuid,
    pub waitlist_entry_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

impl HoldRow {
    pub fn span(&self) -> Span {
        Span {
            start: self.starts_at,
            end: self.ends_at,
        }
    }
}

const HOLD_COLUMNS: &str = "id, practitioner_id, appointment_type_id, starts_at, ends_at, \
    patient_id, waitlist_entry_id, expires_at";

pub struct NewHold {
    pub practitioner_id: Uuid,
    pub appointment_type_id: Uuid,
    pub slot: Span,
    pub patient_id: Uuid,
    pub waitlist_entry_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_hold(db: impl PgExecutor<'_>, hold: &NewHold) -> Result<HoldRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO slot_holds (id, practitioner_id, appointment_type_id, starts_at, ends_at,
            patient_id, waitlist_entry_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {HOLD_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(hold.practitioner_id)
    .bind(hold.appointment_type_id)
    .bind(hold.slot.start)
    .bind(hold.slot.end)
    .bind(hold.patient_id)
    .bind(hold.waitlist_entry_id)
    .bind(hold.expires_at)
    .fetch_one(db)
    .await
}

/// Unexpired holds of `practitioner_ids` overlapping `span`.
pub async fn active_holds(
    db: impl PgExecutor<'_>,
    practitioner_ids: &[Uuid],
    span: Span,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {HOLD_COLUMNS} FROM slot_holds
         WHERE practitioner_id = ANY ($1) AND released_at IS NULL AND expires_at > now()
           AND starts_at < $3 AND ends_at > $2
         ORDER BY starts_at"
    ))
    .bind(practitioner_ids)
    .bind(span.start)
    .bind(span.end)
    .fetch_all(db)
    .await
}

pub async fn release_hold(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE slot_holds SET released_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Claims expired, unreleased holds for this transaction (skipping ones another instance has).
pub async fn claim_expired_holds(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<HoldRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {HOLD_COLUMNS} FROM slot_holds
         WHERE released_at IS NULL AND expires_at <= now()
         ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// Makes the unreleased holds of a waitlist entry expire now.
pub async fn lapse_holds_of_entry(
    db: impl PgExecutor<'_>,
    waitlist_entry_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE slot_holds SET expires_at = least(expires_at, now())
         WHERE waitlist_entry_id = $1 AND released_at IS NULL",
    )
    .bind(waitlist_entry_id)
    .execute(db)
    .await?;
    Ok(())
}

/// The entry's offer lapsed unanswered (a no-op unless it is `offered`).
pub async fn expire_offer(db: impl PgExecutor<'_>, entry: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE waitlist_entries SET status = 'expired' WHERE id = $1 AND status = 'offered'",
    )
    .bind(entry)
    .execute(db)
    .await?;
    Ok(())
}
