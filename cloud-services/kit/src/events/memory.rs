//! The in-process event bus: one partition per topic, consumer groups with committed offsets,
//! all in memory. For one-process setups without Kafka; nothing survives a restart.
//!
//! Retention, so a long-running `episante up` does not grow without bound: events every group
//! reading a topic has committed are dropped, and a topic keeps at most [`MAX_RETAINED`] events
//! (the oldest go first), like Kafka's retention. A group that subscribes later starts at the
//! oldest event still held.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{BusFuture, EventBus, EventBusError, EventRecord, EventSubscription};

/// Events kept per topic at most.
pub const MAX_RETAINED: usize = 1_000_000;

/// One topic's retained events: offsets `base..base + records.len()`.
#[derive(Default)]
struct TopicLog {
    base: i64,
    records: VecDeque<EventRecord>,
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

    fn trim_before(&mut self, offset: i64) {
        while self.base < offset && self.records.pop_front().is_some() {
            self.base += 1;
        }
    }
}

#[derive(Default)]
struct Logs {
    topics: HashMap<String, TopicLog>,
    /// Committed next offset per (group, topic).
    committed: HashMap<(String, String), i64>,
}

#[derive(Default, Clone)]
pub struct MemoryBus {
    logs: Arc<Mutex<Logs>>,
    appended: Arc<Notify>,
}

impl EventBus for MemoryBus {
    fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> BusFuture<'static, ()> {
        {
            let mut logs = self.logs.lock().expect("memory bus poisoned");
            let log = logs.topics.entry(topic.to_string()).or_default();
            let offset = log.end();
            if log.records.len() >= MAX_RETAINED {
                log.trim_before(log.base + 1);
            }
            log.records.push_back(EventRecord {
                topic: topic.to_string(),
                partition: 0,
                offset,
                key: Some(key.as_bytes().to_vec()),
                payload,
                timestamp_ms: Some(chrono::Utc::now().timestamp_millis()),
            });
        }
        self.appended.notify_waiters();
        Box::pin(async { Ok(()) })
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
}
