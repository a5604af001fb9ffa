//! The alerts service's own metrics (beside the shared HTTP ones). Names are what the Prometheus
//! rules and the Grafana dashboard in `infra/` query.

use std::sync::Arc;

use episante_kit::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabel {
    pub severity: String,
}

/// Per device: only for what an operator must be able to trace to one hub (a device whose
/// readings are all dropped is unmonitored).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabel {
    pub device_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

pub struct AlertsMetrics {
    pub readings: Counter,
    pub duplicates: Family<DeviceLabel, Counter>,
    pub malformed: Counter,
    pub created: Family<SeverityLabel, Counter>,
    pub reading_to_alert: Histogram,
    pub batch_seconds: Histogram,
    pub bus_delay: Histogram,
    pub batch_gather: Histogram,
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    pub active: Family<SeverityLabel, Gauge>,
    pub unacknowledged_critical: Gauge,
    pub webhooks: Family<OutcomeLabel, Counter>,
}

impl AlertsMetrics {
    pub fn register(r: &Metrics) -> Arc<Self> {
        let m = AlertsMetrics {
            readings: Counter::default(),
            duplicates: Family::default(),
            malformed: Counter::default(),
            created: Family::default(),
            reading_to_alert: episante_kit::metrics::latency_histogram(),
            batch_seconds: episante_kit::metrics::latency_histogram(),
            bus_delay: episante_kit::metrics::latency_histogram(),
            batch_gather: episante_kit::metrics::latency_histogram(),
            consumer_lag: Family::default(),
            active: Family::default(),
            unacknowledged_critical: Gauge::default(),
            webhooks: Family::default(),
        };
        r.register(
            "episante_alerts_readings",
            "Readings applied (after deduplication)",
            m.readings.clone(),
        );
        r.register(
            "episante_alerts_duplicate_readings",
            "Readings dropped as duplicates (at or before the device's (epoch, seq)), per device",
            m.duplicates.clone(),
        );
        r.register(
            "episante_alerts_malformed_events",
            "Consumed events that could not be parsed",
            m.malformed.clone(),
        );
        r.register(
            "episante_alerts_created",
            "Alerts opened, by severity",
            m.created.clone(),
        );
        r.register(
            "episante_alerts_reading_to_alert_seconds",
            "From the platform receiving a reading to its alert being committed",
            m.reading_to_alert.clone(),
        );
        r.register(
            "episante_alerts_batch_seconds",
            "Time to apply one consumed batch",
            m.batch_seconds.clone(),
        );
        r.register(
            "episante_alerts_bus_delay_seconds",
            "From a record's bus timestamp (set by the broker's bridge) to this consumer receiving it",
            m.bus_delay.clone(),
        );
        r.register(
            "episante_alerts_batch_gather_seconds",
            "From a batch's first record received to its application starting",
            m.batch_gather.clone(),
        );
        r.register(
            "episante_alerts_consumer_lag",
            "Events not consumed yet, per partition",
            m.consumer_lag.clone(),
        );
        r.register(
            "episante_alerts_active",
            "Open alerts by severity",
            m.active.clone(),
        );
        r.register(
            "episante_alerts_unacknowledged_critical",
            "Critical alerts nobody has acknowledged",
            m.unacknowledged_critical.clone(),
        );
        r.register(
            "episante_alerts_webhook_deliveries",
            "Webhook attempts by outcome",
            m.webhooks.clone(),
        );
        Arc::new(m)
    }
}
