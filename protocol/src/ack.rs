//! Messages the broker sends about readings: end-to-end acks to devices, dead letters to Kafka.

use serde::{Deserialize, Serialize};

/// Payload of `/tenants/{id}/ack`: Kafka holds every reading of this device up to and including
/// `acked_through`, so the device may delete them from its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingsAck {
    pub acked_through: u64,
    /// The stream epoch `acked_through` belongs to (0 for hubs that predate epochs): an agent
    /// ignores acks of an epoch other than its own, so a late ack of an old stream can never
    /// delete readings of the new one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A record of `telemetry.dead-letter.v1`: a payload the broker refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The device the payload came from (from its topic).
    pub device_id: String,
    pub topic: String,
    /// Human-readable reason (a `ReadingError`'s text).
    pub reason: String,
    /// Short machine-readable reason: `malformed`, `version`, `device_mismatch`, `oversized`, …
    pub reason_code: String,
    pub received_at_ms: i64,
    /// Size of the payload as received, bytes.
    pub payload_bytes: u64,
    /// SHA-256 of the whole payload, hex: identifies it without carrying it.
    pub payload_sha256: String,
    /// The payload, base64 (standard alphabet): whole when it was within the size limit (its
    /// readings were acknowledged, so this is where they live on), else only its first
    /// [`DEAD_LETTER_HEAD_BYTES`] bytes (`truncated`): an oversized or flooding payload never
    /// travels further than the broker whole.
    pub payload_base64: String,
    #[serde(default)]
    pub truncated: bool,
}

/// How much of a refused payload a dead letter keeps.
pub const DEAD_LETTER_HEAD_BYTES: usize = 4096;
