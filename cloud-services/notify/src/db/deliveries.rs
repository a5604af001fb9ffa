//! The `deliveries` table: every message, its state and its log.
//!
//! States: `queued` (waiting for its `next_attempt_at`) → `sent`, or `failed` (a permanent
//! refusal, or `max_attempts` transient ones), or `withdrawn` (no longer due when it came to be
//! sent: a reminder of a cancelled appointment, an expired hold, a page of an acknowledged alert).
//! Portal messages are `sent` when written (the bell reads them); a page folded into its
//! recipient's digest is `digested`. Senders claim due rows by
//! pushing their `next_attempt_at` forward ([`claim_due`]): two instances never send one message
//! at once, and a claim of a sender that died is taken over as soon as its heartbeat stops
//! ([`heartbeat`], `senders`), else when its lease runs out.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::preferences::Channel;

/// How a new message starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// To be sent from `at` (now, or the end of quiet hours).
    Queued { at: DateTime<Utc> },
    /// Already where it goes (the portal's bell).
    Delivered,
    /// Cannot be sent at all: recorded as failed with this reason.
    Unreachable(&'a str),
    /// Folded into the recipient's digest.
    Digested,
}

pub struct NewDelivery<'a> {
    pub event_id: Uuid,
    pub channel: Channel,
    pub recipient_id: Uuid,
    pub address: &'a str,
    pub kind: &'a str,
    pub language: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub body_sms: Option<&'a str>,
    pub invitation: Option<&'a str>,
    pub appointment_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub start: Start<'a>,
}

/// Adds the message unless this event already produced it for this recipient on this channel;
/// true if added.
pub async fn insert(db: impl PgExecutor<'_>, d: &NewDelivery<'_>) -> Result<bool, sqlx::Error> {
    let (status, error, at) = match d.start {
        Start::Queued { at } => ("queued", None, Some(at)),
        Start::Delivered => ("sent", None, None),
        Start::Unreachable(why) => ("failed", Some(why), None),
        Start::Digested => ("digested", None, None),
    };
    let inserted = sqlx::query(
        "INSERT INTO deliveries (event_id, channel, recipient_id, address, kind, language, subject, \
             body_text, body_html, invitation, appointment_id, starts_at, hold_expires_at, status, \
             last_error, next_attempt_at, sent_at, alert_id, body_sms) \
         VALUES ($1, $14, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, \
                 coalesce($16, now()), CASE WHEN $13 = 'sent' THEN now() END, $17, $18) \
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
    .bind(status)
    .bind(d.channel.as_str())
    .bind(error)
    .bind(at)
    .bind(d.alert_id)
    .bind(d.body_sms)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whether `event` already produced a message to `recipient` (a redelivered event).
pub async fn exists(
    db: impl PgExecutor<'_>,
    event_id: Uuid,
    recipient_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE event_id = $1 AND recipient_id = $2)",
    )
    .bind(event_id)
    .bind(recipient_id)
    .fetch_one(db)
    .await
}

/// Pages `recipient` was sent on `channel` in the last `window_secs` (not counting digested ones).
pub async fn recent_pages(
    db: impl PgExecutor<'_>,
    recipient: Uuid,
    channel: Channel,
    window_secs: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE recipient_id = $1 AND channel = $2 \
         AND kind IN ('alert_page', 'alert_escalated') AND status <> 'digested' \
         AND created_at > now() - make_interval(secs => $3)",
    )
    .bind(recipient)
    .bind(channel.as_str())
    .bind(window_secs as f64)
    .fetch_one(db)
    .await
}

/// Counts one more page in the digest `digest` (written by the caller as `d` if new), which goes
/// out at `d`'s start.
pub async fn add_to_digest(
    db: impl PgExecutor<'_>,
    d: &NewDelivery<'_>,
) -> Result<(), sqlx::Error> {
    let Start::Queued { at } = d.start else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO deliveries (event_id, channel, recipient_id, address, kind, language, subject, \
             body_text, body_html, body_sms, next_attempt_at, digest_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1) \
         ON CONFLICT (event_id, channel, recipient_id) \
         DO UPDATE SET digest_count = deliveries.digest_count + 1",
    )
    .bind(d.event_id)
    .bind(d.channel.as_str())
    .bind(d.recipient_id)
    .bind(d.address)
    .bind(d.kind)
    .bind(d.language)
    .bind(d.subject)
    .bind(d.body_text)
    .bind(d.body_html)
    .bind(d.body_sms)
    .bind(at)
    .execute(db)
    .await
    .map(|_| ())
}

/// A message to send.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: i64,
    pub channel: String,
    pub address: String,
    pub kind: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub body_sms: Option<String>,
    pub invitation: Option<String>,
    pub appointment_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub digest_count: i32,
    pub starts_at: Option<DateTime<Utc>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub attempts: i32,
}

/// How long a sender may miss its heartbeat before its claims are taken over.
pub const SENDER_SILENCE_SECS: f64 = 6.0;

