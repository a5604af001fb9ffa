//! The live device sessions of this broker instance, by device id: the handle that lets the
//! registry cut a session within a second of a revocation or rotation, and the way the
//! KafkaBridge's end-to-end acks reach a device.
//!
//! Acks go straight to the session, not through rumqttd's router: a router subscription per
//! device made every new topic and every new subscription match against all the others (the
//! connect-storm profile: two thirds of the broker's CPU in `rumqttd::protocol::matches`, the
//! router thread behind by tens of seconds with 10,000 devices). An ack is cumulative
//! (`acked_through`), so each session holds only the latest one (`watch`): nothing queues.
//!
//! One session per device: a new CONNECT of the same device replaces (cuts) the older session,
//! as MQTT requires. A cut says why, and the session closes its socket at once. The new session
//! waits until the one it replaces has left the router before it joins: rumqttd reuses connection
//! ids, so a late goodbye from the old session must never reach the new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::metrics::{BrokerMetrics, Reason};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    Revoked,
    /// New credentials were issued after this session was admitted.
    Rotated,
    /// The same device connected again.
    Replaced,
    Shutdown,
}

impl CutReason {
    pub fn code(self) -> &'static str {
        match self {
            CutReason::Revoked => "revoked",
            CutReason::Rotated => "rotated",
            CutReason::Replaced => "replaced",
            CutReason::Shutdown => "shutdown",
        }
    }
}

struct Live {
    id: u64,
    credentials_issued_at: DateTime<Utc>,
    cut: watch::Sender<Option<CutReason>>,
    /// Cancelled when the session has ended (its ticket dropped).
    ended: CancellationToken,
    /// The latest end-to-end ack for the device (an MQTT payload for its ack topic).
    acks: watch::Sender<Option<Bytes>>,
}

/// What a session holds: its id, the receiver its cut arrives on, and (dropped last) the guard
/// that tells a successor it has ended.
pub struct SessionTicket {
    pub id: u64,
    pub cut: watch::Receiver<Option<CutReason>>,
    /// The session this one replaced; wait for it before joining the router.
    pub replaced: Option<CancellationToken>,
    /// The latest end-to-end ack, for the session to send when the device subscribed to acks.
    pub acks: watch::Receiver<Option<Bytes>>,
    _ended: DropGuard,
}

impl SessionTicket {
    /// Waits (at most `within`) until the replaced session, if any, has ended.
    pub async fn wait_for_predecessor(&mut self, within: std::time::Duration) {
        if let Some(previous) = self.replaced.take() {
            let _ = tokio::time::timeout(within, previous.cancelled()).await;
        }
    }
}

pub struct SessionRegistry {
    live: Mutex<HashMap<String, Live>>,
    next_id: AtomicU64,
    metrics: Arc<BrokerMetrics>,
}

impl SessionRegistry {
    pub fn new(metrics: Arc<BrokerMetrics>) -> Arc<Self> {
        Arc::new(SessionRegistry {
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            metrics,
        })
    }

    fn send_cut(&self, live: &Live, reason: CutReason) {
        if live.cut.send_replace(Some(reason)).is_none() {
            self.metrics
                .sessions_cut
                .get_or_create(&Reason {
                    reason: reason.code(),
                })
                .inc();
        }
    }

    /// Registers a session of `device`, cutting the one it replaces.
    pub fn register(&self, device: &str, credentials_issued_at: DateTime<Utc>) -> SessionTicket {
        let (tx, rx) = watch::channel(None);
        let (acks_tx, acks_rx) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        let old = self.live.lock().expect("sessions poisoned").insert(
            device.to_string(),
            Live {
                id,
                credentials_issued_at,
                cut: tx,
                ended: ended.clone(),
                acks: acks_tx,
            },
        );
        let replaced = old.map(|old| {
            self.send_cut(&old, CutReason::Replaced);
            old.ended
        });
        self.metrics.sessions.set(self.len() as i64);
        SessionTicket {
            id,
            cut: rx,
            replaced,
            acks: acks_rx,
            _ended: ended.drop_guard(),
        }
    }

    /// Forgets session `id` of `device` (a newer session of the device stays).
    pub fn unregister(&self, device: &str, id: u64) {
        let mut live = self.live.lock().expect("sessions poisoned");
        if live.get(device).is_some_and(|l| l.id == id) {
            live.remove(device);
        }
        let n = live.len();
        drop(live);
        self.metrics.sessions.set(n as i64);
    }

    /// Cuts `device`'s session if it was admitted with credentials issued before `issued_at`
    /// (a rotation), or whatever its credentials when `revoked`. Returns whether one was cut.
    /// Replaying an old event is harmless: a session admitted after it is not touched.
    pub fn cut_device(&self, device: &str, revoked: bool, issued_at: DateTime<Utc>) -> bool {
        let live = self.live.lock().expect("sessions poisoned");
        match live.get(device) {
            Some(l) if revoked => {
                self.send_cut(l, CutReason::Revoked);
                true
            }
            Some(l) if l.credentials_issued_at < issued_at => {
                self.send_cut(l, CutReason::Rotated);
                true
            }
            _ => false,
        }
    }

    /// Hands `device`'s session its latest end-to-end ack; `false` if the device has no session
    /// here (it will resend, and be acked, when it is back).
    pub fn deliver_ack(&self, device: &str, payload: Bytes) -> bool {
        match self.live.lock().expect("sessions poisoned").get(device) {
            Some(live) => {
                live.acks.send_replace(Some(payload));
                true
            }
            None => false,
        }
    }

    pub fn cut_all(&self, reason: CutReason) {
        for l in self.live.lock().expect("sessions poisoned").values() {
            self.send_cut(l, reason);
        }
    }

    pub fn len(&self) -> usize {
        self.live.lock().expect("sessions poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
