//! The API's answers as the TUI reads them.
//!
//! Only what the screens show is typed; every optional or future field is `#[serde(default)]` so
//! a newer server (an extra field, a missing one) never breaks the board. These are the alerts and
//! records services' JSON shapes, decoded at the edge so the rest of the TUI never touches
//! `serde_json::Value`.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// How urgent an alert is; the board's primary sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    /// A severity this TUI does not know yet: sorted last, shown as is.
    #[serde(other)]
    Unknown,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Unknown => "?",
        }
    }

    /// Four letters, for the narrow board column.
    pub fn short(self) -> &'static str {
        match self {
            Severity::Critical => "CRIT",
            Severity::High => "HIGH",
            Severity::Medium => "MED",
            Severity::Low => "LOW",
            Severity::Unknown => "?",
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Nobody has acknowledged it yet.
    Active,
    Acknowledged,
    Resolved,
    #[serde(other)]
    Unknown,
}

impl AlertState {
    pub fn label(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
            AlertState::Unknown => "?",
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, AlertState::Active | AlertState::Acknowledged)
    }
}

/// One alert, as `GET /v1/alerts` and the stream's snapshots carry it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Alert {
    pub id: Uuid,
    pub patient_id: Uuid,
    #[serde(default)]
    pub device_id: String,
    pub rule_key: String,
    #[serde(default)]
    pub vital: Option<String>,
    pub severity: Severity,
    pub state: AlertState,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub first_value: Option<f64>,
    #[serde(default)]
    pub last_value: Option<f64>,
    #[serde(default)]
    pub occurrences: i64,
    pub triggered_at: DateTime<Utc>,
    #[serde(default)]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolved_by: Option<String>,
    #[serde(default)]
    pub resolution_note: Option<String>,
    #[serde(default)]
    pub assigned_to: Option<Uuid>,
    #[serde(default)]
    pub escalated_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// The board's order: most severe first, then the oldest (longest waiting) first, then id so
    /// the order is total and rows never swap places between frames.
    pub fn board_order(&self, other: &Alert) -> Ordering {
        self.severity
            .cmp(&other.severity)
            .then(self.triggered_at.cmp(&other.triggered_at))
            .then(self.id.cmp(&other.id))
    }
}

/// `GET /v1/alerts` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
}

/// One entry of an alert's history, and one event of the live stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AlertEvent {
    pub id: i64,
    pub alert_id: Uuid,
    pub patient_id: Uuid,
    /// `created`, `updated`, `acknowledged`, `resolved`, `assigned`, `escalated`.
    pub kind: String,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    /// The alert right after the change.
    pub snapshot: Alert,
}

/// `GET /v1/alerts/{id}`: the alert and its history, oldest first.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    #[serde(default)]
    pub history: Vec<AlertEvent>,
}

/// The identity part of a patient record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Identity {
    #[serde(default)]
    pub given_names: Vec<String>,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    #[serde(default)]
    pub sex: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// `GET /v1/patients` from records: the caller's patients (a clinician's care teams').
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PatientPage {
    pub patients: Vec<Patient>,
}

/// `GET /v1/patients/{id}` from records.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Patient {
    pub id: Uuid,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub identity: Identity,
}

impl Patient {
    /// "FAMILY, Given Names", how a chart is labelled.
    pub fn display_name(&self) -> String {
        let given = self.identity.given_names.join(" ");
        match (self.identity.family_name.is_empty(), given.is_empty()) {
            (true, true) => self.id.to_string(),
            (false, true) => self.identity.family_name.to_uppercase(),
            (true, false) => given,
            (false, false) => format!("{}, {given}", self.identity.family_name.to_uppercase()),
        }
    }
}

/// One bucket of a vital's history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VitalPoint {
    pub t: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    #[serde(default)]
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VitalSeries {
    pub vital: String,
    #[serde(default)]
    pub unit: String,
    pub points: Vec<VitalPoint>,
}

/// `GET /v1/patients/{id}/vitals`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct VitalsHistory {
    #[serde(default)]
    pub series: Vec<VitalSeries>,
}

impl VitalsHistory {
    pub fn series(&self, vital: &str) -> Option<&VitalSeries> {
        self.series.iter().find(|s| s.vital == vital)
    }
}

/// `GET /v1/auth/me`: who is logged in.
#[derive(Debug, Clone, PartialEq)]
pub struct Me {
    pub id: Option<Uuid>,
    pub name: String,
    pub role: String,
}

impl Me {
    pub fn from_json(body: &serde_json::Value) -> Me {
        let user = &body["user"];
        Me {
            id: body["sub"].as_str().and_then(|s| s.parse().ok()),
            name: user["display_name"]
                .as_str()
                .or(user["email"].as_str())
                .or(body["sub"].as_str())
                .unwrap_or("?")
                .to_string(),
            role: body["role"].as_str().unwrap_or("?").to_string(),
        }
    }
}
