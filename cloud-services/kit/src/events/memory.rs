//! The in-process event bus: one partition per topic, consumer groups with committed offsets,
//! all in memory. For tests that want a bus without storage; nothing survives a restart
//! (`episante up` uses the durable [`super::postgres::PostgresBus`]).
//!
//! Bounds, so memory does not grow without limit: events every group reading a topic has
//! committed are dropped, and a topic holds at most [`MAX_RETAINED`] events and at most its byte
//! budget ([`Retention`]). Counting events alone bounded nothing: a million 100 KB events is
//! 100 GB. At its bound, a topic that some consumer group reads **refuses** new events
//! ([`EventBusError::Full`]) rather than dropping ones the group has not read: the broker then
//! does not acknowledge readings, and hubs keep them (acknowledged means kept). A topic nobody
//! consumes (dead letters) drops its oldest events instead, like Kafka's retention, and gets a
//! smaller budget. A group that subscribes later continues from the oldest event still held.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::metrics::BusMetrics;
use super::{BusFuture, EventBus, EventBusConfig, EventBusError, EventRecord, EventSubscription};

/// Events kept per topic at most.
pub const MAX_RETAINED: usize = 1_000_000;

/// Bytes each topic keeps at most (see [`EventBusConfig`]). The newest event is always kept, even
/// when it alone is over the budget, so that it can still be consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub topic_max_bytes: u64,
    /// For dead-letter topics ([`super::is_dead_letter_topic`]).
    pub dead_letter_max_bytes: u64,
}

impl Retention {
    pub fn from_config(config: &EventBusConfig) -> Self {
        Retention {
            topic_max_bytes: config.memory_topic_max_bytes,
            dead_letter_max_bytes: config.dead_letter_max_bytes,
        }
    }

    fn max_bytes(&self, topic: &str) -> u64 {
        super::bound_for(topic, self.topic_max_bytes, self.dead_letter_max_bytes)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention::from_config(&EventBusConfig::default())
    }
}

/// What an event counts against its topic's byte budget.
fn record_bytes(record: &EventRecord) -> u64 {
    super::event_bytes(
        &record.topic,
        record.key.as_deref().unwrap_or_default(),
        &record.payload,
    )
}

/// One topic's retained events: offsets `base..base + records.len()`, `bytes` in all.
#[derive(Default)]
struct TopicLog {
    base: i64,
    records: VecDeque<EventRecord>,
    bytes: u64,
    /// Events dropped by the count or byte limit, ever (the first drop is logged).
    expired: u64,
}

impl TopicLog {
    fn end(&self) -> i64 {
        self.base + self.records.len() as i64
    }

    fn get(&self, offset: i64) -> Option<&EventRecord> {
        if offset < self.base {
            return None;
        }
        self.records.get((offset - self.base) as usize)
    }

    fn pop_oldest(&mut self) -> bool {
        let Some(record) = self.records.pop_front() else {
            return false;
        };
        self.base += 1;
        self.bytes -= record_bytes(&record);
        true
    }

    fn trim_before(&mut self, offset: i64) {
        while self.base < offset && self.pop_oldest() {}
    }

    fn full(&self, size: u64, max_bytes: u64) -> bool {
        !self.records.is_empty()
            && (self.records.len() >= MAX_RETAINED || self.bytes + size > max_bytes)
    }

    /// Appends `record`. Over the count or byte limit, a topic that consumer groups read
    /// (`consumed`) refuses it; one nobody reads first drops its oldest events (the log start
    /// advances, as with Kafka's retention).
    fn append(
        &mut self,
        record: EventRecord,
        max_bytes: u64,
        consumed: bool,
    ) -> Result<(), EventBusError> {
        let size = record_bytes(&record);
        if consumed && self.full(size, max_bytes) {
            return Err(EventBusError::Full {
                topic: record.topic,
                max_bytes,
            });
        }
        let mut expired = 0;
        while self.full(size, max_bytes) {
            self.pop_oldest();
            expired += 1;
        }
        if expired > 0 && self.expired == 0 {
            tracing::warn!(
                topic = %record.topic,
                max_bytes,
                max_events = MAX_RETAINED,
                "in-memory topic nobody consumes over its retention limit: dropping its oldest events"
            );
        }
        self.expired += expired;
        self.bytes += size;
        self.records.push_back(record);
        Ok(())
    }
}

#[derive(Default)]
struct Logs {
    topics: HashMap<String, TopicLog>,
    /// Committed next offset per (group, topic).
    committed: HashMap<(String, String), i64>,
}

/// `Default` has the default [`Retention`].
#[derive(Default, Clone)]
pub struct MemoryBus {
    logs: Arc<Mutex<Logs>>,
    appended: Arc<Notify>,
    retention: Retention,
    metrics: BusMetrics,
}

