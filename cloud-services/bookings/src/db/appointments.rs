//! The `appointments` table. Double booking is refused by the `appointments_no_overlap`
//! exclusion constraint, which `place` surfaces as a database error the caller maps to 409.

use chrono::{DateTime, Utc};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::db::outbox::{NewOutboxRow, OutboxColumns};
use crate::domain::appointment::Status;
use crate::domain::schedule::Span;

#[derive(Debug, Clone, FromRow)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub specialty: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: Status,
    pub booked_by: String,
    pub rescheduled_from: Option<Uuid>,
    pub rescheduled_to: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// `patient` or `practice`.
    pub cancelled_by: Option<String>,
    pub cancellation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AppointmentRow {
    pub fn span(&self) -> Span {
        Span {
            start: self.starts_at,
            end: self.ends_at,
        }
    }
}

const COLUMNS: &str =
    "id, practitioner_id, patient_id, appointment_type_id, specialty, starts_at, \
    ends_at, status, booked_by, rescheduled_from, rescheduled_to, cancelled_at, cancelled_by, \
    cancellation_reason, created_at, updated_at";

pub struct NewAppointment<'a> {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub specialty: &'a str,
    pub slot: Span,
    pub booked_by: &'a str,
    pub rescheduled_from: Option<Uuid>,
}

/// Why `place` refused a booking (besides the exclusion constraint, a database error).
#[derive(Debug)]
pub enum PlaceError {
    /// The patient has an active appointment of the same specialty starting at this time,
    /// within the exclusion window.
    SameSpecialty(DateTime<Utc>),
    /// The slot is held for another patient from the waitlist until this time.
    Held(DateTime<Utc>),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for PlaceError {
    fn from(e: sqlx::Error) -> Self {
        let refusal = match &e {
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|pg| Some((pg.code(), pg.detail()?.parse::<DateTime<Utc>>().ok()?))),
            _ => None,
        };
        match refusal {
            Some(("EB001", at)) => PlaceError::SameSpecialty(at),
            Some(("EB002", until)) => PlaceError::Held(until),
            _ => PlaceError::Db(e),
        }
    }
}

/// Books in one statement (one round trip: `place_appointment`, migration 0003): the booking
/// locks, the same-specialty rule when `exclusion` is set (the window in which another active
/// appointment of the specialty refuses this one), the appointment with its outbox rows, then
/// the waitlist holds on the slot. Run on its own (autocommit) or inside a transaction.
pub async fn place(
    db: impl PgExecutor<'_>,
    new: &NewAppointment<'_>,
    exclusion: Option<Span>,
    outbox: &[NewOutboxRow],
) -> Result<AppointmentRow, PlaceError> {
    let c = OutboxColumns::from(outbox);
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM place_appointment($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
            $12, $13, $14, $15, $16, $17, $18)"
    ))
    .bind(new.id)
    .bind(new.practitioner_id)
    .bind(new.patient_id)
    .bind(new.appointment_type_id)
    .bind(new.specialty)
    .bind(new.slot.start)
    .bind(new.slot.end)
    .bind(new.booked_by)
    .bind(new.rescheduled_from)
    .bind(exclusion.map(|w| w.start))
    .bind(exclusion.map(|w| w.end))
    .bind(&c.event_ids)
    .bind(&c.kinds)
    .bind(&c.appointment_ids)
    .bind(&c.keys)
    .bind(&c.payloads)
    .bind(&c.due)
    .bind(KAFKA_BOOKING_EVENTS)
    .fetch_one(db)
    .await?)
}

pub async fn set_rescheduled_to(
    db: impl PgExecutor<'_>,
    id: Uuid,
    to: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE appointments SET rescheduled_to = $2 WHERE id = $1")
        .bind(id)
        .bind(to)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn by_id(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM appointments WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Locks the row for the rest of the transaction (cancel, reschedule).
pub async fn by_id_for_update(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM appointments WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// Moves an appointment to `to` if it is in one of `from`; `None` when it is not (or missing).
pub async fn transition(
    db: impl PgExecutor<'_>,
    id: Uuid,
    to: Status,
    from: &[Status],
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    sqlx::query_as(&format!(
        "UPDATE appointments SET status = $2, updated_at = now(),
            cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE cancelled_at END
         WHERE id = $1 AND status = ANY ($3) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(to.as_str())
    .bind(&from)
    .fetch_optional(db)
    .await
}

/// Cancels a booked appointment, saying who (`patient` or `practice`) and why; `None` when it is
/// no longer booked.
pub async fn cancel(
    db: impl PgExecutor<'_>,
    id: Uuid,
    by: &str,
    reason: Option<&str>,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE appointments SET status = 'cancelled', updated_at = now(), cancelled_at = now(),
            cancelled_by = $2, cancellation_reason = $3
         WHERE id = $1 AND status = 'booked' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(by)
    .bind(reason)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Default)]
pub struct AppointmentFilter {
    pub patient_id: Option<Uuid>,
    pub practitioner_id: Option<Uuid>,
    pub status: Option<Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The condition of [`AppointmentFilter`] on `$1` to `$5`, shared by `list` and `count`.
const FILTER: &str = "($1::uuid IS NULL OR patient_id = $1)
           AND ($2::uuid IS NULL OR practitioner_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::timestamptz IS NULL OR starts_at >= $4)
           AND ($5::timestamptz IS NULL OR starts_at < $5)";

pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &AppointmentFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM appointments WHERE {FILTER}
         ORDER BY starts_at, id LIMIT $6 OFFSET $7"
    ))
    .bind(filter.patient_id)
    .bind(filter.practitioner_id)
    .bind(filter.status.map(Status::as_str))
    .bind(filter.from)
    .bind(filter.to)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many appointments `filter` selects (a FHIR searchset's `total`).
pub async fn count(
    db: impl PgExecutor<'_>,
    filter: &AppointmentFilter,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT count(*) FROM appointments WHERE {FILTER}"))
        .bind(filter.patient_id)
        .bind(filter.practitioner_id)
        .bind(filter.status.map(Status::as_str))
        .bind(filter.from)
        .bind(filter.to)
        .fetch_one(db)
        .await
}

/// Time taken by non-cancelled appointments of `practitioner_ids` overlapping `span`.
pub async fn busy(
    db: impl PgExecutor<'_>,
    practitioner_ids: &[Uuid],
    span: Span,
) -> Result<Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT practitioner_id, starts_at, ends_at FROM appointments
         WHERE practitioner_id = ANY ($1) AND status <> 'cancelled'
           AND starts_at < $3 AND ends_at > $2",
    )
    .bind(practitioner_ids)
    .bind(span.start)
    .bind(span.end)
    .fetch_all(db)
    .await
}
