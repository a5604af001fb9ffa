//! The event bus every service publishes to and consumes from.
//!
//! Three implementations behind one small trait:
//! - [`kafka::KafkaBus`] (rdkafka; durable, partitioned, consumer groups — the distributed path);
//! - [`postgres::PostgresBus`] (a log in its own PostgreSQL database: durable, one process —
//!   `episante up`'s default on one machine without Kafka; why PostgreSQL: the module's docs and
//!   docs/ARCHITECTURE.md, "The embedded event bus");
//! - [`memory::MemoryBus`] (in-process, for tests that want no storage; **not durable**).
//!
//! `publish` resolves only once the bus has the event (Kafka: acknowledged by all in-sync
//! replicas; PostgreSQL: committed, so fsynced), which is what lets the MQTT broker acknowledge
//! readings end to end. A bus that keeps its events itself never drops an event a consumer group
//! has not committed: a topic at its bound refuses new ones ([`EventBusError::Full`]), so the
//! broker does not acknowledge them and hubs keep their buffers (backpressure).

pub mod kafka;
pub mod leases;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod postgres;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One consumed event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// When the bus accepted the event (Kafka `CreateTime`), ms since the epoch: the start of
    /// end-to-end latency measurements downstream.
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EventBusError {
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("event bus closed")]
    Closed,
    /// The topic holds its bound of events that some consumer group has not committed yet:
    /// nothing is dropped, the publish is refused (try again later).
    #[error("topic {topic} is full ({max_bytes} bytes of unconsumed events): not accepted")]
    Full { topic: String, max_bytes: u64 },
    /// The bus's own storage failed (the event was not accepted).
    #[error("event storage: {0}")]
    Storage(String),
}

pub type BusFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, EventBusError>> + Send + 'a>>;

pub trait EventBus: Send + Sync + 'static {
    /// Publishes `payload` under `key`. The event is enqueued before this returns, so events
    /// published in order under one key stay in order; the returned future (which owns its data
    /// and can be spawned) resolves once the bus durably holds the event.
    fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> BusFuture<'static, ()>;

    /// Joins consumer group `group` on `topics`, resuming after the group's last commit.
    fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn EventSubscription>, EventBusError>;

    /// Reads exactly `partitions` (topic, partition) for `group`, resuming after the group's last
    /// commit on each, without joining the group: who reads what is decided by the caller
    /// ([`leases::PartitionLeases`]), not by the bus's group coordinator.
    fn assign(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Box<dyn EventSubscription>, EventBusError>;

    /// How many partitions `topic` has.
    fn partition_count<'a>(&'a self, topic: &'a str) -> BusFuture<'a, i32>;

    /// Creates the topics that do not exist yet.
    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()>;

    /// For logs and `episante up`'s banner.
    fn describe(&self) -> String;

    /// Registers the bus's own figures (bytes held per topic, refusals) in `metrics`; buses
    /// whose brokers export them (Kafka) register nothing.
    fn register_metrics(&self, _metrics: &crate::metrics::Metrics) {}

    /// Called once every consumer has stopped: saves what is still only in memory (committed
    /// offsets not yet written). A bus dropped without it loses nothing it acknowledged, only
    /// the last commits, so those events are delivered again.
    fn close(&self) -> BusFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

pub trait EventSubscription: Send {
    /// The next event (waits for one).
    fn next(&mut self) -> BusFuture<'_, EventRecord>;

    /// Marks `record` and everything before it on its partition as processed.
    fn commit(&mut self, record: &EventRecord) -> Result<(), EventBusError>;

    /// Events after `record` on its partition not consumed yet (consumer lag), when known.
    fn lag(&self, _record: &EventRecord) -> Option<i64> {
        None
    }
}

/// `[kafka]` section: Kafka when `brokers` is set, else the in-memory bus.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EventBusConfig {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092` (`EPISANTE_KAFKA__BROKERS`).
    pub brokers: Option<String>,
    /// Partitions for topics this service creates.
    pub partitions: i32,
    /// How long the producer may batch before sending, ms.
    pub linger_ms: u32,
    /// How long a produced event may wait for the cluster before it fails, ms.
    pub message_timeout_ms: u32,
    /// `fetch.wait.max.ms` of consumers that read vital-sign readings (a latency floor for
    /// alerts), ms.
    pub readings_fetch_wait_ms: u32,
    /// `fetch.wait.max.ms` of every other consumer (revocations, audit events), ms: each fetch
    /// costs the broker work even when nothing is new.
    pub fetch_wait_ms: u32,
    /// How long a consumer-group member may go silent before its partitions go to the others,
    /// ms (`session.timeout.ms`; at least 6,000, the broker's usual minimum): how long a killed
    /// instance's share of a topic waits.
    pub session_timeout_ms: u32,
    /// In-memory bus: bytes of events one topic keeps at most (payload, key and topic name); over
    /// it the oldest go, like Kafka's `retention.bytes`.
    pub memory_topic_max_bytes: u64,
    /// Bytes one dead-letter topic ([`is_dead_letter_topic`]) keeps: per topic in the in-memory
    /// bus, per partition (`retention.bytes`) when the Kafka bus creates the topic.
    pub dead_letter_max_bytes: u64,
    /// How long dead-letter topics the Kafka bus creates keep events (`retention.ms`).
    pub dead_letter_retention_ms: u64,
}

