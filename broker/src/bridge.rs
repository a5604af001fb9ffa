//! The KafkaBridge: MQTT readings in, Kafka records out, end-to-end acks back.
//!
//! A rumqttd local link subscribed to every device's readings feeds one pump task. Each message
//! is validated (protocol crate) and either produced to `telemetry.readings.v1` keyed by device id
//! or written to the dead-letter topic with its reason. Readings travel batched: consecutive
//! messages of one device arriving within `linger` share one Kafka record (up to 1,000 readings),
//! because the per-record cost of Kafka, not the per-reading one, is what limits the spine. Production is bounded by a semaphore: when
//! Kafka is slow the pump stops reading from the router, and rumqttd's own flow control
//! (`Unschedule` → `wake()`) takes over — memory never grows without bound.
//!
//! Only when Kafka has confirmed a record does the device hear `acked_through: N` (handed to its
//! session by `mqtt::sessions`, not through the router), and only for a
//! prefix of its records that are all confirmed. A device deletes readings on that ack alone, so a
//! crash anywhere between its PUBACK and Kafka's confirmation loses nothing: it resends.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use episante_kit::events::EventBus;
use episante_kit::Shutdown;
use episante_protocol::reading::MAX_READINGS_PER_BATCH;
use episante_protocol::topics::{self, DeviceTopicKind};
use episante_protocol::{ReadingBatch, ReadingError, ReadingsAck};
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::Notification;
use serde::Deserialize;
use tokio::sync::{mpsc, Semaphore};

use crate::dead_letter::{self, PayloadSummary};
use crate::fleet::FleetHealth;
use crate::metrics::{BrokerMetrics, Reason};
use crate::mqtt::sessions::SessionRegistry;

/// What the ack task learns: a record was handed to Kafka, then whether Kafka confirmed it.
enum AckEvent {
    Sent {
        device: Arc<str>,
        id: u64,
        /// `(epoch, last seq)` the record carries, if any is to be acknowledged.
        last_seq: Option<(u64, u64)>,
    },
    Confirmed {
        device: Arc<str>,
        id: u64,
        ok: bool,
    },
}

pub struct KafkaBridge {
    bus: Arc<dyn EventBus>,
    metrics: Arc<BrokerMetrics>,
    permits: Arc<Semaphore>,
    max_payload: usize,
    acks: mpsc::UnboundedSender<AckEvent>,
    next_id: u64,
    /// Readings waiting (at most `linger`) to share one Kafka record with later ones of the
    /// same device: one record per MQTT message would make small messages cost a Kafka record
    /// each.
    coalescing: HashMap<String, Coalescing>,
    linger: Duration,
    /// Devices whose last status message (or last will) said online.
    online: std::collections::HashSet<String>,
    /// Stream positions and fleet health (admission of seqs and epochs).
    fleet: Arc<FleetHealth>,
    max_clock_skew_ms: i64,
    seq_window: u64,
}

/// How much the bridge may hold and how long it may wait.
#[derive(Debug, Clone, Copy)]
pub struct BridgeLimits {
    /// Kafka records awaiting confirmation, at most.
    pub max_in_flight: usize,
    /// Larger reading payloads are dead-lettered.
    pub max_payload: usize,
    /// How long a device's readings may wait to share a Kafka record.
    pub linger: Duration,
    /// Readings timed further ahead of the broker's clock are dead-lettered.
    pub max_clock_skew_ms: i64,
    /// How far a batch may jump past the device's last seq (protocol `stream` rule).
    pub seq_window: u64,
}

