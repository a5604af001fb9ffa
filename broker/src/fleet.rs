//! Fleet health: what the registry knows about each device's connection and stream.
//!
//! Sessions (connect, disconnect), the bridge (readings accepted, status heartbeats) and the
//! admission rule (stream positions) report here, in memory; one task writes the changes to
//! `device_health` in a single statement every second. A reconnect storm of 10,000 devices is
//! then ten statements, not 10,000, and nothing on the device path waits for the database.
//!
//! The stream positions held here are the ones the broker admits batches against (protocol
//! `stream` rule): seeded from the database when a device connects (another broker instance may
//! have moved it on), advanced by every admitted batch, persisted with the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use episante_kit::Shutdown;
use episante_protocol::{StreamPosition, StreamRefusal};
use sqlx::PgPool;

use crate::db::health::{self, HealthChange};

#[derive(Default)]
struct State {
    positions: HashMap<String, StreamPosition>,
    changes: HashMap<String, HealthChange>,
}

pub struct FleetHealth {
    state: Mutex<State>,
    /// This broker instance, as `device_health.instance_id` and `broker_instances` know it.
    instance_id: String,
}

impl FleetHealth {
    pub fn new() -> Arc<Self> {
        Arc::new(FleetHealth {
            state: Mutex::new(State::default()),
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    fn change(&self, device: &str, f: impl FnOnce(&mut HealthChange)) {
        let mut state = self.state.lock().expect("fleet health poisoned");
        f(state.changes.entry(device.to_string()).or_default());
    }

    /// A session of `device`, started at `session_at`, is now `online` (or ended).
    pub fn session(&self, device: &str, online: bool, session_at: DateTime<Utc>) {
        self.change(device, |c| {
            if c.online.is_none_or(|(_, at)| session_at >= at) {
                c.online = Some((online, session_at));
            }
        });
    }

    /// The device's stream position as stored; positions only move forward.
    pub fn seed(&self, device: &str, stored: StreamPosition) {
        let mut state = self.state.lock().expect("fleet health poisoned");
        let p = state.positions.entry(device.to_string()).or_default();
        *p = (*p).max(stored);
    }

    /// Admits a batch `(epoch, first..=last)` of `device` against its position (protocol rule) and
    /// advances the position and `last_reading_at` when admitted.
    pub fn admit(
        &self,
        device: &str,
        epoch: u64,
        first: u64,
        last: u64,
        window: u64,
    ) -> Result<(), StreamRefusal> {
        let mut state = self.state.lock().expect("fleet health poisoned");
        let known = state.positions.get(device).copied();
        StreamPosition::admit(known, epoch, first, window)?;
        let next = StreamPosition::advanced(known, epoch, last);
        state.positions.insert(device.to_string(), next);
        let change = state.changes.entry(device.to_string()).or_default();
        change.last_reading_at = Some(Utc::now());
        change.position = Some((next.epoch as i64, next.seq as i64));
        Ok(())
    }

    /// Whether a batch `(epoch, first..=last)` would be admitted, without advancing anything:
    /// an ack of a refused batch must not cover seqs the rule would refuse (or any past
    /// `MAX_SEQ`), or one bad payload could make a hub delete readings it never sent.
    pub fn would_admit(
        &self,
        device: &str,
        epoch: u64,
        first: u64,
        last: u64,
        window: u64,
    ) -> bool {
        let state = self.state.lock().expect("fleet health poisoned");
        last <= episante_protocol::MAX_SEQ
            && StreamPosition::admit(state.positions.get(device).copied(), epoch, first, window)
                .is_ok()
    }

    /// A status heartbeat: the agent's backlog and version when it says them.
    pub fn status(&self, device: &str, backlog: Option<u64>, agent_version: Option<String>) {
        self.change(device, |c| {
            c.last_status_at = Some(Utc::now());
            if let Some(b) = backlog {
                c.backlog = Some(b.min(i64::MAX as u64) as i64);
            }
            if agent_version.is_some() {
                c.agent_version = agent_version;
            }
        });
    }

    fn take(&self) -> Vec<(String, HealthChange)> {
        let mut state = self.state.lock().expect("fleet health poisoned");
        state.changes.drain().collect()
    }

    /// Writes pending changes; on failure they are merged back for the next try.
    pub async fn flush(&self, pool: &PgPool) {
        if let Err(e) = health::instance_alive(pool, &self.instance_id).await {
            tracing::warn!(error = %e, "cannot record this broker instance as alive");
        }
        let changes = self.take();
        if let Err(e) = health::apply(pool, &self.instance_id, &changes).await {
            tracing::warn!(error = %e, devices = changes.len(), "cannot write fleet health; will retry");
            let mut state = self.state.lock().expect("fleet health poisoned");
            for (device, old) in changes {
                let newer = state.changes.remove(&device).unwrap_or_default();
                state.changes.insert(device, merge(old, newer));
            }
        }
    }

    /// Flushes every `every` until `shutdown`, then once more.
    pub fn spawn_writer(
        self: Arc<Self>,
        pool: PgPool,
        every: Duration,
        shutdown: Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => self.flush(&pool).await,
                    _ = shutdown.wait() => break,
                }
            }
            self.flush(&pool).await;
        })
    }
}

/// `newer` wins field by field where it says something.
fn merge(old: HealthChange, newer: HealthChange) -> HealthChange {
    HealthChange {
        online: match (old.online, newer.online) {
            (Some(o), Some(n)) => Some(if n.1 >= o.1 { n } else { o }),
            (o, n) => n.or(o),
        },
        last_reading_at: newer.last_reading_at.or(old.last_reading_at),
        last_status_at: newer.last_status_at.or(old.last_status_at),
        backlog: newer.backlog.or(old.backlog),
        agent_version: newer.agent_version.or(old.agent_version),
        position: newer.position.max(old.position),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_advances_and_refuses_jumps() {
        let fleet = FleetHealth::new();
        fleet.seed("hub1", StreamPosition::new(0, 100));
        assert!(fleet.admit("hub1", 0, 101, 110, 1_000).is_ok());
        assert_eq!(
            fleet
                .admit("hub1", 0, 5_000, 5_001, 1_000)
                .unwrap_err()
                .code(),
            "seq_jump"
        );
        // A lower stored position (another broker's stale view) never moves it back.
        fleet.seed("hub1", StreamPosition::new(0, 50));
        assert!(fleet.admit("hub1", 0, 1_110, 1_111, 1_000).is_ok());
        let changes = fleet.take();
        assert_eq!(changes[0].1.position, Some((0, 1_111)));
    }

    #[test]
    fn newer_session_wins() {
        let fleet = FleetHealth::new();
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(1);
        fleet.session("hub1", true, t1);
        fleet.session("hub1", false, t0); // the replaced session ends late
        assert_eq!(fleet.take()[0].1.online, Some((true, t1)));
    }
}
