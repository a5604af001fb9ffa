//! MQTT topic names and Kafka topic names, in one place.
//!
//! The broker authorises devices by topic, so the names are part of the security model. Devices
//! connect with mutual TLS and a certificate whose Organization is their device id; the broker's
//! session (`broker/src/mqtt/session.rs`) lets each connection publish only to its own readings
//! and status topics and subscribe only under `/tenants/{its id}/`, so a device cannot publish
//! to, or subscribe to, another device's topics. The helpers here are the
//! only way topic strings are built or parsed.

/// Kafka topic carrying validated reading batches, keyed by device id (per-device order).
pub const KAFKA_READINGS: &str = "telemetry.readings.v1";
/// Kafka topic carrying rejected MQTT payloads with the reason they were rejected.
pub const KAFKA_DEAD_LETTER: &str = "telemetry.dead-letter.v1";
/// Kafka topic carrying device ↔ patient assignment changes from the records service.
pub const KAFKA_DEVICE_ASSIGNMENTS: &str = "records.device-assignments.v1";
/// Kafka topic carrying, per patient, the clinicians currently allowed to see them (care teams),
/// from the records service; keyed by patient id, so the latest event per patient is the truth.
pub const KAFKA_CARE_TEAMS: &str = "records.care-teams.v1";
/// Kafka topic carrying device credential changes (revocation, rotation) from the registry, which
/// every broker instance acts on.
pub const KAFKA_DEVICE_EVENTS: &str = "registry.devices.v1";
/// Kafka topic carrying alert lifecycle events from the alerts service.
pub const KAFKA_ALERT_EVENTS: &str = "alerts.events.v1";
/// Kafka topic carrying booking events from the bookings service.
pub const KAFKA_BOOKING_EVENTS: &str = "bookings.events.v1";
/// Kafka topic carrying session revocations (`SessionRevoked`) from the auth service, keyed by
/// user id; every service consumes it to refuse revoked access tokens.
pub const KAFKA_SESSIONS: &str = "auth.sessions.v1";
/// Kafka topic carrying security notices (`SecurityNotice`: a password changed, a sign-in from a
/// new address) from the auth service, keyed by user id; notify tells the person.
pub const KAFKA_SECURITY: &str = "auth.security.v1";

/// Topic a device publishes its reading batches to.
pub fn device_readings(device_id: &str) -> String {
    format!("/tenants/{device_id}/readings")
}

/// Topic the broker publishes end-to-end acknowledgements to (`acked_through: seq`).
pub fn device_ack(device_id: &str) -> String {
    format!("/tenants/{device_id}/ack")
}

/// Topic a device publishes its heartbeat and last-will status to.
pub fn device_status(device_id: &str) -> String {
    format!("/tenants/{device_id}/status")
}

/// What a device topic is for, once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTopicKind {
    Readings,
    Ack,
    Status,
}

/// MQTT filter matching every device's readings (the broker's bridge subscribes to it).
pub const ALL_DEVICE_READINGS: &str = "/tenants/+/readings";
/// MQTT filter matching every device's status messages.
pub const ALL_DEVICE_STATUS: &str = "/tenants/+/status";

/// Splits `/tenants/{id}/{kind}` into its device id and kind; `None` for anything else,
/// including wildcards and extra levels, so callers can reject rather than guess.
pub fn parse_device_topic(topic: &str) -> Option<(&str, DeviceTopicKind)> {
    let rest = topic.strip_prefix("/tenants/")?;
    let (id, kind) = rest.split_once('/')?;
    if id.is_empty() || id.contains(['+', '#', '/']) {
        return None;
    }
    let kind = match kind {
        "readings" => DeviceTopicKind::Readings,
        "ack" => DeviceTopicKind::Ack,
        "status" => DeviceTopicKind::Status,
        _ => return None,
    };
    Some((id, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        assert_eq!(
            parse_device_topic(&device_readings("hub1")),
            Some(("hub1", DeviceTopicKind::Readings))
        );
        assert_eq!(
            parse_device_topic(&device_ack("hub1")),
            Some(("hub1", DeviceTopicKind::Ack))
        );
        assert_eq!(
            parse_device_topic(&device_status("x")),
            Some(("x", DeviceTopicKind::Status))
        );
    }

    #[test]
    fn rejects_foreign_shapes() {
        for t in [
            "/tenants/+/readings",
            "/tenants/#",
            "/tenants//readings",
            "/tenants/a/b/readings",
            "/tenants/a/other",
            "devices/a/readings",
            "tenants/a/readings",
        ] {
            assert_eq!(parse_device_topic(t), None, "{t}");
        }
    }
}
