//! Applying changes to alerts: every change writes the alert, its history entry (which feeds the
//! live stream), an `alerts.events.v1` event through the outbox and — for new critical alerts and
//! escalations — webhook deliveries, all in the caller's transaction.

use chrono::{DateTime, TimeZone, Utc};
use episante_kit::events::outbox;
use episante_protocol::topics::KAFKA_ALERT_EVENTS;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::alerts::{self, Alert, AlertEvent, Trigger};
use crate::domain::alert::{EventKind, Severity};
use crate::engine::{Signal, SignalKind};

/// Records `kind` for `alert` and fans it out.
pub async fn record(
    conn: &mut PgConnection,
    webhook_urls: &[String],
    alert: &Alert,
    kind: EventKind,
    actor: Option<&str>,
    note: Option<&str>,
) -> sqlx::Result<AlertEvent> {
    let event = alerts::record_event(conn, alert, kind, actor, note).await?;
    let payload = serde_json::to_vec(&event).expect("serialisable");
    outbox::enqueue(
        conn,
        KAFKA_ALERT_EVENTS,
        &alert.patient_id.to_string(),
        &payload,
    )
    .await?;
    let notify = (kind == EventKind::Created && alert.severity == Severity::Critical)
        || kind == EventKind::Escalated;
    if notify {
        crate::db::webhooks::enqueue(conn, event.id, webhook_urls).await?;
    }
    Ok(event)
}

fn at(ts_ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ts_ms)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Applies one engine signal for `patient`. Returns whether an alert was created.
pub async fn apply_signal(
    conn: &mut PgConnection,
    webhook_urls: &[String],
    patient: Uuid,
    signal: &Signal,
    received_at: Option<DateTime<Utc>>,
) -> sqlx::Result<Option<Alert>> {
    match signal.kind {
        SignalKind::Trigger => {
            let (alert, created, raised) = alerts::trigger(
                conn,
                &Trigger {
                    patient,
                    device: &signal.device_id,
                    rule_key: &signal.rule_key,
                    vital: signal.vital.map(|v| v.as_str()),
                    severity: signal.severity,
                    message: &signal.message,
                    value: signal.value,
                    at: at(signal.ts_ms),
                    received_at,
                },
            )
            .await?;
            let kind = if created {
                EventKind::Created
            } else {
                EventKind::Updated
            };
            let note = (!created).then_some(if raised {
                "repeat; severity raised"
            } else {
                "repeat"
            });
            record(conn, webhook_urls, &alert, kind, None, note).await?;
            Ok(created.then_some(alert))
        }
        SignalKind::Continue => {
            if let Some(alert) = alerts::continue_episode(
                conn,
                patient,
                &signal.rule_key,
                signal.value,
                at(signal.ts_ms),
                signal.severity,
            )
            .await?
            {
                record(
                    conn,
                    webhook_urls,
                    &alert,
                    EventKind::Updated,
                    None,
                    Some("severity raised"),
                )
                .await?;
            }
            Ok(None)
        }
        SignalKind::Clear => {
            if let Some(alert) = alerts::resolve_open(
                conn,
                patient,
                &signal.rule_key,
                "system",
                "vitals back to normal for the hold time",
            )
            .await?
            {
                record(
                    conn,
                    webhook_urls,
                    &alert,
                    EventKind::Resolved,
                    Some("system"),
                    None,
                )
                .await?;
            }
            Ok(None)
        }
    }
}