/// Starts the pump and ack tasks; they stop when `shutdown` triggers (or the router goes away).
/// `link`: the bridge's router link (subscribed to every device's readings and status);
/// `sessions`: where acks go.
pub fn spawn(
    (link_tx, link_rx): (LinkTx, LinkRx),
    sessions: Arc<SessionRegistry>,
    bus: Arc<dyn EventBus>,
    metrics: Arc<BrokerMetrics>,
    fleet: Arc<FleetHealth>,
    limits: BridgeLimits,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    let BridgeLimits {
        max_in_flight,
        max_payload,
        linger,
        max_clock_skew_ms,
        seq_window,
    } = limits;
    let (acks, ack_events) = mpsc::unbounded_channel();
    let ack_task = tokio::spawn(run_acks(sessions, ack_events, metrics.clone()));
    let bridge = KafkaBridge {
        bus,
        metrics,
        permits: Arc::new(Semaphore::new(max_in_flight)),
        max_payload,
        acks,
        next_id: 0,
        coalescing: HashMap::new(),
        linger,
        online: Default::default(),
        fleet,
        max_clock_skew_ms,
        seq_window,
    };
    tokio::spawn(async move {
        // The link's sending half stays open for as long as the bridge reads (acks no longer
        // travel through the router: `sessions`).
        let _link_tx = link_tx;
        bridge.pump(link_rx, shutdown).await;
        // Dropping the bridge closes the ack channel once in-flight deliveries finish.
        let _ = ack_task.await;
    })
}

/// Enough of a payload to find its sequence numbers, for acking dead-lettered batches.
#[derive(Deserialize)]
struct SeqsOnly {
    #[serde(default)]
    epoch: u64,
    readings: Vec<SeqOnly>,
}
#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// What the bridge reads of a status message: the agent's heartbeat (`AgentStatus`) or its
/// last will.
#[derive(Deserialize)]
struct Status {
    online: bool,
    /// Readings buffered on the hub, not yet acknowledged.
    buffered: Option<u64>,
    agent_version: Option<String>,
}

/// How long the bridge link may hear nothing from the router before it asks to be scheduled.
const NUDGE_AFTER: Duration = Duration::from_millis(20);

