//! The `practitioners` table and their availability (weekly windows, exceptions).

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::practitioner::TimeZone;
use crate::domain::schedule::{Span, WeeklyWindow};

#[derive(Debug, Clone, FromRow)]
pub struct PractitionerRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub specialty: String,
    pub location: String,
    pub languages: Vec<String>,
    pub time_zone: TimeZone,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, user_id, display_name, specialty, location, languages, time_zone, created_at";

pub struct NewPractitioner<'a> {
    pub user_id: Uuid,
    pub display_name: &'a str,
    pub specialty: &'a str,
    pub location: &'a str,
    pub languages: &'a [String],
    pub time_zone: TimeZone,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewPractitioner<'_>,
) -> Result<PractitionerRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO practitioners (id, user_id, display_name, specialty, location, languages, time_zone)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(new.user_id)
    .bind(new.display_name)
    .bind(new.specialty)
    .bind(new.location)
    .bind(new.languages)
    .bind(new.time_zone)
    .fetch_one(db)
    .await
}

pub async fn by_id(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<PractitionerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM practitioners WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn by_user_id(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Option<PractitionerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM practitioners WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Default)]
pub struct PractitionerFilter {
    pub id: Option<Uuid>,
    pub specialty: Option<String>,
    pub location: Option<String>,
    pub language: Option<String>,
}

/// The condition of [`PractitionerFilter`] on `$1` to `$4`, shared by `list` and `count`.
const FILTER: &str = "($1::uuid IS NULL OR id = $1)
           AND ($2::text IS NULL OR specialty = $2)
           AND ($3::text IS NULL OR location = $3)
           AND ($4::text IS NULL OR $4 = ANY (languages))";

pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &PractitionerFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<PractitionerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM practitioners WHERE {FILTER}
         ORDER BY display_name, id LIMIT $5 OFFSET $6"
    ))
    .bind(filter.id)
    .bind(filter.specialty.as_deref())
    .bind(filter.location.as_deref())
    .bind(filter.language.as_deref())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many practitioners `filter` selects (a FHIR searchset's `total`).
pub async fn count(
    db: impl PgExecutor<'_>,
    filter: &PractitionerFilter,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM practitioners WHERE {FILTER}"
    ))
    .bind(filter.id)
    .bind(filter.specialty.as_deref())
    .bind(filter.location.as_deref())
    .bind(filter.language.as_deref())
    .fetch_one(db)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct WindowRow {
    pub practitioner_id: Uuid,
    pub weekday: i16,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
}

impl WindowRow {
    pub fn to_window(&self) -> WeeklyWindow {
        WeeklyWindow {
            // The CHECK constraint keeps weekday in 1..=7.
            weekday: Weekday::try_from((self.weekday.clamp(1, 7) - 1) as u8)
                .unwrap_or(Weekday::Mon),
            start: self.start_time,
            end: self.end_time,
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ExceptionRow {
    pub id: Uuid,
    pub practitioner_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
}

impl ExceptionRow {
    pub fn span(&self) -> Span {
        Span {
            start: self.starts_at,
            end: self.ends_at,
        }
    }
}

/// Weekly windows of several practitioners.
pub async fn windows(
    db: impl PgExecutor<'_>,
    practitioner_ids: &[Uuid],
) -> Result<Vec<WindowRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT practitioner_id, weekday, start_time, end_time FROM availability_windows
         WHERE practitioner_id = ANY ($1) ORDER BY practitioner_id, weekday, start_time",
    )
    .bind(practitioner_ids)
    .fetch_all(db)
    .await
}

/// Exceptions of several practitioners overlapping `span` (all of them when `span` is `None`).
pub async fn exceptions(
    db: impl PgExecutor<'_>,
    practitioner_ids: &[Uuid],
    span: Option<Span>,
) -> Result<Vec<ExceptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, practitioner_id, starts_at, ends_at, reason FROM availability_exceptions
         WHERE practitioner_id = ANY ($1)
           AND ($2::timestamptz IS NULL OR ends_at > $2)
           AND ($3::timestamptz IS NULL OR starts_at < $3)
         ORDER BY practitioner_id, starts_at, id",
    )
    .bind(practitioner_ids)
    .bind(span.map(|s| s.start))
    .bind(span.map(|s| s.end))
    .fetch_all(db)
    .await
}

/// A practitioner with the windows and the exceptions overlapping `span`, in one round trip
/// (the booking path's only read before its transaction).
#[derive(Debug, FromRow)]
pub struct ScheduleRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub specialty: String,
    pub time_zone: TimeZone,
    pub window_days: Vec<i16>,
    pub window_starts: Vec<NaiveTime>,
    pub window_ends: Vec<NaiveTime>,
    pub exception_starts: Vec<DateTime<Utc>>,
    pub exception_ends: Vec<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    /// Whether a non-cancelled appointment already overlaps the requested slot (a cheap early
    /// answer under contention; the exclusion constraint stays the source of truth).
    pub taken: bool,
}

