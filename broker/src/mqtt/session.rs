//! One device's MQTT 3.1.1 session, from its CONNECT to its last packet.
//!
//! The session is where the device edge is enforced, in our code rather than rumqttd's:
//! - **identity**: the CONNECT must name the device its certificate names, with its current
//!   secret and certificate (`device_auth`);
//! - **topics**: a device may publish only to its own readings and status topics and subscribe
//!   only under `/tenants/{its id}/`; anything else ends the session;
//! - **bytes**: a PUBLISH over the payload limit is never buffered (`frame`): it is refused and
//!   dead-lettered as size, hash and first bytes; a device over its rate limit (`rate`) is slowed
//!   down (QoS 1) or refused and dead-lettered (QoS 0);
//! - **revocation**: the registry can cut the session at any moment (`sessions`).
//!
//! Accepted packets go to rumqttd's router over a local link, exactly as a rumqttd remote link
//! would send them: the router keeps QoS 1 semantics (PUBACK after its log has the message) and
//! routes readings to the KafkaBridge. Subscriptions stay here: the only thing a device may
//! subscribe to is its own ack topic, and acks come from the bridge through the session
//! registry (`sessions`), sent as QoS 0 PUBLISHes as the router would have delivered them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use episante_kit::events::EventBus;
use episante_protocol::topics::{self, DeviceTopicKind};
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::protocol::v4::V4;
use rumqttd::protocol::{
    ConnAck, ConnectReturnCode, Disconnect, DisconnectReasonCode, LastWill, Packet, PingResp,
    Protocol, Publish, QoS, SubAck, SubscribeReasonCode, UnsubAck, UnsubAckReason,
};
use rumqttd::Notification;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use super::frame::{self, Frame, FrameReader, SkippedPublish};
use super::front_door::PendingGuard;
use super::rate::RateLimit;
use super::sessions::{CutReason, SessionRegistry};
use super::tls::PeerIdentity;
use crate::dead_letter::{self, PayloadSummary};
use crate::device_auth::{DeviceAuthenticator, Presented, Refusal};
use crate::fleet::FleetHealth;
use crate::metrics::{BrokerMetrics, Reason};

/// Builds a router link for a client id (`clean_session`): rumqttd's `LinkBuilder` over the
/// router's channel, whose type rumqttd does not export.
pub type LinkFactory =
    Arc<dyn Fn(&str, bool) -> Result<(LinkTx, LinkRx, Notification), String> + Send + Sync>;

/// Largest non-PUBLISH packet (CONNECT, SUBSCRIBE, ...): generous for 3.1.1, small for memory.
const MAX_CONTROL_PACKET: usize = 16 * 1024;
/// A PUBLISH's topic and packet id around its payload, at most (device topics are short).
const PUBLISH_OVERHEAD: usize = 2 + 1024 + 2;
/// A device that does not read what it is sent for this long is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub connect_timeout: Duration,
    pub max_payload: usize,
    pub msgs_per_sec: u32,
    pub bytes_per_sec: u64,
    pub max_sessions: usize,
}

pub struct SessionContext {
    pub auth: Arc<DeviceAuthenticator>,
    pub sessions: Arc<SessionRegistry>,
    pub fleet: Arc<FleetHealth>,
    pub links: LinkFactory,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<BrokerMetrics>,
    pub limits: SessionLimits,
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// The device sent DISCONNECT: no last will.
    Graceful,
    Cut(CutReason),
    Closed,
    KeepAliveExpired,
    Violation(String),
    /// The router dropped the link (or told it to go): it must not hear from this session again.
    RouterGone,
}

type Io<S> = (ReadHalf<S>, WriteHalf<S>);

async fn write_packet<S: AsyncWrite>(wr: &mut WriteHalf<S>, packet: Packet) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    V4.write(packet, &mut out)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
    write_bytes(wr, &out).await
}

async fn write_bytes<S: AsyncWrite>(wr: &mut WriteHalf<S>, bytes: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, async {
        wr.write_all(bytes).await?;
        wr.flush().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "device stopped reading"))?
}