impl MemoryBus {
    pub fn new(retention: Retention) -> Self {
        MemoryBus {
            retention,
            ..Default::default()
        }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> BusFuture<'static, ()> {
        let appended = {
            let max_bytes = self.retention.max_bytes(topic);
            let mut logs = self.logs.lock().expect("memory bus poisoned");
            let consumed = logs.committed.keys().any(|(_, t)| t == topic);
            let log = logs.topics.entry(topic.to_string()).or_default();
            let offset = log.end();
            let record = EventRecord {
                topic: topic.to_string(),
                partition: 0,
                offset,
                key: Some(key.as_bytes().to_vec()),
                payload,
                timestamp_ms: Some(chrono::Utc::now().timestamp_millis()),
            };
            let appended = log.append(record, max_bytes, consumed);
            self.metrics
                .topic(topic, log.records.len() as i64, log.bytes, max_bytes);
            appended
        };
        match &appended {
            Ok(()) => self.appended.notify_waiters(),
            Err(_) => self.metrics.refused(topic),
        }
        Box::pin(async move { appended })
    }

    fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn EventSubscription>, EventBusError> {
        let mut logs = self.logs.lock().expect("memory bus poisoned");
        // Registering the group holds back retention until it has committed.
        let cursors = topics
            .iter()
            .map(|t| {
                let start = *logs
                    .committed
                    .entry((group.to_string(), t.to_string()))
                    .or_insert(0);
                (t.to_string(), start)
            })
            .collect();
        Ok(Box::new(MemorySubscription {
            bus: self.clone(),
            group: group.to_string(),
            cursors,
        }))
    }

    fn assign(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Box<dyn EventSubscription>, EventBusError> {
        // One partition (0) per topic here.
        self.subscribe(group, &super::single_partition_topics(partitions))
    }

    fn partition_count<'a>(&'a self, _topic: &'a str) -> BusFuture<'a, i32> {
        Box::pin(async { Ok(1) })
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        let mut logs = self.logs.lock().expect("memory bus poisoned");
        for t in topics {
            logs.topics.entry(t.to_string()).or_default();
        }
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "in-memory bus (not durable)".into()
    }

    fn register_metrics(&self, metrics: &crate::metrics::Metrics) {
        self.metrics.register(metrics);
    }
}

struct MemorySubscription {
    bus: MemoryBus,
    group: String,
    /// Next offset to read, per topic.
    cursors: Vec<(String, i64)>,
}

impl MemorySubscription {
    fn try_next(&mut self) -> Option<EventRecord> {
        let logs = self.bus.logs.lock().expect("memory bus poisoned");
        for (topic, cursor) in &mut self.cursors {
            if let Some(log) = logs.topics.get(topic) {
                // Trimmed past this cursor: continue from the oldest event held.
                *cursor = (*cursor).max(log.base);
                if let Some(record) = log.get(*cursor) {
                    *cursor += 1;
                    return Some(record.clone());
                }
            }
        }
        None
    }
}

impl EventSubscription for MemorySubscription {
    fn next(&mut self) -> BusFuture<'_, EventRecord> {
        Box::pin(async move {
            loop {
                // Register interest before looking, so an append in between is not missed.
                let appended = self.bus.appended.clone();
                let notified = appended.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(record) = self.try_next() {
                    return Ok(record);
                }
                notified.await;
            }
        })
    }

    fn lag(&self, record: &EventRecord) -> Option<i64> {
        let logs = self.bus.logs.lock().expect("memory bus poisoned");
        let end = logs.topics.get(&record.topic).map_or(0, TopicLog::end);
        Some((end - record.offset - 1).max(0))
    }

