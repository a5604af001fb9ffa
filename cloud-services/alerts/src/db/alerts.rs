//! The `alerts` and `alert_events` tables.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::alert::{AlertState, EventKind, Severity, Transition};

/// An alert as stored and as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub device_id: String,
    pub rule_key: String,
    pub vital: Option<String>,
    pub severity: Severity,
    /// `active` (unacknowledged), `acknowledged` or `resolved`.
    pub state: AlertState,
    pub message: String,
    pub first_value: Option<f64>,
    pub last_value: Option<f64>,
    /// How many times the episode triggered (repeats update this alert, never duplicate it).
    pub occurrences: i32,
    /// Time of the reading that triggered it (device clock).
    pub triggered_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the platform received that reading (the start of reading→alert latency).
    pub reading_received_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub assigned_to: Option<Uuid>,
    /// When it was first escalated.
    pub escalated_at: Option<DateTime<Utc>>,
    /// How far it was escalated (see `domain::alert::LAST_ESCALATION_LEVEL`): 0 when never.
    #[serde(default)]
    pub escalation_level: i16,
}

const COLUMNS: &str = "id, patient_id, device_id, rule_key, vital, severity, state, message, \
    first_value, last_value, occurrences, triggered_at, last_seen_at, reading_received_at, \
    created_at, updated_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
    resolution_note, assigned_to, escalated_at, escalation_level";

/// A triggered rule to record.
pub struct Trigger<'a> {
    pub patient: Uuid,
    pub device: &'a str,
    pub rule_key: &'a str,
    pub vital: Option<&'a str>,
    pub severity: Severity,
    pub message: &'a str,
    pub value: f64,
    pub at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
}

