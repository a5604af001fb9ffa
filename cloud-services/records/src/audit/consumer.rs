//! Accesses served by other services (alerts, bookings), consumed from `audit.events.v1` into the
//! one chain, so a patient's trail lists every access wherever it happened.
//!
//! The publisher waited for the bus before answering; here an event is appended (group commit,
//! like records' own entries) before its offset is committed, so none is lost between the two.
//! Redeliveries are dropped by `event_id`. Events that do not parse or are implausible (a
//! compromised publisher) are logged and skipped: they never stop the trail. Instances split the
//! topic's partitions by leases in the records database (`episante_kit::events::leases`: a
//! killed instance's partitions move to the others; Kafka group membership would not move them
//! on tansu).

use std::sync::Arc;
use std::time::Duration;

use episante_kit::audit::{parse_purpose, AuditEvent, AUDIT_TOPIC};
use episante_kit::events::leases::{LeasedSession, PartitionLeases};
use episante_kit::events::{EventBus, EventRecord};
use episante_kit::Shutdown;
use sqlx::PgPool;

use super::{AuditEntry, AuditLog};

/// Longest actor, role, action or service name accepted; longest detail (JSON bytes).
const MAX_FIELD: usize = 200;
const MAX_DETAIL: usize = 4096;

/// The entry an event becomes, or why it is refused.
pub fn entry_of(record: &EventRecord) -> Result<AuditEntry, String> {
    let event: AuditEvent =
        serde_json::from_slice(&record.payload).map_err(|e| format!("not an audit event: {e}"))?;
    if event.v != episante_kit::audit::AUDIT_EVENT_VERSION {
        return Err(format!("unknown audit event version {}", event.v));
    }
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_FIELD
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
    };
    if event.service == "records" || !name_ok(&event.service) {
        return Err(format!("implausible service {:?}", event.service));
    }
    for (field, value) in [
        ("actor", &event.actor),
        ("actor_role", &event.actor_role),
        ("action", &event.action),
    ] {
        if !name_ok(value) {
            return Err(format!("implausible {field} {value:?}"));
        }
    }
    let purpose = axum::http::HeaderValue::from_str(&event.purpose)
        .map_err(|_| "implausible purpose".to_string())?;
    let purpose = parse_purpose(Some(&purpose)).map_err(|e| e.to_string())?;
    if event.detail.to_string().len() > MAX_DETAIL {
        return Err("detail too large".into());
    }
    Ok(AuditEntry {
        service: event.service,
        actor: event.actor,
        actor_role: event.actor_role,
        patient_id: event.patient_id,
        action: event.action,
        purpose,
        detail: event.detail,
        at: Some(event.at),
        event_id: Some(event.event_id),
    })
}

/// Consumes `audit.events.v1` (offsets under consumer group `group`, partitions by `leases`)
/// until `shutdown`.
pub fn spawn(
    bus: Arc<dyn EventBus>,
    group: String,
    leases: PartitionLeases,
    pool: PgPool,
    audit: AuditLog,
    shutdown: Shutdown,
) {
    shutdown.clone().spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = tokio::select! {
                r = run(bus.as_ref(), &group, &leases, &pool, &audit) => r,
                _ = shutdown.wait() => {
                    // Hand the partitions over now rather than after the lease ttl.
                    if let Err(e) = leases.leave().await {
                        tracing::warn!(error = %e, "could not release the audit partition leases");
                    }
                    return;
                }
            };
            match result {
                // The split among instances changed: claim again at once.
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Err(error) => tracing::warn!(%error, "audit event consumer failed; restarting"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
}

/// One session over this instance's share of the partitions: `Ok` when the split changed.
async fn run(
    bus: &dyn EventBus,
    group: &str,
    leases: &PartitionLeases,
    pool: &PgPool,
    audit: &AuditLog,
) -> anyhow::Result<()> {
    let (mut leased, mut subscription) =
        LeasedSession::start(leases, bus, group, &[AUDIT_TOPIC]).await?;
    loop {
        let record = tokio::select! {
            _ = leased.due() => {
                if !leased.renew().await? {
                    return Ok(());
                }
                continue;
            }
            record = subscription.next() => record?,
        };
        match entry_of(&record) {
            Err(reason) => {
                tracing::warn!(%reason, offset = record.offset, "audit event skipped");
            }
            Ok(entry) => {
                let seen = match entry.event_id {
                    Some(id) => crate::db::audit::has_event(pool, id).await?,
                    None => false,
                };
                if !seen {
                    audit
                        .record(vec![entry])
                        .await
                        .map_err(|e| anyhow::anyhow!("appending a consumed audit event: {e}"))?;
                }
            }
        }
        subscription.commit(&record)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: serde_json::Value) -> EventRecord {
        EventRecord {
            topic: AUDIT_TOPIC.into(),
            partition: 0,
            offset: 0,
            key: None,
            payload: serde_json::to_vec(&payload).unwrap(),
            timestamp_ms: None,
        }
    }

    fn event() -> serde_json::Value {
        serde_json::json!({
            "v": 1, "event_id": uuid::Uuid::new_v4(), "service": "alerts",
            "at": "2026-12-01T10:00:00Z", "actor": "c1", "actor_role": "clinician",
            "patient_id": uuid::Uuid::new_v4(), "action": "vitals.read", "purpose": "TREAT",
            "detail": {"resolution": "1m"}
        })
    }

    #[test]
    fn plausible_events_become_entries() {
        let entry = entry_of(&record(event())).unwrap();
        assert_eq!(entry.service, "alerts");
        assert_eq!(entry.action, "vitals.read");
        assert!(entry.event_id.is_some() && entry.at.is_some());
    }

    #[test]
    fn implausible_events_are_refused() {
        for (field, value) in [
            ("service", serde_json::json!("records")),
            ("service", serde_json::json!("")),
            ("actor", serde_json::json!("a\nb")),
            ("action", serde_json::json!("x".repeat(201))),
            ("purpose", serde_json::json!("no spaces allowed")),
            ("v", serde_json::json!(9)),
            ("detail", serde_json::json!("y".repeat(5000))),
        ] {
            let mut e = event();
            e[field] = value;
            assert!(entry_of(&record(e)).is_err(), "{field}");
        }
        assert!(entry_of(&EventRecord {
            payload: b"not json".to_vec(),
            ..record(event())
        })
        .is_err());
    }
}