impl Default for EventBusConfig {
    fn default() -> Self {
        EventBusConfig {
            brokers: None,
            partitions: 6,
            linger_ms: 5,
            message_timeout_ms: 300_000,
            readings_fetch_wait_ms: 10,
            fetch_wait_ms: 200,
            session_timeout_ms: 10_000,
            memory_topic_max_bytes: 256 << 20,
            dead_letter_max_bytes: 16 << 20,
            dead_letter_retention_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// The topics among `partitions` that a bus with one partition per topic holds (partition 0):
/// what its `assign` reads.
fn single_partition_topics(partitions: &[(String, i32)]) -> Vec<&str> {
    partitions
        .iter()
        .filter(|(_, p)| *p == 0)
        .map(|(t, _)| t.as_str())
        .collect()
}

/// What an event counts against its topic's bound, on every bus that keeps events itself:
/// payload, key and topic name. Counting events alone bounded nothing: a million 100 KB events is
/// 100 GB.
fn event_bytes(topic: &str, key: &[u8], payload: &[u8]) -> u64 {
    (topic.len() + key.len() + payload.len()) as u64
}

/// `topic`'s bound in bytes: dead-letter topics ([`is_dead_letter_topic`]) get their own.
fn bound_for(topic: &str, topic_max_bytes: u64, dead_letter_max_bytes: u64) -> u64 {
    if is_dead_letter_topic(topic) {
        dead_letter_max_bytes
    } else {
        topic_max_bytes
    }
}

/// Whether `topic` holds dead letters (`telemetry.dead-letter.v1`: a `dead-letter` name segment).
/// Nobody in the platform has to consume them, so only retention bounds them: they get the smaller
/// [`EventBusConfig::dead_letter_max_bytes`].
pub fn is_dead_letter_topic(topic: &str) -> bool {
    topic.split('.').any(|segment| segment == "dead-letter")
}

/// The bus `config` asks for, for a service running alone: Kafka, else the in-memory bus (a
/// service on its own has nobody to share a bus with; `episante up` uses [`connect_platform`]).
pub fn connect(config: &EventBusConfig) -> Result<Arc<dyn EventBus>, EventBusError> {
    match &config.brokers {
        Some(_) => Ok(Arc::new(kafka::KafkaBus::new(config)?)),
        None => {
            tracing::warn!("no Kafka configured: using the in-memory event bus (not durable)");
            Ok(Arc::new(memory::MemoryBus::new(
                memory::Retention::from_config(config),
            )))
        }
    }
}

/// The bus of a whole platform in one process (`episante up`): Kafka when configured, else the
/// durable PostgreSQL log ([`postgres::PostgresBus`], in `log`'s database), or the in-memory bus
/// when `log.in_memory` asks for it (benchmarks).
pub async fn connect_platform(
    config: &EventBusConfig,
    database: &crate::DatabaseConfig,
    log: &postgres::LogBusConfig,
    shutdown: &crate::Shutdown,
) -> anyhow::Result<Arc<dyn EventBus>> {
    if config.brokers.is_some() {
        return Ok(Arc::new(kafka::KafkaBus::new(config)?));
    }
    if log.in_memory {
        tracing::warn!("bus.in_memory is set: using the in-memory event bus (not durable)");
        return Ok(Arc::new(memory::MemoryBus::new(
            memory::Retention::from_config(config),
        )));
    }
    Ok(Arc::new(
        postgres::PostgresBus::open(database, log, shutdown).await?,
    ))
}