async fn connack<S: AsyncWrite>(wr: &mut WriteHalf<S>, code: ConnectReturnCode) {
    let ack = ConnAck {
        session_present: false,
        code,
    };
    let _ = write_packet(wr, Packet::ConnAck(ack, None)).await;
    let _ = wr.shutdown().await;
}

/// Reads until one whole frame is buffered.
async fn read_frame<S: AsyncRead>(
    rd: &mut ReadHalf<S>,
    frames: &mut FrameReader,
) -> Result<Frame, String> {
    loop {
        match frames.next_frame() {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        match rd.read_buf(frames.buffer()).await {
            Ok(0) => return Err("closed".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Runs one device connection after its TLS handshake, until it ends.
pub async fn run<S>(stream: S, peer: PeerIdentity, pending: PendingGuard, ctx: Arc<SessionContext>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let limits = ctx.limits;
    let mut frames = FrameReader::new(limits.max_payload + PUBLISH_OVERHEAD, MAX_CONTROL_PACKET);
    let refuse = |reason: &'static str| ctx.metrics.refuse(reason);

    // CONNECT, within the connect timeout.
    let first =
        tokio::time::timeout(limits.connect_timeout, read_frame(&mut rd, &mut frames)).await;
    let Ok(Ok(Frame::Packet(mut bytes))) = first else {
        return refuse("connect_timeout");
    };
    let Ok(Packet::Connect(connect, _, will, _, login)) =
        V4.read_mut(&mut bytes, MAX_CONTROL_PACKET)
    else {
        return refuse("not_connect");
    };
    let Some(login) = login else {
        refuse("no_login");
        return connack(&mut wr, ConnectReturnCode::BadUserNamePassword).await;
    };
    if connect.keep_alive == 0 {
        refuse("zero_keep_alive");
        return connack(&mut wr, ConnectReturnCode::ProtocolError).await;
    }
    let presented = Presented {
        cert_device_id: &peer.device_id,
        cert_serial: &peer.serial_hex,
        client_id: &connect.client_id,
        username: &login.username,
        password: &login.password,
    };
    let admitted = match ctx.auth.authenticate(&presented).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let code = match refusal {
                Refusal::RegistryUnavailable => ConnectReturnCode::ServiceUnavailable,
                Refusal::StaleCertificate => ConnectReturnCode::NotAuthorized,
                _ => ConnectReturnCode::BadUserNamePassword,
            };
            return connack(&mut wr, code).await;
        }
    };
    let device = connect.client_id.clone();
    let status_topic = topics::device_status(&device);
    if will
        .as_ref()
        .is_some_and(|w| w.topic != status_topic.as_bytes())
    {
        refuse("will_topic");
        return connack(&mut wr, ConnectReturnCode::NotAuthorized).await;
    }
    if ctx.sessions.len() >= limits.max_sessions {
        refuse("max_sessions");
        return connack(&mut wr, ConnectReturnCode::ServerUnavailable).await;
    }

    let mut ticket = ctx
        .sessions
        .register(&device, admitted.credentials_issued_at);
    ticket.wait_for_predecessor(Duration::from_secs(5)).await;
    ctx.fleet.seed(&device, admitted.position);
    let links = ctx.links.clone();
    let (id, clean) = (device.clone(), connect.clean_session);
    // `LinkBuilder::build` waits (blocking) for the router's answer.
    let link = tokio::task::spawn_blocking(move || links(&id, clean)).await;
    let Ok(Ok((link_tx, link_rx, notification))) = link else {
        ctx.sessions.unregister(&device, ticket.id);
        refuse("router");
        return connack(&mut wr, ConnectReturnCode::ServerUnavailable).await;
    };
    if let Some(ack) = Option::<Packet>::from(notification) {
        if write_packet(&mut wr, ack).await.is_err() {
            ctx.sessions.unregister(&device, ticket.id);
            return;
        }
    }
    drop(pending);
    let started_at = Utc::now();
    ctx.fleet.session(&device, true, started_at);
    tracing::debug!(device, "device session started");

    let mut session = Session {
        device: device.clone(),
        ctx: ctx.clone(),
        link_tx,
        rate: RateLimit::new(limits.msgs_per_sec, limits.bytes_per_sec),
        last_letter: None,
        suppressed: 0,
        ack_topic: Bytes::from(topics::device_ack(&device)),
        acks_wanted: false,
    };
    let keep_alive = Duration::from_millis(connect.keep_alive as u64 * 1_500);
    let end = session
        .pump(
            (rd, wr),
            frames,
            link_rx,
            (ticket.cut, ticket.acks),
            keep_alive,
        )
        .await;
    session.finish(&end, will).await;
    ctx.sessions.unregister(&device, ticket.id);
    ctx.fleet.session(&device, false, started_at);
    match &end {
        End::Violation(why) => {
            ctx.metrics
                .sessions_cut
                .get_or_create(&Reason {
                    reason: "violation",
                })
                .inc();
            tracing::warn!(
                device,
                why,
                "device session ended: protocol or authorisation violation"
            );
        }
        End::Cut(reason) => tracing::info!(device, reason = reason.code(), "device session cut"),
        // A device coming and going is routine: per-connection lines stay out of the default log.
        other => tracing::debug!(device, end = ?other, "device session ended"),
    }
}

struct Session {
    device: String,
    ctx: Arc<SessionContext>,
    link_tx: LinkTx,
    rate: RateLimit,
    last_letter: Option<Instant>,
    suppressed: u64,
    /// The device's ack topic (acks are written to it here, never routed).
    ack_topic: Bytes,
    /// Whether the device subscribed to its ack topic.
    acks_wanted: bool,
}

type Signals = (
    tokio::sync::watch::Receiver<Option<CutReason>>,
    tokio::sync::watch::Receiver<Option<Bytes>>,
);

impl Session {
    /// Whether `filter` takes in the device's ack topic.
    fn is_ack_filter(&self, filter: &str) -> bool {
        std::str::from_utf8(&self.ack_topic)
            .is_ok_and(|topic| rumqttd::protocol::matches(topic, filter))
    }

    async fn pump<S: AsyncRead + AsyncWrite>(
        &mut self,
        (mut rd, mut wr): Io<S>,
        mut frames: FrameReader,
        mut link_rx: LinkRx,
        (mut cut, mut acks): Signals,
        keep_alive: Duration,
    ) -> End {
        let mut deadline = tokio::time::Instant::now() + keep_alive;
        let mut acks_open = true;
        loop {
            tokio::select! {
                changed = acks.changed(), if acks_open && self.acks_wanted => {
                    if changed.is_err() {
                        // The registry let this session go (it is being replaced or cut).
                        acks_open = false;
                        continue;
                    }
                    let payload = acks.borrow_and_update().clone();
                    if let Some(payload) = payload {
                        let ack = Publish::new(self.ack_topic.clone(), payload, false);
                        if write_packet(&mut wr, Packet::Publish(ack, None)).await.is_err() {
                            return End::Closed;
                        }
                    }
                }
                _ = cut.changed() => {
                    let reason = (*cut.borrow()).unwrap_or(CutReason::Shutdown);
                    let _ = wr.shutdown().await;
                    return End::Cut(reason);
                }
                read = rd.read_buf(frames.buffer()) => {
                    match read {
                        Ok(0) | Err(_) => return End::Closed,
                        Ok(_) => deadline = tokio::time::Instant::now() + keep_alive,
                    }
                    loop {
                        match frames.next_frame() {
                            Ok(Some(frame)) => {
                                if let Some(end) = self.incoming(frame, &mut wr).await {
                                    return end;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => return End::Violation(e.to_string()),
                        }
                    }
                }
                notification = link_rx.next() => {
                    match notification {
                        Ok(Some(Notification::Unschedule)) => {
                            if link_rx.wake().await.is_err() {
                                return End::RouterGone;
                            }
                        }
                        Ok(Some(Notification::Disconnect(..))) => return End::RouterGone,
                        Ok(Some(n)) => {
                            if let Some(packet) = Option::<Packet>::from(n) {
                                if write_packet(&mut wr, packet).await.is_err() {
                                    return End::Closed;
                                }
                            }
                        }
                        Ok(None) => {}
                        Err(_) => return End::RouterGone,
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return End::KeepAliveExpired,
            }
        }
    }

    /// Handles one frame from the device; `Some` ends the session.
    async fn incoming<S: AsyncWrite>(
        &mut self,
        frame: Frame,
        wr: &mut WriteHalf<S>,
    ) -> Option<End> {
        let mut bytes = match frame {
            Frame::Skipped(skipped) => return self.oversized(skipped, wr).await,
            Frame::Packet(bytes) => bytes,
        };
        if bytes[0] >> 4 == frame::PUBLISH {
            let Some((qos, topic, _)) = frame::publish_header(&bytes) else {
                return Some(End::Violation("malformed PUBLISH".into()));
            };
            match topics::parse_device_topic(topic) {
                Some((id, DeviceTopicKind::Readings | DeviceTopicKind::Status))
                    if id == self.device => {}
                _ => {
                    return Some(End::Violation(format!(
                        "PUBLISH to {topic:?} is not allowed"
                    )))
                }
            }
            if !self.rate.allow(bytes.len(), Instant::now()) {
                self.ctx.metrics.rate_limited.inc();
                if qos == 0 {
                    // At most once, by the sender's choice: refused.
                    let topic = topic.to_string();
                    let summary = PayloadSummary::head(&bytes);
                    self.dead_letter(
                        &topic,
                        "rate_limited",
                        "device rate limit exceeded",
                        summary,
                    );
                    return None;
                }
                // QoS 1: lossless back-pressure — nothing more is read from this device until
                // its budget allows this publish.
                loop {
                    let wait = self.rate.wait_time(bytes.len(), Instant::now());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                    if self.rate.allow(bytes.len(), Instant::now()) {
                        break;
                    }
                }
            }
        }
        let packet = match V4.read_mut(&mut bytes, usize::MAX) {
            Ok(packet) => packet,
            Err(e) => return Some(End::Violation(format!("{e:?}"))),
        };
        let forward = match packet {
            Packet::Publish(..) => packet,
            Packet::PingReq(_) => {
                return write_packet(wr, Packet::PingResp(PingResp))
                    .await
                    .err()
                    .map(|_| End::Closed);
            }
            Packet::Subscribe(ref subscribe, _) => {
                let prefix = format!("/tenants/{}/", self.device);
                if let Some(f) = subscribe
                    .filters
                    .iter()
                    .find(|f| !f.path.starts_with(&prefix))
                {
                    return Some(End::Violation(format!(
                        "SUBSCRIBE to {:?} is not allowed",
                        f.path
                    )));
                }
                // Answered here: nothing under the device's prefix comes from the router.
                if subscribe
                    .filters
                    .iter()
                    .any(|f| self.is_ack_filter(&f.path))
                {
                    self.acks_wanted = true;
                }
                let granted = subscribe
                    .filters
                    .iter()
                    .map(|f| {
                        SubscribeReasonCode::Success(match f.qos {
                            QoS::AtMostOnce => QoS::AtMostOnce,
                            _ => QoS::AtLeastOnce,
                        })
                    })
                    .collect();
                let suback = SubAck {
                    pkid: subscribe.pkid,
                    return_codes: granted,
                };
                return write_packet(wr, Packet::SubAck(suback, None))
                    .await
                    .err()
                    .map(|_| End::Closed);
            }
            Packet::Unsubscribe(ref unsubscribe, _) => {
                if unsubscribe.filters.iter().any(|f| self.is_ack_filter(f)) {
                    self.acks_wanted = false;
                }
                let unsuback = UnsubAck {
                    pkid: unsubscribe.pkid,
                    reasons: vec![UnsubAckReason::Success; unsubscribe.filters.len()],
                };
                return write_packet(wr, Packet::UnsubAck(unsuback, None))
                    .await
                    .err()
                    .map(|_| End::Closed);
            }
            Packet::PubAck(..) | Packet::PubRec(..) | Packet::PubRel(..) | Packet::PubComp(..) => {
                packet
            }
            Packet::Disconnect(..) => return Some(End::Graceful),
            other => return Some(End::Violation(format!("unexpected {other:?}"))),
        };
        let is_publish = matches!(forward, Packet::Publish(..));
        match self.link_tx.send(forward).await {
            Ok(_) => {
                if is_publish {
                    self.ctx.metrics.publishes_forwarded.inc();
                }
                None
            }
            Err(_) => Some(End::RouterGone),
        }
    }

    async fn puback<S: AsyncWrite>(
        &mut self,
        pkid: Option<u16>,
        wr: &mut WriteHalf<S>,
    ) -> Option<End> {
        let pkid = pkid?;
        write_bytes(wr, &frame::puback(pkid))
            .await
            .err()
            .map(|_| End::Closed)
    }

    async fn oversized<S: AsyncWrite>(
        &mut self,
        s: SkippedPublish,
        wr: &mut WriteHalf<S>,
    ) -> Option<End> {
        let topic = s.topic.clone().unwrap_or_default();
        match topics::parse_device_topic(&topic) {
            Some((id, _)) if id == self.device => {}
            _ => {
                return Some(End::Violation(format!(
                    "PUBLISH to {topic:?} is not allowed"
                )))
            }
        }
        // Oversized bytes count against the device's budget too.
        let _ = self.rate.allow(s.payload_bytes as usize, Instant::now());
        let reason = format!(
            "payload of {} bytes exceeds {}",
            s.payload_bytes, self.ctx.limits.max_payload
        );
        let summary = PayloadSummary {
            bytes: s.payload_bytes,
            sha256_hex: s.payload_sha256_hex,
            truncated: s.payload_head.len() as u64 != s.payload_bytes,
            kept: s.payload_head,
        };
        self.dead_letter(&topic, "oversized", &reason, summary);
        self.puback(s.pkid, wr).await
    }

    /// Dead-letters a refused publish; at most one letter a second per session, the next one
    /// saying how many were refused in between.
    fn dead_letter(
        &mut self,
        topic: &str,
        code: &'static str,
        reason: &str,
        summary: PayloadSummary,
    ) {
        self.ctx
            .metrics
            .validation_failures
            .get_or_create(&Reason { reason: code })
            .inc();
        let now = Instant::now();
        if self
            .last_letter
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        self.last_letter = Some(now);
        let reason = match std::mem::take(&mut self.suppressed) {
            0 => reason.to_string(),
            n => format!("{reason} ({n} more refused since the previous dead letter)"),
        };
        let letter = dead_letter::letter(&self.device, topic, code, reason, summary);
        let body = serde_json::to_vec(&letter).expect("dead letters serialise");
        let delivery = self
            .ctx
            .bus
            .publish(topics::KAFKA_DEAD_LETTER, &self.device, body);
        let metrics = self.ctx.metrics.clone();
        tokio::spawn(async move {
            match delivery.await {
                Ok(()) => {
                    metrics.dead_lettered.inc();
                }
                Err(e) => tracing::warn!(error = %e, "cannot write a dead letter"),
            }
        });
    }

    /// Tells the router the connection is gone, publishing the last will first unless the
    /// device said goodbye.
    async fn finish(&mut self, end: &End, will: Option<LastWill>) {
        if matches!(end, End::RouterGone) {
            // The router has forgotten this connection; its id may already be someone else's.
            return;
        }
        // A replaced session's device is back already: its will would say the opposite.
        if !matches!(end, End::Graceful | End::Cut(CutReason::Replaced)) {
            if let Some(will) = will {
                let _ = self.link_tx.publish(will.topic, will.message);
            }
        }
        let disconnect = Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
        };
        let _ = self
            .link_tx
            .send(Packet::Disconnect(disconnect, None))
            .await;
    }
}
