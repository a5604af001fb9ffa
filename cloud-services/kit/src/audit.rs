//! Audit events: who read or wrote which patient's data, in what role, why and when — one shape
//! for every service that serves PHI.
//!
//! Records owns the audit trail (a keyed hash chain in a schema its own role cannot alter, see
//! `cloud-services/records/src/audit/`). Alerts and bookings do not keep trails of their own: they
//! publish an [`AuditEvent`] on [`AUDIT_TOPIC`] and records appends it to its one chain, so a
//! patient sees every access to their data, in every service, in one list
//! (`GET /v1/audit?patient_id=`).
//!
//! Why published straight to the bus, before answering, and not through the service's outbox: an
//! access that cannot be audited is not served (the publisher answers 503), and an outbox row
//! would sit in the very database whose owner we do not want to trust with the trail — it could
//! delete the row before the relay sends it. The bus acknowledges durably (Kafka: all in-sync
//! replicas) before the request is answered. For writes, the event is published before the change
//! commits: at worst the trail shows an attempt that then failed, never a change it does not show.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{ApiError, AuthUser};

/// The topic audit events travel on, keyed by patient id (or `-`). Consumed by records.
pub const AUDIT_TOPIC: &str = "audit.events.v1";

/// Version of [`AuditEvent`].
pub const AUDIT_EVENT_VERSION: u8 = 1;

/// The purpose-of-use request header recorded with every audit entry (HL7 PurposeOfUse codes
/// such as `TREAT`, `ETREAT`, `HOPERAT`, or any short token).
pub const PURPOSE_HEADER: &str = "x-purpose-of-use";

/// What [`PURPOSE_HEADER`] says, `unspecified` when absent; 400 when it is not 1 to 64 letters,
/// digits, `-`, `_` or `.` (it lands in the trail verbatim).
pub fn parse_purpose(header: Option<&HeaderValue>) -> Result<String, ApiError> {
    let Some(value) = header else {
        return Ok("unspecified".to_string());
    };
    let value = value.to_str().unwrap_or_default().trim();
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "{PURPOSE_HEADER} must be 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(value.to_string())
}

/// The request's purpose of use, as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Purpose {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_purpose(parts.headers.get(PURPOSE_HEADER)).map(Purpose)
    }
}

/// One access to patient data, as published on [`AUDIT_TOPIC`]. Carries no PHI itself: ids,
/// action names and small details only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub v: u8,
    /// Unique per event: the consumer drops redelivered copies.
    pub event_id: Uuid,
    /// The service that served the access (`alerts`, `bookings`).
    pub service: String,
    pub at: DateTime<Utc>,
    /// The token's subject (a user id, or a service client id).
    pub actor: String,
    pub actor_role: String,
    /// The patient whose data was touched; `None` for accesses that matched nobody.
    pub patient_id: Option<Uuid>,
    /// What was done, `<resource>.<verb>`: `vitals.read`, `alert.acknowledge`, …
    pub action: String,
    pub purpose: String,
    #[serde(default)]
    pub detail: Value,
}

impl AuditEvent {
    /// An event for `action` on `patient` by `caller`, now.
    pub fn new(
        service: &str,
        caller: &AuthUser,
        purpose: &Purpose,
        action: &str,
        patient: Option<Uuid>,
        detail: Value,
    ) -> AuditEvent {
        AuditEvent {
            v: AUDIT_EVENT_VERSION,
            event_id: Uuid::new_v4(),
            service: service.to_string(),
            at: Utc::now(),
            actor: caller.subject().to_string(),
            actor_role: caller.role().to_string(),
            patient_id: patient,
            action: action.to_string(),
            purpose: purpose.0.clone(),
            detail,
        }
    }

    /// The bus key: the patient, so one patient's events stay in order.
    pub fn key(&self) -> String {
        self.patient_id
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into())
    }
}

#[cfg(feature = "events")]
pub use publisher::AuditPublisher;

#[cfg(feature = "events")]
mod publisher {
    use std::sync::Arc;

    use super::{AuditEvent, Purpose, AUDIT_TOPIC};
    use crate::events::EventBus;
    use crate::{ApiError, AuthUser};

    /// Publishes a service's audit events and waits until the bus holds them.
    #[derive(Clone)]
    pub struct AuditPublisher {
        bus: Arc<dyn EventBus>,
        service: &'static str,
    }

    impl AuditPublisher {
        /// Call `bus.ensure_topics(&[AUDIT_TOPIC])` once at start.
        pub fn new(bus: Arc<dyn EventBus>, service: &'static str) -> AuditPublisher {
            AuditPublisher { bus, service }
        }

        /// An event of this service.
        pub fn event(
            &self,
            caller: &AuthUser,
            purpose: &Purpose,
            action: &str,
            patient: Option<uuid::Uuid>,
            detail: serde_json::Value,
        ) -> AuditEvent {
            AuditEvent::new(self.service, caller, purpose, action, patient, detail)
        }

        /// Publishes `events`; 503 if the bus does not take them (the access must then not be
        /// served).
        pub async fn publish(&self, events: Vec<AuditEvent>) -> Result<(), ApiError> {
            let deliveries: Vec<_> = events
                .iter()
                .map(|e| {
                    // Plain data with string keys: serialising cannot fail.
                    let payload = serde_json::to_vec(e).unwrap_or_default();
                    self.bus.publish(AUDIT_TOPIC, &e.key(), payload)
                })
                .collect();
            for delivery in deliveries {
                if let Err(error) = delivery.await {
                    tracing::error!(%error, "audit event not published; refusing the request");
                    return Err(ApiError::Unavailable("audit trail unavailable".into()));
                }
            }
            Ok(())
        }

        /// One event for `action` on `patient`, published.
        pub async fn record(
            &self,
            caller: &AuthUser,
            purpose: &Purpose,
            action: &str,
            patient: Option<uuid::Uuid>,
            detail: serde_json::Value,
        ) -> Result<(), ApiError> {
            self.publish(vec![self.event(caller, purpose, action, patient, detail)])
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_are_short_tokens() {
        assert_eq!(parse_purpose(None).unwrap(), "unspecified");
        let ok = HeaderValue::from_static(" ETREAT ");
        assert_eq!(parse_purpose(Some(&ok)).unwrap(), "ETREAT");
        for bad in ["", "a b", "x;y", &"a".repeat(65)] {
            let value = HeaderValue::from_str(bad).unwrap();
            assert!(
                matches!(parse_purpose(Some(&value)), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn events_round_trip_and_key_by_patient() {
        let patient = Uuid::new_v4();
        let event = AuditEvent {
            v: AUDIT_EVENT_VERSION,
            event_id: Uuid::new_v4(),
            service: "alerts".into(),
            at: Utc::now(),
            actor: "u1".into(),
            actor_role: "clinician".into(),
            patient_id: Some(patient),
            action: "vitals.read".into(),
            purpose: "TREAT".into(),
            detail: serde_json::json!({"resolution": "1m"}),
        };
        let json = serde_json::to_vec(&event).unwrap();
        assert_eq!(serde_json::from_slice::<AuditEvent>(&json).unwrap(), event);
        assert_eq!(event.key(), patient.to_string());
    }
}