/// Opens an episode, or — one already open — counts the repeat. Returns the alert, whether it
/// is new, and whether its severity rose.
pub async fn trigger(
    conn: &mut PgConnection,
    t: &Trigger<'_>,
) -> sqlx::Result<(Alert, bool, bool)> {
    let before: Option<Severity> = sqlx::query_scalar(
        "SELECT severity FROM alerts WHERE patient_id = $1 AND rule_key = $2 AND state <> 'resolved'",
    )
    .bind(t.patient)
    .bind(t.rule_key)
    .fetch_optional(&mut *conn)
    .await?;
    let alert: Alert = sqlx::query_as(&format!(
        "INSERT INTO alerts (id, patient_id, device_id, rule_key, vital, severity, state, message, \
             first_value, last_value, triggered_at, last_seen_at, reading_received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8, $9, $9, $10) \
         ON CONFLICT (patient_id, rule_key) WHERE state <> 'resolved' DO UPDATE SET \
             occurrences = alerts.occurrences + 1, last_value = EXCLUDED.last_value, \
             last_seen_at = GREATEST(alerts.last_seen_at, EXCLUDED.last_seen_at), \
             severity = CASE WHEN severity_rank(EXCLUDED.severity) > severity_rank(alerts.severity) \
                 THEN EXCLUDED.severity ELSE alerts.severity END, \
             updated_at = now() \
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(t.patient)
    .bind(t.device)
    .bind(t.rule_key)
    .bind(t.vital)
    .bind(t.severity)
    .bind(t.message)
    .bind(t.value)
    .bind(t.at)
    .bind(t.received_at)
    .fetch_one(&mut *conn)
    .await?;
    let raised = before.is_some_and(|b| b != alert.severity);
    Ok((alert, before.is_none(), raised))
}

/// The episode goes on: latest value, and severity raised if `severity` is worse. Returns the
/// alert if its severity rose.
pub async fn continue_episode(
    conn: &mut PgConnection,
    patient: Uuid,
    rule_key: &str,
    value: f64,
    at: DateTime<Utc>,
    severity: Severity,
) -> sqlx::Result<Option<Alert>> {
    sqlx::query_as(&format!(
        "WITH old AS (SELECT id, severity FROM alerts WHERE patient_id = $1 AND rule_key = $2 \
             AND state <> 'resolved' FOR UPDATE) \
         UPDATE alerts a SET last_value = $3, last_seen_at = GREATEST(a.last_seen_at, $4), \
             severity = CASE WHEN severity_rank($5) > severity_rank(a.severity) THEN $5 ELSE a.severity END, \
             updated_at = now() \
         FROM old WHERE a.id = old.id \
         RETURNING {}, (severity_rank($5) > severity_rank(old.severity)) AS raised",
        COLUMNS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(patient)
    .bind(rule_key)
    .bind(value)
    .bind(at)
    .bind(severity)
    .fetch_optional(&mut *conn)
    .await
    .map(|row: Option<AlertRaised>| row.filter(|r| r.raised).map(|r| r.alert))
}

#[derive(sqlx::FromRow)]
struct AlertRaised {
    #[sqlx(flatten)]
    alert: Alert,
    raised: bool,
}

/// Closes an open episode; `None` if there was none.
pub async fn resolve_open(
    conn: &mut PgConnection,
    patient: Uuid,
    rule_key: &str,
    by: &str,
    note: &str,
) -> sqlx::Result<Option<Alert>> {
    sqlx::query_as(&format!(
        "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = $3, \
             resolution_note = $4, updated_at = now() \
         WHERE patient_id = $1 AND rule_key = $2 AND state <> 'resolved' RETURNING {COLUMNS}"
    ))
    .bind(patient)
    .bind(rule_key)
    .bind(by)
    .bind(note)
    .fetch_optional(conn)
    .await
}

pub async fn open_rule_keys(db: impl PgExecutor<'_>, patient: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT rule_key FROM alerts WHERE patient_id = $1 AND state <> 'resolved'")
        .bind(patient)
        .fetch_all(db)
        .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Alert>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn by_id_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Alert>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A transition with what it records: who acknowledged or resolved, the note, the assignee.
pub enum Action<'a> {
    Acknowledge { by: &'a str },
    Resolve { by: &'a str, note: &'a str },
    Assign { to: Uuid },
    Escalate,
}

impl Action<'_> {
    pub fn transition(&self) -> Transition {
        match self {
            Action::Acknowledge { .. } => Transition::Acknowledge,
            Action::Resolve { .. } => Transition::Resolve,
            Action::Assign { .. } => Transition::Assign,
            Action::Escalate => Transition::Escalate,
        }
    }
}

/// Writes `action`, the alert going to `state` (the lifecycle's answer, see
/// [`AlertState::after`]).
pub async fn apply(
    conn: &mut PgConnection,
    id: Uuid,
    state: AlertState,
    action: &Action<'_>,
) -> sqlx::Result<Alert> {
    let query = match action {
        Action::Acknowledge { .. } => format!(
            "UPDATE alerts SET state = $5, acknowledged_at = now(), acknowledged_by = $2, \
             updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        ),
        Action::Resolve { .. } => format!(
            "UPDATE alerts SET state = $5, resolved_at = now(), resolved_by = $2, \
             resolution_note = $3, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        ),
        Action::Assign { .. } => format!(
            "UPDATE alerts SET state = $5, assigned_to = $4, updated_at = now() WHERE id = $1 \
             RETURNING {COLUMNS}"
        ),
        Action::Escalate => format!(
            "UPDATE alerts SET state = $5, escalated_at = coalesce(escalated_at, now()), \
             escalation_level = escalation_level + 1, updated_at = now() WHERE id = $1 \
             RETURNING {COLUMNS}"
        ),
    };
    let (by, note, to) = match action {
        Action::Acknowledge { by } => (Some(*by), None, None),
        Action::Resolve { by, note } => (Some(*by), Some(*note), None),
        Action::Assign { to } => (None, None, Some(*to)),
        Action::Escalate => (None, None, None),
    };
    sqlx::query_as(&query)
        .bind(id)
        .bind(by)
        .bind(note)
        .bind(to)
        .bind(state)
        .fetch_one(conn)
        .await
}

/// Critical alerts nobody acknowledged that are due for their next escalation level: level `n`
/// (counting from 1) is due `delays_secs[n - 1]` after the alert was raised.
pub async fn due_for_escalation(pool: &PgPool, delays_secs: &[f64]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM alerts WHERE state = 'active' AND severity = 'critical' \
         AND escalation_level < cardinality($1::float8[]) \
         AND created_at <= now() - make_interval(secs => ($1::float8[])[escalation_level + 1]) \
         ORDER BY created_at LIMIT 100",
    )
    .bind(delays_secs)
    .fetch_all(pool)
    .await
}

pub struct AlertFilter {
    /// Only these patients (a clinician's); `None` for all.
    pub patients: Option<Vec<Uuid>>,
    pub patient: Option<Uuid>,
    pub states: Vec<AlertState>,
    pub severity: Option<Severity>,
    pub assigned_to: Option<Uuid>,
    pub limit: i64,
    pub offset: i64,
}

/// Most severe first, then oldest first.
pub async fn list(pool: &PgPool, f: &AlertFilter) -> sqlx::Result<Vec<Alert>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE ($1::uuid[] IS NULL OR patient_id = ANY($1)) \
         AND ($2::uuid IS NULL OR patient_id = $2) AND state = ANY($3) \
         AND ($4::text IS NULL OR severity = $4::text) AND ($5::uuid IS NULL OR assigned_to = $5) \
         ORDER BY severity_rank(severity) DESC, created_at LIMIT $6 OFFSET $7"
    ))
    .bind(&f.patients)
    .bind(f.patient)
    .bind(&f.states)
    .bind(f.severity)
    .bind(f.assigned_to)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(pool)
    .await
}

/// Counts of open alerts by severity and of unacknowledged critical ones (for metrics).
pub async fn open_counts(pool: &PgPool) -> sqlx::Result<Vec<(Severity, AlertState, i64)>> {
    sqlx::query_as(
        "SELECT severity, state, count(*) FROM alerts WHERE state <> 'resolved' GROUP BY 1, 2",
    )
    .fetch_all(pool)
    .await
}

/// One entry of an alert's history (and one event of the live stream: `id` is the SSE id).
#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize, ToSchema)]
pub struct AlertEvent {
    pub id: i64,
    pub alert_id: Uuid,
    pub patient_id: Uuid,
    pub kind: EventKind,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    /// The alert right after the change.
    #[schema(value_type = Object)]
    pub snapshot: sqlx::types::Json<Alert>,
}

const EVENT_COLUMNS: &str = "id, alert_id, patient_id, kind, actor, note, at, snapshot";

/// Appends a history entry and wakes the live streams (NOTIFY is delivered on commit).
pub async fn record_event(
    conn: &mut PgConnection,
    alert: &Alert,
    kind: EventKind,
    actor: Option<&str>,
    note: Option<&str>,
) -> sqlx::Result<AlertEvent> {
    let event: AlertEvent = sqlx::query_as(&format!(
        "INSERT INTO alert_events (alert_id, patient_id, kind, actor, note, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {EVENT_COLUMNS}"
    ))
    .bind(alert.id)
    .bind(alert.patient_id)
    .bind(kind)
    .bind(actor)
    .bind(note)
    .bind(sqlx::types::Json(alert))
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify('alert_events', $1)")
        .bind(event.id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(event)
}

pub async fn history(db: impl PgExecutor<'_>, alert: Uuid) -> sqlx::Result<Vec<AlertEvent>> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM alert_events WHERE alert_id = $1 ORDER BY id"
    ))
    .bind(alert)
    .fetch_all(db)
    .await
}

/// Events after `after` (all patients when `patients` is `None`), oldest first.
pub async fn events_after(
    pool: &PgPool,
    after: i64,
    patients: Option<&[Uuid]>,
    limit: i64,
) -> sqlx::Result<Vec<AlertEvent>> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM alert_events WHERE id > $1 \
         AND ($2::uuid[] IS NULL OR patient_id = ANY($2)) ORDER BY id LIMIT $3"
    ))
    .bind(after)
    .bind(patients)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The id of the latest history entry (0 if none): where a live stream without a resume point
/// starts.
pub async fn last_event_id(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM alert_events")
        .fetch_one(db)
        .await
}
