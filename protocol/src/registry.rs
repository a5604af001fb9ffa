//! Events the device registry (broker HTTP API) publishes for every broker instance.

use serde::{Deserialize, Serialize};

/// What happened to a device's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChange {
    /// The device may not connect any more: every session of it ends.
    Revoked,
    /// New secret and certificate: sessions admitted with older credentials end.
    Rotated,
}

/// On `registry.devices.v1`, keyed by device id. Every broker instance consumes all of them (one
/// consumer group per instance) and cuts the device's live session within a second. Replaying an
/// old event is harmless: a session admitted with credentials issued at or after
/// `credentials_issued_at_us` is not touched by a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEvent {
    pub device_id: String,
    pub change: DeviceChange,
    /// When the device's current credentials were issued, µs since the Unix epoch.
    pub credentials_issued_at_us: i64,
}
