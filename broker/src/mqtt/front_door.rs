//! The MQTT front door: accepts device connections concurrently, each TLS handshake in its own
//! task with a deadline, and bounds what a flood can hold.
//!
//! rumqttd 0.20's `Server` ran handshakes one at a time inline in its accept loop with no
//! timeout, so one silent socket stalled every device behind it. Here the accept loop only
//! accepts: a connection is admitted into "pending" (handshake until CONNACK) if fewer than
//! `max_pending_handshakes` are pending overall and fewer than `max_pending_handshakes_per_ip`
//! from its address, else closed at once and counted. Pending connections hold no more than a
//! socket and a read buffer, and each is closed when its deadline passes.
//!
//! Handshakes are computed `max_concurrent_handshakes` at a time, in arrival order. In a
//! reconnect storm (10,000 devices after a broker restart) starting every handshake at once made
//! them all progress together and finish late: thousands passed their deadline half done, the
//! work was thrown away and the devices came back to start again. A connection takes its turn
//! only once its ClientHello has arrived, so a silent socket never holds a turn; its deadline
//! (`handshake_timeout`) runs from the turn, and the wait for a turn is bounded too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use episante_kit::Shutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::session::{self, SessionContext};
use super::tls::{self, TlsTerminator};
use crate::metrics::BrokerMetrics;

/// Longest wait for a handshake turn (a storm's last devices wait about its length divided by
/// the handshake rate).
const TURN_WAIT_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct FrontDoorLimits {
    pub handshake_timeout: Duration,
    pub max_concurrent_handshakes: usize,
    pub max_pending: usize,
    pub max_pending_per_ip: usize,
}

/// Counts pending connections, overall and per source address.
pub struct PendingGate {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    limits: FrontDoorLimits,
    metrics: Arc<BrokerMetrics>,
}

/// A pending connection's place; freed on drop (CONNACK sent, or the connection gone).
pub struct PendingGuard {
    gate: Arc<PendingGate>,
    ip: IpAddr,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut per_ip = self.gate.per_ip.lock().expect("gate poisoned");
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.gate.metrics.pending_handshakes.dec();
    }
}

impl PendingGate {
    pub fn new(limits: FrontDoorLimits, metrics: Arc<BrokerMetrics>) -> Arc<Self> {
        Arc::new(PendingGate {
            per_ip: Mutex::new(HashMap::new()),
            limits,
            metrics,
        })
    }

    /// A place for a connection from `ip`, or the reason there is none.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Result<PendingGuard, &'static str> {
        let mut per_ip = self.per_ip.lock().expect("gate poisoned");
        let total: usize = per_ip.values().sum();
        if total >= self.limits.max_pending {
            return Err("pending_limit");
        }
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.limits.max_pending_per_ip {
            return Err("source_limit");
        }
        *n += 1;
        self.metrics.pending_handshakes.inc();
        Ok(PendingGuard {
            gate: self.clone(),
            ip,
        })
    }
}

/// Accepts until `shutdown`; every connection task is tracked by `tasks`.
pub async fn run(
    listener: TcpListener,
    tls: Arc<TlsTerminator>,
    gate: Arc<PendingGate>,
    ctx: Arc<SessionContext>,
    tasks: TaskTracker,
    shutdown: Shutdown,
) {
    let handshake_timeout = gate.limits.handshake_timeout;
    let turns = Arc::new(Semaphore::new(gate.limits.max_concurrent_handshakes));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let pending = match gate.enter(peer.ip()) {
            Ok(p) => p,
            Err(reason) => {
                ctx.metrics.refuse(reason);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = tls.acceptor();
        let ctx = ctx.clone();
        let turns = turns.clone();
        tasks.spawn(async move {
            let timed_out = |ctx: &SessionContext| ctx.metrics.refuse("handshake_timeout");
            // A silent socket waits here, holding no turn, until its deadline.
            if !matches!(
                tokio::time::timeout(handshake_timeout, stream.readable()).await,
                Ok(Ok(()))
            ) {
                return timed_out(&ctx);
            }
            let Ok(Ok(turn)) = tokio::time::timeout(TURN_WAIT_LIMIT, turns.acquire_owned()).await
            else {
                return timed_out(&ctx);
            };
            let stream =
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return ctx.metrics.refuse("handshake_failed");
                    }
                    Err(_) => return timed_out(&ctx),
                };
            drop(turn);
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| tls::peer_identity(cert));
            let Some(identity) = identity else {
                return ctx.metrics.refuse("no_device_certificate");
            };
            session::run(stream, identity, pending, ctx).await;
        });
    }
}
