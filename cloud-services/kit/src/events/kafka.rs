//! The Kafka event bus (rdkafka with bundled librdkafka).
//!
//! The producer is idempotent with `acks=all`, so retries never duplicate or reorder events of one
//! partition. Consumers never auto-store offsets: `commit` is called after the consumer's own
//! writes, giving at-least-once delivery that idempotent consumers turn into exactly-once effects.
//!
//! Dead-letter topics this bus creates get their own retention (`retention.ms`, and
//! `retention.bytes` per partition): nothing in the platform consumes them, so without it they
//! would grow until the disk is full. Other topics keep the cluster's defaults. Topics that already
//! exist are left as they are (brokers that ignore these settings, such as tansu, keep theirs).
//!
//! How long a fetch may wait for data (`fetch.wait.max.ms`) is chosen per subscription:
//! `readings_fetch_wait_ms` (10 ms) for one that reads vital-sign readings (alerts are raised from
//! them: a latency floor for patients), `fetch_wait_ms` (200 ms) for every other (revocations,
//! audit events, assignments alone). A fetch costs the broker
//! work even when nothing is new — tansu answers every fetch only after about this wait, through
//! one storage task it shares with every produce — so quiet consumers polling a hundred times a
//! second slowed the readings path for everyone (docs/BENCHMARKS.md, "Clinical safety").

use std::time::Duration;

use episante_protocol::topics::KAFKA_READINGS;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::{
    is_dead_letter_topic, BusFuture, EventBus, EventBusConfig, EventBusError, EventRecord,
    EventSubscription,
};

pub struct KafkaBus {
    brokers: String,
    partitions: i32,
    /// `retention.ms` and `retention.bytes` of dead-letter topics created here.
    dead_letter_retention: (String, String),
    /// `fetch.wait.max.ms` of readings consumers, of the others (see the module docs).
    fetch_waits: (u32, u32),
    /// `session.timeout.ms` of group members.
    session_timeout_ms: u32,
    producer: FutureProducer,
}

fn kafka_err(e: impl std::fmt::Display) -> EventBusError {
    EventBusError::Kafka(e.to_string())
}

impl KafkaBus {
    /// `fetch.wait.max.ms` for a consumer of `topics` (see the module docs). librdkafka's
    /// default, 500 ms, would be a half-second latency floor for alerts.
    fn fetch_wait_ms<'a>(&self, mut topics: impl Iterator<Item = &'a str>) -> u32 {
        if topics.any(|t| t == KAFKA_READINGS) {
            self.fetch_waits.0
        } else {
            self.fetch_waits.1
        }
    }

    /// A consumer of `group` that never stores offsets by itself (see the module docs), waiting
    /// at most `fetch_wait_ms` for data per fetch.
    fn consumer<'a>(
        &self,
        group: &str,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> Result<StreamConsumer, EventBusError> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A member killed without leaving holds its partitions until this expires: librdkafka's
            // 45 s would hold an alert page that long after a crash.
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout_ms / 4).max(1_000).to_string(),
            )
            .set(
                "fetch.wait.max.ms",
                self.fetch_wait_ms(topics.into_iter()).to_string(),
            )
            .create()
            .map_err(kafka_err)
    }

    pub fn new(config: &EventBusConfig) -> Result<Self, EventBusError> {
        let brokers = config.brokers.clone().unwrap_or_default();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", config.linger_ms.to_string())
            .set("message.timeout.ms", config.message_timeout_ms.to_string())
            // Callers bound their in-flight events well below this, so enqueueing never fails
            // for a full local queue.
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .map_err(kafka_err)?;
        Ok(KafkaBus {
            brokers,
            partitions: config.partitions,
            fetch_waits: (config.readings_fetch_wait_ms, config.fetch_wait_ms),
            session_timeout_ms: config.session_timeout_ms.max(6_000),
            dead_letter_retention: (
                config.dead_letter_retention_ms.to_string(),
                config.dead_letter_max_bytes.to_string(),
            ),
            producer,
        })
    }
}