pub async fn schedule_for_booking(
    db: impl PgExecutor<'_>,
    practitioner_id: Uuid,
    appointment_type_id: Uuid,
    starts_at: DateTime<Utc>,
    span: Span,
) -> Result<Option<ScheduleRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.user_id, p.specialty, p.time_zone,
            ARRAY(SELECT weekday FROM availability_windows w WHERE w.practitioner_id = p.id
                  ORDER BY weekday, start_time) AS window_days,
            ARRAY(SELECT start_time FROM availability_windows w WHERE w.practitioner_id = p.id
                  ORDER BY weekday, start_time) AS window_starts,
            ARRAY(SELECT end_time FROM availability_windows w WHERE w.practitioner_id = p.id
                  ORDER BY weekday, start_time) AS window_ends,
            ARRAY(SELECT starts_at FROM availability_exceptions e WHERE e.practitioner_id = p.id
                  AND e.ends_at > $3 AND e.starts_at < $4 ORDER BY starts_at, id) AS exception_starts,
            ARRAY(SELECT ends_at FROM availability_exceptions e WHERE e.practitioner_id = p.id
                  AND e.ends_at > $3 AND e.starts_at < $4 ORDER BY starts_at, id) AS exception_ends,
            (SELECT duration_minutes FROM appointment_types t WHERE t.id = $2) AS duration_minutes,
            EXISTS (SELECT 1 FROM appointments a
                    WHERE a.practitioner_id = p.id AND a.status <> 'cancelled'
                      AND tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange($5, $5 + make_interval(
                          mins => (SELECT duration_minutes FROM appointment_types t WHERE t.id = $2)), '[)')
                   ) AS taken
         FROM practitioners p WHERE p.id = $1",
    )
    .bind(practitioner_id)
    .bind(appointment_type_id)
    .bind(span.start)
    .bind(span.end)
    .bind(starts_at)
    .fetch_optional(db)
    .await
}

impl ScheduleRow {
    pub fn windows(&self) -> Vec<WeeklyWindow> {
        self.window_days
            .iter()
            .zip(&self.window_starts)
            .zip(&self.window_ends)
            .map(|((&weekday, &start_time), &end_time)| {
                WindowRow {
                    practitioner_id: self.id,
                    weekday,
                    start_time,
                    end_time,
                }
                .to_window()
            })
            .collect()
    }

    pub fn exceptions(&self) -> Vec<Span> {
        self.exception_starts
            .iter()
            .zip(&self.exception_ends)
            .map(|(&start, &end)| Span { start, end })
            .collect()
    }
}

pub struct NewException<'a> {
    pub span: Span,
    pub reason: &'a str,
}

/// Replaces a practitioner's whole availability (template and exceptions) atomically.
pub async fn replace_availability(
    tx: &mut Transaction<'_, Postgres>,
    practitioner_id: Uuid,
    windows: &[WeeklyWindow],
    exceptions: &[NewException<'_>],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM availability_windows WHERE practitioner_id = $1")
        .bind(practitioner_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM availability_exceptions WHERE practitioner_id = $1")
        .bind(practitioner_id)
        .execute(&mut **tx)
        .await?;
    let days: Vec<i16> = windows
        .iter()
        .map(|w| w.weekday.number_from_monday() as i16)
        .collect();
    let starts: Vec<NaiveTime> = windows.iter().map(|w| w.start).collect();
    let ends: Vec<NaiveTime> = windows.iter().map(|w| w.end).collect();
    sqlx::query(
        "INSERT INTO availability_windows (practitioner_id, weekday, start_time, end_time)
         SELECT $1, * FROM UNNEST($2::smallint[], $3::time[], $4::time[])",
    )
    .bind(practitioner_id)
    .bind(&days)
    .bind(&starts)
    .bind(&ends)
    .execute(&mut **tx)
    .await?;
    let ids: Vec<Uuid> = exceptions.iter().map(|_| Uuid::new_v4()).collect();
    let x_starts: Vec<DateTime<Utc>> = exceptions.iter().map(|e| e.span.start).collect();
    let x_ends: Vec<DateTime<Utc>> = exceptions.iter().map(|e| e.span.end).collect();
    let reasons: Vec<&str> = exceptions.iter().map(|e| e.reason).collect();
    sqlx::query(
        "INSERT INTO availability_exceptions (id, practitioner_id, starts_at, ends_at, reason)
         SELECT u.id, $1, u.s, u.e, u.r
         FROM UNNEST($2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::text[]) AS u(id, s, e, r)",
    )
    .bind(practitioner_id)
    .bind(&ids)
    .bind(&x_starts)
    .bind(&x_ends)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
