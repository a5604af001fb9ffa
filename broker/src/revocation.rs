//! Cutting revoked and rotated devices on every broker instance.
//!
//! The registry API cuts the device's session on the instance that served the request at once,
//! then publishes a `DeviceEvent` on `registry.devices.v1`; every instance consumes that topic in
//! a consumer group of its own (so each sees every event), drops its cached credential and cuts
//! the device's session if it has one. A device revoked through any instance is disconnected from
//! all of them within the bus's delivery time (well under a second on a healthy cluster).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use episante_kit::events::EventBus;
use episante_kit::Shutdown;
use episante_protocol::registry::{DeviceChange, DeviceEvent};
use episante_protocol::topics;

use crate::device_auth::DeviceAuthenticator;
use crate::mqtt::sessions::SessionRegistry;

/// Applies a device change on this instance: forget its credential, cut its session.
pub fn apply(
    auth: &DeviceAuthenticator,
    sessions: &SessionRegistry,
    device: &str,
    change: DeviceChange,
    issued_at: DateTime<Utc>,
) {
    auth.invalidate(device);
    if sessions.cut_device(device, change == DeviceChange::Revoked, issued_at) {
        tracing::info!(device, ?change, "device session cut");
    }
}

/// Publishes a change for the other instances (best effort: their credential caches expire
/// within `credential_cache_secs` regardless).
pub async fn announce(
    bus: &dyn EventBus,
    device: &str,
    change: DeviceChange,
    issued_at: DateTime<Utc>,
) {
    let event = DeviceEvent {
        device_id: device.to_string(),
        change,
        credentials_issued_at_us: issued_at.timestamp_micros(),
    };
    let body = serde_json::to_vec(&event).expect("device events serialise");
    if let Err(e) = bus.publish(topics::KAFKA_DEVICE_EVENTS, device, body).await {
        tracing::error!(device, error = %e, "cannot announce a device change to other brokers");
    }
}

/// Consumes device events until `shutdown`.
pub fn spawn_listener(
    bus: Arc<dyn EventBus>,
    auth: Arc<DeviceAuthenticator>,
    sessions: Arc<SessionRegistry>,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let group = format!("episante-broker-{}", uuid::Uuid::new_v4().simple());
        let mut subscription = loop {
            match bus.subscribe(&group, &[topics::KAFKA_DEVICE_EVENTS]) {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to device events yet");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.wait() => return,
                    }
                }
            }
        };
        loop {
            let record = tokio::select! {
                r = subscription.next() => r,
                _ = shutdown.wait() => return,
            };
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "device event stream failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            match serde_json::from_slice::<DeviceEvent>(&record.payload) {
                Ok(event) => {
                    let issued_at = DateTime::from_timestamp_micros(event.credentials_issued_at_us)
                        .unwrap_or_default();
                    apply(&auth, &sessions, &event.device_id, event.change, issued_at);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable device event skipped"),
            }
            let _ = subscription.commit(&record);
        }
    })
}
