//! The agent's core: one task owns the `ReadingBuffer` and the MQTT session.
//!
//! Input readings are appended (durably, per the fsync policy) before anything else happens to
//! them. While connected, unsent readings go out as QoS 1 batches — when a batch is full or its
//! oldest reading is old enough — with at most `max_unacked_readings` in flight. Readings leave
//! the buffer only on an acknowledgement: the broker's end-to-end `acked_through` (default) or,
//! against a plain broker, the PUBACK. On reconnect, and when acks stall, everything after the
//! last ack is sent again; duplicates are harmless (consumers dedup by seq), losses are not.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use episante_protocol::{Reading, ReadingBatch, ReadingsAck, READING_BATCH_VERSION};
use episante_runtime::Shutdown;
use rand::Rng;
use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;

use crate::buffer::{BufferError, BufferOptions, ReadingBuffer};
use crate::config::{AckMode, EdgeConfig};
use crate::input::{now_ms, InputCounters};
use crate::status::AgentStatus;

enum SessionEvent {
    Connected,
    PubAckPublish(u16),
    PubAck(u16),
    Ack(u64),
    Lost(String),
}

struct Session {
    client: AsyncClient,
    generation: u64,
    connected: bool,
    /// Highest seq published in this session.
    sent_through: u64,
    /// Last seq of each publish not yet given a packet id (PUBACK mode), in publish order.
    awaiting_pkid: VecDeque<u64>,
    pkid_seq: HashMap<u16, u64>,
    last_progress: Instant,
}

pub struct Agent {
    config: EdgeConfig,
    buffer: ReadingBuffer,
    counters: Arc<InputCounters>,
    session: Option<Session>,
    generation: u64,
    reconnect_attempt: u32,
    reconnect_at: Instant,
    last_ack_at_ms: Option<i64>,
    tls: Option<TlsConfiguration>,
}

fn tls_config(config: &EdgeConfig) -> anyhow::Result<Option<TlsConfiguration>> {
    let Some(ca) = &config.ca_path else {
        return Ok(None);
    };
    let read =
        |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let client_auth = match (&config.cert_path, &config.key_path) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        (None, None) => None,
        _ => anyhow::bail!("edge.cert_path and edge.key_path go together"),
    };
    Ok(Some(TlsConfiguration::Simple {
        ca: read(ca)?,
        alpn: None,
        client_auth,
    }))
}

impl Agent {
    pub fn open(config: EdgeConfig, counters: Arc<InputCounters>) -> anyhow::Result<Self> {
        if !episante_protocol::is_valid_device_id(&config.device_id) {
            anyhow::bail!(
                "edge.device_id {:?} must be 1 to 64 ASCII letters or digits",
                config.device_id
            );
        }
        let (buffer, recovery) = ReadingBuffer::open(
            &config.buffer_dir,
            BufferOptions {
                fsync: config.fsync,
                fsync_interval: Duration::from_millis(config.fsync_interval_ms),
                max_readings: config.max_buffered_readings,
                full_policy: config.full_policy,
            },
        )?;
        tracing::info!(
            buffered = recovery.readings,
            torn_bytes_cut = recovery.torn_bytes_cut,
            epoch = buffer.epoch(),
            "buffer opened"
        );
        let tls = tls_config(&config)?;
        Ok(Agent {
            config,
            buffer,
            counters,
            session: None,
            generation: 0,
            reconnect_attempt: 0,
            reconnect_at: Instant::now(),
            last_ack_at_ms: None,
            tls,
        })
    }