impl KafkaBridge {
    async fn pump(mut self, mut rx: LinkRx, shutdown: Shutdown) {
        let mut tick = tokio::time::interval((self.linger / 2).max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // rumqttd 0.20 can leave this link paused with readings in its log and no wake-up due
        // (seen in a 10,000-device connect storm: the bridge sat idle for 20 s while thousands of
        // forwarded batches waited). A link that heard nothing for a while asks to be scheduled;
        // on a link that is not paused the router ignores it.
        let mut nudge = tokio::time::interval(NUDGE_AFTER);
        nudge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = Instant::now();
        loop {
            let notification = tokio::select! {
                n = rx.next() => n,
                _ = tick.tick(), if !self.coalescing.is_empty() => {
                    self.flush_aged().await;
                    continue;
                }
                _ = nudge.tick() => {
                    if heard.elapsed() >= NUDGE_AFTER && rx.wake().await.is_err() {
                        tracing::error!("cannot wake the MQTT bridge link");
                        break;
                    }
                    continue;
                }
                _ = shutdown.wait() => break,
            };
            heard = Instant::now();
            match notification {
                Ok(Some(Notification::Forward(forward))) => {
                    self.handle(&forward.publish.topic, &forward.publish.payload)
                        .await
                }
                // The router paused this link because its queue filled; it must be woken or it
                // never receives again.
                Ok(Some(Notification::Unschedule)) => {
                    if let Err(e) = rx.wake().await {
                        tracing::error!(error = ?e, "cannot wake the MQTT bridge link");
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = ?e, "the MQTT router dropped the bridge link");
                    break;
                }
            }
        }
        let devices: Vec<String> = self.coalescing.keys().cloned().collect();
        for device in devices {
            self.flush(&device).await;
        }
        tracing::info!("MQTT→Kafka bridge stopped");
    }

    /// Adds a valid batch to the device's pending Kafka record, flushing first when it would
    /// break the record's increasing `seq` (a resend) or exceed the batch size limit.
    async fn coalesce(&mut self, batch: ReadingBatch) {
        if self.linger.is_zero() {
            return self.produce_batch(batch).await;
        }
        let device = batch.device_id.clone();
        let flush_first = self.coalescing.get(&device).is_some_and(|pending| {
            let first = batch.readings.first().map_or(0, |r| r.seq);
            batch.epoch != pending.batch.epoch
                || first <= pending.batch.last_seq().unwrap_or(0)
                || pending.batch.readings.len() + batch.readings.len() > MAX_READINGS_PER_BATCH
        });
        if flush_first {
            self.flush(&device).await;
        }
        match self.coalescing.get_mut(&device) {
            Some(pending) => pending.batch.readings.extend(batch.readings),
            None => {
                self.coalescing.insert(
                    device.clone(),
                    Coalescing {
                        batch,
                        since: Instant::now(),
                    },
                );
            }
        }
        if self.coalescing[&device].batch.readings.len() >= MAX_READINGS_PER_BATCH {
            self.flush(&device).await;
        }
    }

    async fn flush(&mut self, device: &str) {
        if let Some(pending) = self.coalescing.remove(device) {
            self.produce_batch(pending.batch).await;
        }
    }

    async fn flush_aged(&mut self) {
        let linger = self.linger;
        let aged: Vec<String> = self
            .coalescing
            .iter()
            .filter(|(_, p)| p.since.elapsed() >= linger)
            .map(|(d, _)| d.clone())
            .collect();
        for device in aged {
            self.flush(&device).await;
        }
    }

    async fn produce_batch(&mut self, batch: ReadingBatch) {
        let last_seq = batch.last_seq().map(|seq| (batch.epoch, seq));
        let body = serde_json::to_vec(&batch).expect("batches serialise");
        self.produce(topics::KAFKA_READINGS, &batch.device_id, body, last_seq)
            .await;
    }

    async fn handle(&mut self, topic: &[u8], payload: &[u8]) {
        let Ok(topic) = std::str::from_utf8(topic) else {
            return;
        };
        let Some((device, kind)) = topics::parse_device_topic(topic) else {
            return;
        };
        match kind {
            DeviceTopicKind::Readings => self.handle_readings(device, topic, payload).await,
            DeviceTopicKind::Status => {
                if let Ok(status) = serde_json::from_slice::<Status>(payload) {
                    self.fleet
                        .status(device, status.buffered, status.agent_version);
                    if status.online {
                        self.online.insert(device.to_string());
                    } else {
                        self.online.remove(device);
                    }
                    self.metrics.connected_devices.set(self.online.len() as i64);
                }
            }
            DeviceTopicKind::Ack => {}
        }
    }

    async fn handle_readings(&mut self, device: &str, topic: &str, payload: &[u8]) {
        self.metrics.messages_in.inc();
        self.metrics.bytes_in.inc_by(payload.len() as u64);
        if payload.len() > self.max_payload {
            // Sessions refuse these at the socket; this guards the bridge all the same.
            let reason = format!(
                "payload of {} bytes exceeds {}",
                payload.len(),
                self.max_payload
            );
            return self
                .dead_letter(device, topic, payload, "oversized", reason, false)
                .await;
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let batch = match ReadingBatch::parse(payload) {
            Ok(batch) if batch.device_id != device => Err(ReadingError::DeviceMismatch {
                batch: batch.device_id,
                sender: device.to_string(),
            }),
            Ok(batch) => batch
                .check_clock(now_ms, self.max_clock_skew_ms)
                .map(|()| batch),
            other => other,
        };
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                let code = e.code();
                return self
                    .dead_letter(device, topic, payload, code, e.to_string(), true)
                    .await;
            }
        };
        let (first, last) = (
            batch.first_seq().unwrap_or(0),
            batch.last_seq().unwrap_or(0),
        );
        if let Err(refusal) = self
            .fleet
            .admit(device, batch.epoch, first, last, self.seq_window)
        {
            // Never acknowledged: an ack through a jumped seq would make a hub delete readings
            // it has not sent yet.
            return self
                .dead_letter(
                    device,
                    topic,
                    payload,
                    refusal.code(),
                    refusal.to_string(),
                    false,
                )
                .await;
        }
        batch.received_at_ms = Some(now_ms);
        self.metrics.readings_in.inc_by(batch.readings.len() as u64);
        self.coalesce(batch).await;
    }

