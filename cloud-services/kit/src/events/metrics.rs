//! What a bus that keeps events itself (the in-memory and the PostgreSQL log) shows Prometheus:
//! how much each topic holds against its bound, and how often a publish was refused because a
//! topic was full. Kafka's own brokers export these figures for the Kafka bus.
//!
//! A topic at its bound refuses new events instead of dropping unconsumed ones, so
//! `episante_bus_refused_total` rising means hubs are being told to keep their buffers:
//! the alert rule for it lives in `infra/prometheus/rules.yml`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabel {
    pub group: String,
    pub topic: String,
}

#[derive(Clone, Default)]
pub struct BusMetrics {
    /// Bytes of events a topic holds (payload, key and topic name per event).
    pub topic_bytes: Family<TopicLabel, Gauge>,
    /// Events a topic holds.
    pub topic_events: Family<TopicLabel, Gauge>,
    /// A topic's bound in bytes.
    pub topic_max_bytes: Family<TopicLabel, Gauge>,
    /// Publishes refused because the topic was at its bound (or the store failed).
    pub refused: Family<TopicLabel, Counter>,
    /// Events a group has not committed yet.
    pub group_lag: Family<GroupLabel, Gauge>,
}

impl BusMetrics {
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "episante_bus_topic_bytes",
            "Bytes of events a topic of the platform's own event bus holds",
            self.topic_bytes.clone(),
        );
        metrics.register(
            "episante_bus_topic_events",
            "Events a topic of the platform's own event bus holds",
            self.topic_events.clone(),
        );
        metrics.register(
            "episante_bus_topic_max_bytes",
            "A topic's bound in bytes: at it, unconsumed events are kept and new ones refused",
            self.topic_max_bytes.clone(),
        );
        metrics.register(
            "episante_bus_refused",
            "Publishes refused by the platform's own event bus (topic at its bound, or storage failed)",
            self.refused.clone(),
        );
        metrics.register(
            "episante_bus_group_lag",
            "Events of a topic a consumer group has not committed yet",
            self.group_lag.clone(),
        );
    }

    pub fn topic(&self, topic: &str, events: i64, bytes: u64, max_bytes: u64) {
        let label = TopicLabel {
            topic: topic.to_string(),
        };
        self.topic_events.get_or_create(&label).set(events);
        self.topic_bytes.get_or_create(&label).set(bytes as i64);
        self.topic_max_bytes
            .get_or_create(&label)
            .set(max_bytes as i64);
    }

    pub fn refused(&self, topic: &str) {
        self.refused
            .get_or_create(&TopicLabel {
                topic: topic.to_string(),
            })
            .inc();
    }

    pub fn lag(&self, group: &str, topic: &str, lag: i64) {
        self.group_lag
            .get_or_create(&GroupLabel {
                group: group.to_string(),
                topic: topic.to_string(),
            })
            .set(lag.max(0));
    }
}
