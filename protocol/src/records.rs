//! Events the records service publishes for other services (the alerts service above all).
//!
//! Both are keyed by the entity they describe, so consumers can apply them in order per key and
//! the latest event per key is always the current state: a consumer that missed history can rebuild
//! from a compacted topic.

use serde::{Deserialize, Serialize};

/// On `records.device-assignments.v1`, keyed by device id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceAssignmentEvent {
    /// The device's registry id.
    pub device_id: String,
    /// The patient the device now belongs to; `None` when it was unassigned.
    pub patient_id: Option<String>,
    /// When the change happened (RFC 3339).
    pub at: String,
}

/// On `records.care-teams.v1`, keyed by patient id: every clinician (auth user id) now allowed
/// to see the patient. An archived patient or one in no team has an empty list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareTeamEvent {
    pub patient_id: String,
    pub clinicians: Vec<String>,
    pub at: String,
}