    /// Writes a rejected payload to the dead-letter topic. With `ack`, if its sequence numbers
    /// can be read, they are acknowledged once the dead letter is durable: the device must not
    /// resend a batch that will never be accepted, and nothing is lost — the dead-letter topic
    /// has the whole payload.
    async fn dead_letter(
        &mut self,
        device: &str,
        topic: &str,
        payload: &[u8],
        code: &'static str,
        reason: String,
        ack: bool,
    ) {
        // Pending readings of this device go first, or its ack could overtake them.
        self.flush(device).await;
        self.metrics
            .validation_failures
            .get_or_create(&Reason { reason: code })
            .inc();
        tracing::debug!(device, code, %reason, "payload dead-lettered");
        let summary = if payload.len() <= self.max_payload {
            PayloadSummary::whole(payload)
        } else {
            PayloadSummary::head(payload)
        };
        let letter = dead_letter::letter(device, topic, code, reason, summary);
        let last_seq = serde_json::from_slice::<SeqsOnly>(payload)
            .ok()
            .filter(|_| ack)
            .and_then(|p| {
                let first = p.readings.iter().map(|r| r.seq).min()?;
                let last = p.readings.iter().map(|r| r.seq).max()?;
                self.fleet
                    .would_admit(device, p.epoch, first, last, self.seq_window)
                    .then_some((p.epoch, last))
            });
        let body = serde_json::to_vec(&letter).expect("dead letters serialise");
        self.produce(topics::KAFKA_DEAD_LETTER, device, body, last_seq)
            .await;
    }

    async fn produce(
        &mut self,
        topic: &'static str,
        device: &str,
        payload: Vec<u8>,
        last_seq: Option<(u64, u64)>,
    ) {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the bridge semaphore is never closed");
        let device: Arc<str> = Arc::from(device);
        let id = self.next_id;
        self.next_id += 1;
        let _ = self.acks.send(AckEvent::Sent {
            device: device.clone(),
            id,
            last_seq,
        });
        let started = Instant::now();
        let delivery = self.bus.publish(topic, &device, payload);
        let metrics = self.metrics.clone();
        let acks = self.acks.clone();
        let dead_letter = topic == topics::KAFKA_DEAD_LETTER;
        tokio::spawn(async move {
            let result = delivery.await;
            metrics
                .kafka_delivery_seconds
                .observe(started.elapsed().as_secs_f64());
            let ok = match result {
                Ok(()) => {
                    if dead_letter {
                        metrics.dead_lettered.inc();
                    }
                    true
                }
                Err(e) => {
                    metrics.kafka_failures.inc();
                    tracing::warn!(device = %device, error = %e, "Kafka delivery failed; the device will resend");
                    false
                }
            };
            let _ = acks.send(AckEvent::Confirmed { device, id, ok });
            drop(permit);
        });
    }
}

struct Coalescing {
    batch: ReadingBatch,
    since: Instant,
}

struct Pending {
    id: u64,
    last_seq: Option<(u64, u64)>,
    /// None while Kafka has not answered.
    confirmed: Option<bool>,
    /// False once an earlier record of this device failed: acking past a gap would lose it.
    ackable: bool,
}

/// Per device, the records in the order they were produced.
#[derive(Default)]
struct AckLedger {
    pending: HashMap<Arc<str>, VecDeque<Pending>>,
    /// `(epoch, seq)` last acknowledged per device.
    acked: HashMap<Arc<str>, (u64, u64)>,
}

impl AckLedger {
    fn record(&mut self, event: AckEvent) -> Option<Arc<str>> {
        match event {
            AckEvent::Sent {
                device,
                id,
                last_seq,
            } => {
                self.pending.entry(device).or_default().push_back(Pending {
                    id,
                    last_seq,
                    confirmed: None,
                    ackable: true,
                });
                None
            }
            AckEvent::Confirmed { device, id, ok } => {
                let queue = self.pending.get_mut(&device)?;
                if let Some(entry) = queue.iter_mut().find(|p| p.id == id) {
                    entry.confirmed = Some(ok);
                }
                Some(device)
            }
        }
    }

    /// Pops the confirmed prefix of `device`'s records; returns the new `acked_through` if it
    /// advanced.
    fn advance(&mut self, device: &Arc<str>) -> Option<(u64, u64)> {
        let queue = self.pending.get_mut(device)?;
        let mut through = None;
        while let Some(front) = queue.front() {
            match front.confirmed {
                None => break,
                Some(true) => {
                    if front.ackable {
                        through = front.last_seq.max(through);
                    }
                    queue.pop_front();
                }
                Some(false) => {
                    queue.pop_front();
                    for later in queue.iter_mut() {
                        later.ackable = false;
                    }
                }
            }
        }
        if queue.is_empty() {
            self.pending.remove(device);
        }
        let through = through?;
        match self.acked.get(device) {
            Some(acked) if *acked >= through => None,
            _ => {
                self.acked.insert(device.clone(), through);
                Some(through)
            }
        }
    }
}

