//! The in-process event bus: one partition per topic, consumer groups with committed offsets,
//! all in memory. For one-process setups without Kafka; nothing survives a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{BusFuture, EventBus, EventBusError, EventRecord, EventSubscription};

#[derive(Default)]
struct Logs {
    topics: HashMap<String, Vec<EventRecord>>,
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
            let offset = log.len() as i64;
            log.push(EventRecord {
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
        let logs = self.logs.lock().expect("memory bus poisoned");
        let cursors = topics
            .iter()
            .map(|t| {
                let start = logs
                    .committed
                    .get(&(group.to_string(), t.to_string()))
                    .copied()
                    .unwrap_or(0);
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
            if let Some(record) = logs.topics.get(topic).and_then(|l| l.get(*cursor as usize)) {
                *cursor += 1;
                return Some(record.clone());
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
        let len = logs.topics.get(&record.topic).map_or(0, Vec::len) as i64;
        Some((len - record.offset - 1).max(0))
    }

    fn commit(&mut self, record: &EventRecord) -> Result<(), EventBusError> {
        let mut logs = self.bus.logs.lock().expect("memory bus poisoned");
        let next = logs
            .committed
            .entry((self.group.clone(), record.topic.clone()))
            .or_insert(0);
        *next = (*next).max(record.offset + 1);
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

        // The group resumes after its commit; another group starts from the beginning.
        let mut again = bus.subscribe("g", &["t"]).unwrap();
        assert_eq!(again.next().await.unwrap().payload, b"two".to_vec());
        let mut other = bus.subscribe("h", &["t"]).unwrap();
        assert_eq!(other.next().await.unwrap().payload, b"one".to_vec());
    }
}
