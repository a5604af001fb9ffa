//! Alert events on `alerts.events.v1`, as their consumers read them. The alerts service writes
//! its history entries (`cloud-services/alerts/src/db/alerts.rs`, `AlertEvent`: the change and
//! a snapshot of the alert right after it) through its outbox; this is the part of that shape
//! other services rely on, and a test in the alerts service parses what it writes with it, so the
//! two cannot drift apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One message on `alerts.events.v1`, keyed by patient id (the records service's patient id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotice {
    /// The history entry's id: unique and increasing per alerts database.
    pub id: i64,
    pub alert_id: Uuid,
    pub patient_id: Uuid,
    pub kind: AlertChange,
    pub at: DateTime<Utc>,
    pub snapshot: AlertSnapshot,
}

/// What happened to the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertChange {
    Created,
    Updated,
    Acknowledged,
    Resolved,
    Assigned,
    Escalated,
    /// A kind this build does not know (a newer producer): ignored by consumers.
    #[serde(other)]
    Other,
}

/// The alert right after the change (the fields consumers use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSnapshot {
    pub severity: AlertSeverity,
    pub state: AlertStatus,
    /// The clinician (auth user id) the alert is assigned to.
    #[serde(default)]
    pub assigned_to: Option<Uuid>,
    /// How far an unacknowledged critical alert was escalated: 0 never, 1 care team, 2 on call.
    #[serde(default)]
    pub escalation_level: i16,
    /// When the alert was raised.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Raised and not acknowledged by anyone.
    Active,
    Acknowledged,
    Resolved,
}

impl AlertNotice {
    /// A stable id for this event, for consumers that key what they derive from it by uuid.
    pub fn event_uuid(&self) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("episante:alerts.events.v1:{}", self.id).as_bytes(),
        )
    }
}