    fn commit(&mut self, record: &EventRecord) -> Result<(), EventBusError> {
        let mut logs = self.bus.logs.lock().expect("memory bus poisoned");
        let next = logs
            .committed
            .entry((self.group.clone(), record.topic.clone()))
            .or_insert(0);
        *next = (*next).max(record.offset + 1);
        // Everything every group of this topic has committed can go.
        let oldest_needed = logs
            .committed
            .iter()
            .filter(|((_, topic), _)| topic == &record.topic)
            .map(|(_, offset)| *offset)
            .min();
        if let (Some(offset), Some(log)) = (oldest_needed, logs.topics.get_mut(&record.topic)) {
            log.trim_before(offset);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn groups_resume_after_their_commit() {
        let bus = MemoryBus::default();
        let mut first = bus.subscribe("g", &["t"]).unwrap();
        // A group registered before the commits keeps its events (retention waits for it).
        let mut other = bus.subscribe("h", &["t"]).unwrap();
        let waiter = tokio::spawn(async move {
            let record = first.next().await.unwrap();
            first.commit(&record).unwrap();
            record
        });
        tokio::task::yield_now().await;
        bus.publish("t", "k", b"one".to_vec()).await.unwrap();
        bus.publish("t", "k", b"two".to_vec()).await.unwrap();
        let got = waiter.await.unwrap();
        assert_eq!((got.offset, got.payload), (0, b"one".to_vec()));

        // The group resumes after its commit; the other group starts from the beginning.
        let mut again = bus.subscribe("g", &["t"]).unwrap();
        assert_eq!(again.next().await.unwrap().payload, b"two".to_vec());
        assert_eq!(other.next().await.unwrap().payload, b"one".to_vec());
    }

    #[tokio::test]
    async fn events_every_group_committed_are_dropped() {
        let bus = MemoryBus::default();
        let mut a = bus.subscribe("a", &["t"]).unwrap();
        let mut b = bus.subscribe("b", &["t"]).unwrap();
        for i in 0..10u8 {
            bus.publish("t", "k", vec![i]).await.unwrap();
        }
        for _ in 0..6 {
            let r = a.next().await.unwrap();
            a.commit(&r).unwrap();
        }
        let held = |bus: &MemoryBus| bus.logs.lock().unwrap().topics["t"].records.len();
        assert_eq!(held(&bus), 10, "group b has committed nothing yet");
        for _ in 0..4 {
            let r = b.next().await.unwrap();
            b.commit(&r).unwrap();
        }
        assert_eq!(held(&bus), 6, "both groups are past offset 4");
        // Offsets stay stable after trimming.
        let r = b.next().await.unwrap();
        assert_eq!((r.offset, r.payload), (4, vec![4]));
    }

    fn held_bytes(bus: &MemoryBus, topic: &str) -> (u64, usize) {
        let logs = bus.logs.lock().unwrap();
        let log = &logs.topics[topic];
        let counted: u64 = log.records.iter().map(record_bytes).sum();
        assert_eq!(
            log.bytes, counted,
            "the running total matches the events held"
        );
        (log.bytes, log.records.len())
    }

    #[tokio::test]
    async fn a_consumed_topic_at_its_bound_refuses_instead_of_dropping_unread_events() {
        let budget = 10_000_000;
        let bus = MemoryBus::new(Retention {
            topic_max_bytes: budget,
            dead_letter_max_bytes: budget,
        });
        // A group that reads nothing while 100 MB are offered.
        let mut behind = bus.subscribe("slow", &["t"]).unwrap();
        let mut accepted = 0u32;
        let mut refused = 0u32;
        for i in 0..1_000u32 {
            let mut payload = vec![0u8; 100_000];
            payload[..4].copy_from_slice(&i.to_le_bytes());
            match bus.publish("t", "k", payload).await {
                Ok(()) => accepted += 1,
                Err(EventBusError::Full { topic, max_bytes }) => {
                    assert_eq!((topic.as_str(), max_bytes), ("t", budget));
                    refused += 1;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(
                held_bytes(&bus, "t").0 <= budget,
                "over budget at event {i}"
            );
        }
        assert_eq!((accepted, refused), (99, 901));

        // Every accepted event is still there, from the first, in order.
        for i in 0..accepted {
            let record = behind.next().await.unwrap();
            assert_eq!(record.offset, i as i64);
            assert_eq!(record.payload[..4], i.to_le_bytes());
            behind.commit(&record).unwrap();
        }
        assert_eq!(held_bytes(&bus, "t"), (0, 0), "committed events go");

        // Once read, the topic accepts again; an event alone over the budget is still kept.
        bus.publish("t", "k", vec![1; 11_000_000]).await.unwrap();
        assert_eq!(behind.next().await.unwrap().offset, 99);
    }

    #[tokio::test]
    async fn a_topic_nobody_consumes_drops_its_oldest_at_its_bound() {
        let budget = 1_000_000;
        let bus = MemoryBus::new(Retention {
            topic_max_bytes: budget,
            dead_letter_max_bytes: budget,
        });
        for i in 0..100u32 {
            let mut payload = vec![0u8; 100_000];
            payload[..4].copy_from_slice(&i.to_le_bytes());
            bus.publish("t", "k", payload).await.unwrap();
        }
        assert_eq!(held_bytes(&bus, "t").1, 9);
        // A group that subscribes later starts from the oldest event still held.
        let mut late = bus.subscribe("late", &["t"]).unwrap();
        assert_eq!(late.next().await.unwrap().offset, 91);
    }

    #[tokio::test]
    async fn dead_letters_get_the_smaller_default_budget() {
        let bus = MemoryBus::default();
        let defaults = EventBusConfig::default();
        for _ in 0..300 {
            bus.publish("telemetry.dead-letter.v1", "d", vec![0; 100_000])
                .await
                .unwrap();
            bus.publish("telemetry.readings.v1", "d", vec![0; 100_000])
                .await
                .unwrap();
        }
        let (dead, _) = held_bytes(&bus, "telemetry.dead-letter.v1");
        assert!(dead <= defaults.dead_letter_max_bytes, "{dead}");
        assert!(dead > defaults.dead_letter_max_bytes - 100_100, "{dead}");
        assert_eq!(
            held_bytes(&bus, "telemetry.readings.v1").1,
            300,
            "30 MB is within 256 MiB"
        );
        assert!(super::super::is_dead_letter_topic(
            "telemetry.dead-letter.v1"
        ));
        assert!(!super::super::is_dead_letter_topic("telemetry.readings.v1"));
    }
}