/// Claims up to `limit` messages for `lease_secs` on behalf of `sender` (see the module docs):
/// those due, and those claimed by a sender that stopped beating (killed mid-send).
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_secs: i64,
    sender: Uuid,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $2), claimed_by = $3 \
         WHERE id IN (SELECT id FROM deliveries d WHERE d.status = 'queued' \
                        AND (d.next_attempt_at <= now() \
                             OR (d.claimed_by IS NOT NULL AND d.claimed_by <> $3 \
                                 AND NOT EXISTS (SELECT 1 FROM senders s WHERE s.id = d.claimed_by \
                                     AND s.seen_at > now() - make_interval(secs => $4)))) \
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, channel, address, kind, subject, body_text, body_html, body_sms, invitation, \
                   appointment_id, alert_id, digest_count, starts_at, hold_expires_at, attempts",
    )
    .bind(limit)
    .bind(lease_secs as f64)
    .bind(sender)
    .bind(SENDER_SILENCE_SECS)
    .fetch_all(db)
    .await
}

/// `sender` is alive (and senders silent for a day are forgotten).
pub async fn heartbeat(db: &sqlx::PgPool, sender: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO senders (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = now()",
    )
    .bind(sender)
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM senders WHERE seen_at < now() - interval '1 day'")
        .execute(db)
        .await
        .map(|_| ())
}

/// What happened to one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    Failed(String),
    Withdrawn(String),
}

/// Records the outcomes of several attempts in one statement (rows no longer `queued` are left
/// alone).
pub async fn record_all(
    db: impl PgExecutor<'_>,
    outcomes: &[(i64, Outcome)],
) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(outcomes.len());
    let mut statuses = Vec::with_capacity(outcomes.len());
    let mut errors: Vec<Option<String>> = Vec::with_capacity(outcomes.len());
    let mut ats: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(outcomes.len());
    let mut counts = Vec::with_capacity(outcomes.len());
    for (id, outcome) in outcomes {
        let (status, error, at) = match outcome {
            Outcome::Sent => ("sent", None, None),
            Outcome::Retry { at, error } => ("queued", Some(error.clone()), Some(*at)),
            Outcome::Failed(error) => ("failed", Some(error.clone()), None),
            Outcome::Withdrawn(why) => ("withdrawn", Some(why.clone()), None),
        };
        ids.push(*id);
        statuses.push(status);
        errors.push(error);
        ats.push(at);
        counts.push(status != "withdrawn");
    }
    sqlx::query(
        "UPDATE deliveries d SET status = u.status, last_error = u.error, \
             attempts = d.attempts + CASE WHEN u.counts THEN 1 ELSE 0 END, \
             next_attempt_at = coalesce(u.at, d.next_attempt_at), claimed_by = NULL, \
             sent_at = CASE WHEN u.status = 'sent' THEN now() ELSE d.sent_at END \
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[]) \
             AS u(id, status, error, at, counts) \
         WHERE d.id = u.id AND d.status = 'queued'",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&errors)
    .bind(&ats)
    .bind(&counts)
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
    /// `queued`, `sent`, `failed`, `withdrawn` or `digested`.
    pub status: String,
    pub attempts: i32,
    /// Why it failed, was retried or was withdrawn.
    pub last_error: Option<String>,
    /// Queued: when it is (next) tried — later than now after a failure or in quiet hours.
    pub next_attempt_at: DateTime<Utc>,
    pub appointment_id: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Portal messages: when the recipient read it.
    pub read_at: Option<DateTime<Utc>>,
}

/// The log, newest first: one recipient's, or everyone's; optionally in one state or channel.
pub async fn log(
    db: impl PgExecutor<'_>,
    recipient: Option<Uuid>,
    status: Option<&str>,
    channel: Option<Channel>,
    limit: i64,
    offset: i64,
) -> Result<Vec<LogEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, channel, recipient_id, address, kind, language, subject, status, \
                attempts, last_error, next_attempt_at, appointment_id, alert_id, created_at, sent_at, read_at \
         FROM deliveries \
         WHERE ($1::uuid IS NULL OR recipient_id = $1) AND ($2::text IS NULL OR status = $2) \
               AND ($5::text IS NULL OR channel = $5) \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
    )
    .bind(recipient)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .bind(channel.map(Channel::as_str))
    .fetch_all(db)
    .await
}

/// Portal messages `recipient` has not read.
pub async fn unread(db: impl PgExecutor<'_>, recipient: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE recipient_id = $1 AND channel = 'portal' \
         AND read_at IS NULL AND status = 'sent'",
    )
    .bind(recipient)
    .fetch_one(db)
    .await
}

/// Marks `recipient`'s portal messages read: one (`id`), or all. Returns how many changed;
/// another person's message is never touched.
pub async fn mark_read(
    db: impl PgExecutor<'_>,
    recipient: Uuid,
    id: Option<i64>,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET read_at = now() WHERE recipient_id = $1 AND channel = 'portal' \
         AND read_at IS NULL AND ($2::bigint IS NULL OR id = $2)",
    )
    .bind(recipient)
    .bind(id)
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}