impl EventBus for KafkaBus {
    fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> BusFuture<'static, ()> {
        // Enqueue now, in call order (per-key order depends on it); only the delivery is awaited.
        let enqueued = self
            .producer
            .send_result(FutureRecord::to(topic).key(key).payload(&payload))
            .map_err(|(e, _)| kafka_err(e));
        Box::pin(async move {
            match enqueued {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(kafka_err(e)),
                    Err(_) => Err(EventBusError::Closed),
                },
                Err(e) => Err(e),
            }
        })
    }

    fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn EventSubscription>, EventBusError> {
        let consumer = self.consumer(group, topics.iter().copied())?;
        consumer.subscribe(topics).map_err(kafka_err)?;
        Ok(Box::new(KafkaSubscription {
            consumer: Some(consumer),
        }))
    }

    fn assign(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Box<dyn EventSubscription>, EventBusError> {
        let consumer = self.consumer(group, partitions.iter().map(|(t, _)| t.as_str()))?;
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            // The group's committed offset, else `auto.offset.reset` (earliest).
            list.add_partition_offset(topic, *partition, Offset::Stored)
                .map_err(kafka_err)?;
        }
        consumer.assign(&list).map_err(kafka_err)?;
        Ok(Box::new(KafkaSubscription {
            consumer: Some(consumer),
        }))
    }

    fn partition_count<'a>(&'a self, topic: &'a str) -> BusFuture<'a, i32> {
        Box::pin(async move {
            let producer = self.producer.clone();
            let topic = topic.to_string();
            tokio::task::spawn_blocking(move || {
                let metadata = producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))
                    .map_err(kafka_err)?;
                metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map(|t| t.partitions().len() as i32)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| EventBusError::Kafka(format!("topic {topic} not found")))
            })
            .await
            .map_err(kafka_err)?
        })
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &self.brokers)
                .create()
                .map_err(kafka_err)?;
            let (retention_ms, retention_bytes) = &self.dead_letter_retention;
            let new: Vec<NewTopic> = topics
                .iter()
                .map(|t| {
                    let topic = NewTopic::new(t, self.partitions, TopicReplication::Fixed(1));
                    if is_dead_letter_topic(t) {
                        topic
                            .set("retention.ms", retention_ms)
                            .set("retention.bytes", retention_bytes)
                    } else {
                        topic
                    }
                })
                .collect();
            let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
            for result in admin
                .create_topics(&new, &options)
                .await
                .map_err(kafka_err)?
            {
                match result {
                    Ok(_) => {}
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, e)) => {
                        return Err(EventBusError::Kafka(format!("creating {topic}: {e}")))
                    }
                }
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("Kafka at {}", self.brokers)
    }
}

struct KafkaSubscription {
    /// `Some` until the subscription is dropped.
    consumer: Option<StreamConsumer>,
}

impl KafkaSubscription {
    fn consumer(&self) -> &StreamConsumer {
        self.consumer.as_ref().expect("taken only by drop")
    }
}

impl Drop for KafkaSubscription {
    /// Closing a group consumer leaves the group, and librdkafka can block doing so for as long
    /// as the coordinator is unreachable, or for ever (rust-rdkafka#509): a shutdown, or a test
    /// whose Kafka is already gone, would hang on it. The close runs on a detached thread; the
    /// process exiting ends it if it never returns. Offsets are committed per record, so an
    /// unfinished close loses nothing.
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.take() {
            let _ = std::thread::Builder::new()
                .name("kafka-consumer-close".into())
                .spawn(move || drop(consumer));
        }
    }
}

impl EventSubscription for KafkaSubscription {
    fn next(&mut self) -> BusFuture<'_, EventRecord> {
        Box::pin(async move {
            let message = self.consumer().recv().await.map_err(kafka_err)?;
            Ok(EventRecord {
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                timestamp_ms: message.timestamp().to_millis(),
            })
        })
    }

    fn commit(&mut self, record: &EventRecord) -> Result<(), EventBusError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(
            &record.topic,
            record.partition,
            Offset::Offset(record.offset + 1),
        )
        .map_err(kafka_err)?;
        self.consumer()
            .commit(&list, CommitMode::Async)
            .map_err(kafka_err)
    }

    fn lag(&self, record: &EventRecord) -> Option<i64> {
        // librdkafka caches each partition's high watermark from fetch responses; reading it is
        // local (no broker round trip), which the safe API does not expose.
        let topic = std::ffi::CString::new(record.topic.as_str()).ok()?;
        let (mut low, mut high) = (0i64, 0i64);
        // SAFETY: the client pointer is valid while `self.consumer` is `Some`, the topic is a valid
        // NUL-terminated string for the call, and the out-pointers point to live locals.
        let err = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.consumer().client().native_ptr(),
                topic.as_ptr(),
                record.partition,
                &mut low,
                &mut high,
            )
        };
        (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
            .then(|| (high - record.offset - 1).max(0))
    }
}
