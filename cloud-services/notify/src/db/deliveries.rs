//! The `deliveries` table: every message, its state and its log.
//!
//! States: `queued` (waiting for its `next_attempt_at`) → `sent`, or `failed` (a permanent
//! refusal, or `max_attempts` transient ones), or `withdrawn` (no longer due when it came to be
//! sent: a reminder of a cancelled appointment, an expired hold). Senders claim due rows by
//! pushing their `next_attempt_at` forward ([`claim_due`]): two instances never send one message
//! at once, and a claim of a sender that died expires by itself.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use utoipa::ToSchema;
use uuid::Uuid;

pub struct NewDelivery<'a> {
    pub event_id: Uuid,
    pub recipient_id: Uuid,
    pub address: &'a str,
    pub kind: &'a str,
    pub language: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub invitation: Option<&'a str>,
    pub appointment_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// Set for a message that cannot be sent at all (recorded as failed, with this reason).
    pub unreachable: Option<&'a str>,
}

/// Adds the message unless this event already produced it for this recipient; true if added.
pub async fn insert(db: impl PgExecutor<'_>, d: &NewDelivery<'_>) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO deliveries (event_id, channel, recipient_id, address, kind, language, subject, \
             body_text, body_html, invitation, appointment_id, starts_at, hold_expires_at, status, last_error) \
         VALUES ($1, 'email', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 CASE WHEN $13::text IS NULL THEN 'queued' ELSE 'failed' END, $13) \
         ON CONFLICT (event_id, channel, recipient_id) DO NOTHING",
    )
    .bind(d.event_id)
    .bind(d.recipient_id)
    .bind(d.address)
    .bind(d.kind)
    .bind(d.language)
    .bind(d.subject)
    .bind(d.body_text)
    .bind(d.body_html)
    .bind(d.invitation)
    .bind(d.appointment_id)
    .bind(d.starts_at)
    .bind(d.hold_expires_at)
    .bind(d.unreachable)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whether `event` already produced its email to `recipient` (a redelivered event).
pub async fn exists(
    db: impl PgExecutor<'_>,
    event_id: Uuid,
    recipient_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deliveries \
         WHERE event_id = $1 AND channel = 'email' AND recipient_id = $2)",
    )
    .bind(event_id)
    .bind(recipient_id)
    .fetch_one(db)
    .await
}

/// A message to send.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: i64,
    pub address: String,
    pub kind: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub invitation: Option<String>,
    pub appointment_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub attempts: i32,
}

/// Claims up to `limit` due messages for `lease_secs` (see the module docs).
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_secs: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $2) \
         WHERE id IN (SELECT id FROM deliveries WHERE status = 'queued' AND next_attempt_at <= now() \
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, address, kind, subject, body_text, body_html, invitation, appointment_id, \
                   starts_at, hold_expires_at, attempts",
    )
    .bind(limit)
    .bind(lease_secs as f64)
    .fetch_all(db)
    .await
}

/// What happened to one attempt.
pub enum Outcome<'a> {
    Sent,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: &'a str,
    },
    Failed(&'a str),
    Withdrawn(&'a str),
}

pub async fn record(
    db: impl PgExecutor<'_>,
    id: i64,
    outcome: Outcome<'_>,
) -> Result<(), sqlx::Error> {
    let (status, error, at): (&str, Option<&str>, Option<DateTime<Utc>>) = match outcome {
        Outcome::Sent => ("sent", None, None),
        Outcome::Retry { at, error } => ("queued", Some(error), Some(at)),
        Outcome::Failed(error) => ("failed", Some(error), None),
        Outcome::Withdrawn(why) => ("withdrawn", Some(why), None),
    };
    let counts = status != "withdrawn";
    sqlx::query(
        "UPDATE deliveries SET status = $2, last_error = $3, \
             attempts = attempts + CASE WHEN $5 THEN 1 ELSE 0 END, \
             next_attempt_at = coalesce($4, next_attempt_at), \
             sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END \
         WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .bind(at)
    .bind(counts)
    .execute(db)
    .await
    .map(|_| ())
}

/// One line of the delivery log.
#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct LogEntry {
    pub id: i64,
    pub event_id: Uuid,
    pub channel: String,
    pub recipient_id: Uuid,
    pub address: String,
    pub kind: String,
    pub language: String,
    pub subject: String,
    /// `queued`, `sent`, `failed` or `withdrawn`.
    pub status: String,
    pub attempts: i32,
    /// Why it failed, was retried or was withdrawn.
    pub last_error: Option<String>,
    pub appointment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The log, newest first: one recipient's, or everyone's; optionally in one state.
pub async fn log(
    db: impl PgExecutor<'_>,
    recipient: Option<Uuid>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<LogEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, channel, recipient_id, address, kind, language, subject, status, \
                attempts, last_error, appointment_id, created_at, sent_at \
         FROM deliveries \
         WHERE ($1::uuid IS NULL OR recipient_id = $1) AND ($2::text IS NULL OR status = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
    )
    .bind(recipient)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}