async fn run_acks(
    sessions: Arc<SessionRegistry>,
    mut events: mpsc::UnboundedReceiver<AckEvent>,
    metrics: Arc<BrokerMetrics>,
) {
    let mut ledger = AckLedger::default();
    while let Some(event) = events.recv().await {
        // Drain what is already queued so one ack covers many confirmations.
        let mut touched = Vec::new();
        touched.extend(ledger.record(event));
        while let Ok(event) = events.try_recv() {
            touched.extend(ledger.record(event));
        }
        touched.sort();
        touched.dedup();
        for device in touched {
            if let Some((epoch, acked_through)) = ledger.advance(&device) {
                let ack = ReadingsAck {
                    acked_through,
                    epoch,
                };
                let body = serde_json::to_vec(&ack).expect("acks serialise");
                // A device not connected here gets nothing, as with MQTT QoS 0: it resends.
                if sessions.deliver_ack(&device, body.into()) {
                    metrics.acks_sent.inc();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(l: &mut AckLedger, d: &Arc<str>, id: u64, seq: u64) {
        sent_in(l, d, id, 0, seq)
    }

    fn sent_in(l: &mut AckLedger, d: &Arc<str>, id: u64, epoch: u64, seq: u64) {
        l.record(AckEvent::Sent {
            device: d.clone(),
            id,
            last_seq: Some((epoch, seq)),
        });
    }

    fn confirm(l: &mut AckLedger, d: &Arc<str>, id: u64, ok: bool) -> Option<u64> {
        l.record(AckEvent::Confirmed {
            device: d.clone(),
            id,
            ok,
        });
        l.advance(d).map(|(_, seq)| seq)
    }

    #[test]
    fn a_new_epoch_is_acked_from_its_own_start() {
        let d: Arc<str> = Arc::from("hub1");
        let mut l = AckLedger::default();
        sent_in(&mut l, &d, 1, 5, 1_000);
        assert_eq!(confirm(&mut l, &d, 1, true), Some(1_000));
        // The hub started a new buffer: its seqs restart under a larger epoch.
        sent_in(&mut l, &d, 2, 6, 10);
        l.record(AckEvent::Confirmed {
            device: d.clone(),
            id: 2,
            ok: true,
        });
        assert_eq!(l.advance(&d), Some((6, 10)));
    }

    #[test]
    fn acks_only_a_confirmed_prefix() {
        let d: Arc<str> = Arc::from("hub1");
        let mut l = AckLedger::default();
        sent(&mut l, &d, 1, 10);
        sent(&mut l, &d, 2, 20);
        sent(&mut l, &d, 3, 30);
        assert_eq!(confirm(&mut l, &d, 2, true), None, "1 not confirmed yet");
        assert_eq!(confirm(&mut l, &d, 1, true), Some(20));
        assert_eq!(confirm(&mut l, &d, 3, true), Some(30));
    }

    #[test]
    fn a_failure_blocks_acks_past_it() {
        let d: Arc<str> = Arc::from("hub1");
        let mut l = AckLedger::default();
        sent(&mut l, &d, 1, 10);
        sent(&mut l, &d, 2, 20);
        sent(&mut l, &d, 3, 30);
        assert_eq!(confirm(&mut l, &d, 1, true), Some(10));
        assert_eq!(confirm(&mut l, &d, 3, true), None);
        assert_eq!(
            confirm(&mut l, &d, 2, false),
            None,
            "20 failed, so 30 cannot be acked"
        );
        // The device resends from 11; the new records are ackable again.
        sent(&mut l, &d, 4, 20);
        sent(&mut l, &d, 5, 30);
        assert_eq!(confirm(&mut l, &d, 4, true), Some(20));
        assert_eq!(confirm(&mut l, &d, 5, true), Some(30));
    }

    #[test]
    fn devices_are_independent() {
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let mut l = AckLedger::default();
        sent(&mut l, &a, 1, 5);
        sent(&mut l, &b, 2, 7);
        assert_eq!(confirm(&mut l, &b, 2, true), Some(7));
        assert_eq!(confirm(&mut l, &a, 1, true), Some(5));
    }
}
