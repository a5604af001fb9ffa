//! The broker's own metrics, registered in the service registry (`/metrics` on the HTTP port).

use std::sync::Arc;

use episante_kit::metrics::latency_histogram;
use episante_kit::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Clone)]
pub struct BrokerMetrics {
    pub connected_devices: Gauge,
    pub auth_successes: Counter,
    pub auth_failures: Counter,
    pub messages_in: Counter,
    pub readings_in: Counter,
    pub bytes_in: Counter,
    pub validation_failures: Family<Reason, Counter>,
    pub dead_lettered: Counter,
    pub kafka_delivery_seconds: Histogram,
    pub kafka_failures: Counter,
    pub acks_sent: Counter,
    pub connections_refused: Family<Reason, Counter>,
    pub sessions: Gauge,
    pub sessions_cut: Family<Reason, Counter>,
    pub pending_handshakes: Gauge,
    pub rate_limited: Counter,
    /// PUBLISH packets sessions have handed to the router.
    pub publishes_forwarded: Counter,
}

impl BrokerMetrics {
    /// Counts a connection refused before it became a session, by why.
    pub fn refuse(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&Reason { reason })
            .inc();
    }

    pub fn register(registry: &Metrics) -> Arc<Self> {
        let m = BrokerMetrics {
            connected_devices: Gauge::default(),
            auth_successes: Counter::default(),
            auth_failures: Counter::default(),
            messages_in: Counter::default(),
            readings_in: Counter::default(),
            bytes_in: Counter::default(),
            validation_failures: Family::default(),
            dead_lettered: Counter::default(),
            kafka_delivery_seconds: latency_histogram(),
            kafka_failures: Counter::default(),
            acks_sent: Counter::default(),
            connections_refused: Family::default(),
            sessions: Gauge::default(),
            sessions_cut: Family::default(),
            pending_handshakes: Gauge::default(),
            rate_limited: Counter::default(),
            publishes_forwarded: Counter::default(),
        };
        registry.register(
            "episante_broker_publishes_forwarded",
            "PUBLISH packets device sessions handed to the MQTT router",
            m.publishes_forwarded.clone(),
        );
        let r = registry;
        r.register(
            "episante_broker_connected_devices",
            "Devices whose last status is online",
            m.connected_devices.clone(),
        );
        r.register(
            "episante_broker_auth_successes",
            "MQTT connections accepted",
            m.auth_successes.clone(),
        );
        r.register(
            "episante_broker_auth_failures",
            "MQTT connections refused for bad credentials",
            m.auth_failures.clone(),
        );
        r.register(
            "episante_broker_messages_in",
            "Reading messages received",
            m.messages_in.clone(),
        );
        r.register(
            "episante_broker_readings_in",
            "Valid readings received",
            m.readings_in.clone(),
        );
        r.register(
            "episante_broker_bytes_in",
            "Reading payload bytes received",
            m.bytes_in.clone(),
        );
        r.register(
            "episante_broker_validation_failures",
            "Payloads rejected, by reason",
            m.validation_failures.clone(),
        );
        r.register(
            "episante_broker_dead_lettered",
            "Payloads written to the dead-letter topic",
            m.dead_lettered.clone(),
        );
        r.register(
            "episante_broker_kafka_delivery_seconds",
            "Time from MQTT receipt to Kafka confirmation",
            m.kafka_delivery_seconds.clone(),
        );
        r.register(
            "episante_broker_kafka_failures",
            "Kafka deliveries that failed (readings stay unacked)",
            m.kafka_failures.clone(),
        );
        r.register(
            "episante_broker_acks_sent",
            "End-to-end acknowledgements published to devices",
            m.acks_sent.clone(),
        );
        r.register(
            "episante_broker_connections_refused",
            "Connections refused before a session started, by reason (handshake timeout, \
             source limit, identity mismatch, bad credentials, stale certificate, ...)",
            m.connections_refused.clone(),
        );
        r.register(
            "episante_broker_sessions",
            "Device MQTT sessions open now",
            m.sessions.clone(),
        );
        r.register(
            "episante_broker_sessions_cut",
            "Device sessions ended by the broker, by reason (revoked, rotated, replaced, ...)",
            m.sessions_cut.clone(),
        );
        r.register(
            "episante_broker_pending_handshakes",
            "Connections between accept and CONNACK",
            m.pending_handshakes.clone(),
        );
        r.register(
            "episante_broker_rate_limited",
            "Device publishes refused by the per-device rate limit",
            m.rate_limited.clone(),
        );
        Arc::new(m)
    }
}