    fn topic(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.config.topic_prefix())
    }

    fn status(&self) -> AgentStatus {
        let connection = match &self.session {
            Some(s) if s.connected => "connected",
            Some(_) => "connecting",
            None => "disconnected",
        };
        AgentStatus {
            device_id: self.config.device_id.clone(),
            online: true,
            connection: connection.into(),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            epoch: self.buffer.epoch(),
            buffered: self.buffer.depth(),
            acked_through: self.buffer.acked_through(),
            next_seq: self.buffer.next_seq(),
            oldest_unsent_age_ms: self.buffer.oldest_unsent_ts().map(|ts| now_ms() - ts),
            last_ack_at_ms: self.last_ack_at_ms,
            dropped_full: self.buffer.dropped(),
            input_rejected: self.counters.rejected.load(Ordering::Relaxed),
            buffer_disk_bytes: self.buffer.disk_bytes(),
            updated_at_ms: now_ms(),
        }
    }

    fn connect(&mut self, events: &mpsc::UnboundedSender<(u64, SessionEvent)>) {
        self.generation += 1;
        let generation = self.generation;
        let c = &self.config;
        let mut options = MqttOptions::new(&c.device_id, &c.broker_host, c.broker_port);
        if !c.secret.is_empty() {
            options.set_credentials(&c.device_id, &c.secret);
        }
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(true);
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        options.set_last_will(LastWill::new(
            self.topic("status"),
            serde_json::json!({"online": false}).to_string(),
            QoS::AtLeastOnce,
            false,
        ));
        if let Some(tls) = &self.tls {
            options.set_transport(Transport::tls_with_config(tls.clone()));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        let events = events.clone();
        let epoch = self.buffer.epoch();
        tokio::spawn(async move {
            loop {
                let event = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => SessionEvent::Connected,
                    Ok(Event::Incoming(Packet::PubAck(ack))) => SessionEvent::PubAck(ack.pkid),
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        SessionEvent::PubAckPublish(pkid)
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        match ack_of_stream(&p.payload, epoch) {
                            Some(through) => SessionEvent::Ack(through),
                            None => continue,
                        }
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = events.send((generation, SessionEvent::Lost(e.to_string())));
                        return;
                    }
                };
                if events.send((generation, event)).is_err() {
                    return;
                }
            }
        });
        self.session = Some(Session {
            client,
            generation,
            connected: false,
            sent_through: self.buffer.acked_through(),
            awaiting_pkid: VecDeque::new(),
            pkid_seq: HashMap::new(),
            last_progress: Instant::now(),
        });
    }

    fn schedule_reconnect(&mut self, why: &str) {
        self.session = None;
        let c = &self.config;
        let base = c
            .reconnect_min_ms
            .saturating_mul(1 << self.reconnect_attempt.min(16));
        let capped = base.min(c.reconnect_max_ms);
        let jittered = rand::thread_rng().gen_range(capped / 2..=capped.max(1));
        self.reconnect_attempt += 1;
        self.reconnect_at = Instant::now() + Duration::from_millis(jittered);
        tracing::warn!(why, retry_in_ms = jittered, "MQTT connection lost");
    }

    fn on_ack(&mut self, through: u64) -> anyhow::Result<()> {
        if through > self.buffer.acked_through() {
            self.buffer.ack(through)?;
            self.last_ack_at_ms = Some(now_ms());
            if let Some(s) = self.session.as_mut() {
                s.last_progress = Instant::now();
            }
        }
        Ok(())
    }

    async fn on_event(&mut self, event: SessionEvent) -> anyhow::Result<()> {
        match event {
            SessionEvent::Connected => {
                self.reconnect_attempt = 0;
                let ack_topic = self.topic("ack");
                let status_topic = self.topic("status");
                let e2e = self.config.ack_mode == AckMode::EndToEnd;
                if let Some(s) = self.session.as_mut() {
                    s.connected = true;
                    s.last_progress = Instant::now();
                    let online = serde_json::json!({"online": true}).to_string();
                    let subscribed = if e2e {
                        s.client.subscribe(ack_topic, QoS::AtLeastOnce).await
                    } else {
                        Ok(())
                    };
                    let announced = match subscribed {
                        Ok(()) => {
                            s.client
                                .publish(status_topic, QoS::AtLeastOnce, false, online)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = announced {
                        self.schedule_reconnect(&format!("session setup failed: {e}"));
                        return Ok(());
                    }
                }
                tracing::info!(host = %self.config.broker_host, port = self.config.broker_port, "connected");
            }
            SessionEvent::Ack(through) => {
                if self.config.ack_mode == AckMode::EndToEnd {
                    self.on_ack(through)?;
                }
            }
            SessionEvent::PubAckPublish(pkid) => {
                if let Some(s) = self.session.as_mut() {
                    if let Some(seq) = s.awaiting_pkid.pop_front() {
                        s.pkid_seq.insert(pkid, seq);
                    }
                }
            }
            SessionEvent::PubAck(pkid) => {
                if self.config.ack_mode == AckMode::Puback {
                    let seq = self.session.as_mut().and_then(|s| s.pkid_seq.remove(&pkid));
                    if let Some(seq) = seq {
                        self.on_ack(seq)?;
                    }
                }
            }
            SessionEvent::Lost(why) => self.schedule_reconnect(&why),
        }
        Ok(())
    }

    /// Publishes what is due: full batches, or a partial one whose oldest reading waited long
    /// enough; within the unacked window.
    async fn publish_due(&mut self) -> anyhow::Result<()> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        if !session.connected {
            return Ok(());
        }
        let acked = self.buffer.acked_through();
        if session.sent_through < acked {
            session.sent_through = acked;
        }
        // Stalled acks: send everything after the last ack again.
        if session.sent_through > acked
            && session.last_progress.elapsed() > Duration::from_millis(self.config.ack_timeout_ms)
        {
            tracing::warn!(from = acked + 1, "no acknowledgement in time; resending");
            session.sent_through = acked;
            session.last_progress = Instant::now();
        }
        let topic = format!("{}/readings", self.config.topic_prefix());
        loop {
            let last = self.buffer.durable_through();
            let unsent = last.saturating_sub(session.sent_through);
            let window = self
                .config
                .max_unacked_readings
                .saturating_sub(session.sent_through - acked);
            if unsent == 0 || window == 0 {
                return Ok(());
            }
            let take = (unsent.min(window) as usize).min(self.config.batch_max_readings);
            let readings = self.buffer.read_from(session.sent_through + 1, take)?;
            let Some(first) = readings.first() else {
                return Ok(());
            };
            let full = readings.len() >= self.config.batch_max_readings;
            let old_enough = now_ms() - first.ts_ms >= self.config.batch_max_age_ms as i64;
            if !(full || old_enough || readings.len() as u64 == window) {
                return Ok(());
            }
            let last_seq = readings.last().map(|r| r.seq).unwrap_or(first.seq);
            let batch = ReadingBatch {
                v: READING_BATCH_VERSION,
                device_id: self.config.device_id.clone(),
                epoch: self.buffer.epoch(),
                received_at_ms: None,
                readings,
            };
            let sent = session
                .client
                .publish(&topic, QoS::AtLeastOnce, false, serde_json::to_vec(&batch)?)
                .await;
            if let Err(e) = sent {
                // The connection went away under us: the readings stay buffered, and the
                // session is rebuilt (this is not an agent failure).
                self.schedule_reconnect(&format!("publish failed: {e}"));
                return Ok(());
            }
            session.sent_through = last_seq;
            session.awaiting_pkid.push_back(last_seq);
        }
    }

    async fn heartbeat(&mut self) {
        let status = serde_json::to_string(&self.status()).unwrap_or_default();
        let topic = self.topic("status");
        if let Some(s) = self.session.as_ref().filter(|s| s.connected) {
            let _ = s.client.try_publish(topic, QoS::AtMostOnce, false, status);
        }
    }

    /// Runs until `shutdown`; input arrives on `input`.
    pub async fn run(
        mut self,
        mut input: mpsc::Receiver<Reading>,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let (events_tx, mut events) = mpsc::unbounded_channel::<(u64, SessionEvent)>();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut status_tick = tokio::time::interval(Duration::from_secs(1));
        let mut heartbeat =
            tokio::time::interval(Duration::from_secs(self.config.heartbeat_secs.max(1)));
        let status_path = self.config.status_path();
        let mut input_open = true;
        loop {
            tokio::select! {
                reading = input.recv(), if input_open => {
                    let Some(first) = reading else {
                        input_open = false;
                        continue;
                    };
                    let mut batch = vec![first];
                    while batch.len() < 10_000 {
                        match input.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    match self.buffer.append(&mut batch) {
                        Ok(()) => {}
                        Err(BufferError::Full(n)) => {
                            self.counters.rejected.fetch_add(batch.len() as u64, Ordering::Relaxed);
                            tracing::warn!(capacity = n, "buffer full: input refused");
                        }
                        Err(BufferError::Io(e)) => return Err(e),
                    }
                    self.publish_due().await?;
                }
                Some((generation, event)) = events.recv() => {
                    if self.session.as_ref().is_some_and(|s| s.generation == generation) {
                        self.on_event(event).await?;
                        self.publish_due().await?;
                    }
                }
                _ = tick.tick() => {
                    if self.session.is_none() && Instant::now() >= self.reconnect_at {
                        self.connect(&events_tx);
                    }
                    self.buffer.maybe_fsync(false)?;
                    self.publish_due().await?;
                }
                _ = status_tick.tick() => {
                    if let Err(e) = self.status().write(&status_path) {
                        tracing::warn!(error = %e, "cannot write the status file");
                    }
                }
                _ = heartbeat.tick() => self.heartbeat().await,
                _ = shutdown.wait() => break,
            }
        }
        self.buffer.maybe_fsync(true)?;
        if let Some(s) = self.session.take().filter(|s| s.connected) {
            let _ = s
                .client
                .publish(
                    self.topic("status"),
                    QoS::AtLeastOnce,
                    false,
                    serde_json::json!({"online": false}).to_string(),
                )
                .await;
            let _ = s.client.disconnect().await;
        }
        let mut status = self.status();
        status.online = false;
        status.connection = "disconnected".into();
        let _ = status.write(&status_path);
        Ok(())
    }
}

/// `acked_through` of an end-to-end ack, if it is one and of this buffer's stream epoch: a late ack
/// of an older stream (before the buffer was lost and started over) must never delete readings of
/// the new one.
fn ack_of_stream(payload: &[u8], epoch: u64) -> Option<u64> {
    serde_json::from_slice::<ReadingsAck>(payload)
        .ok()
        .filter(|ack| ack.epoch == epoch)
        .map(|ack| ack.acked_through)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_of_another_stream_epoch_are_ignored() {
        assert_eq!(
            ack_of_stream(br#"{"acked_through":9,"epoch":7}"#, 7),
            Some(9)
        );
        assert_eq!(ack_of_stream(br#"{"acked_through":9,"epoch":6}"#, 7), None);
        assert_eq!(
            ack_of_stream(br#"{"acked_through":9}"#, 0),
            Some(9),
            "legacy"
        );
        assert_eq!(ack_of_stream(br#"{"acked_through":9}"#, 7), None);
        assert_eq!(ack_of_stream(b"not json", 0), None);
    }
}
