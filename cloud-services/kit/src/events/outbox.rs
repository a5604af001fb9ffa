//! The transactional outbox: events written in the same database transaction as the change they
//! describe, published to the bus afterwards by a relay — the one relay every service uses.
//!
//! Publishing straight from a handler after `COMMIT` loses the event when the process dies in
//! between; publishing before `COMMIT` announces changes that may roll back. With an outbox the
//! event exists if and only if the change does, and the relay retries until the bus has it
//! (at-least-once: consumers deduplicate). One relay runs at a time across all instances of a
//! service (a transaction-scoped advisory lock), so events leave in the order they were written.
//!
//! A row may be due later than it was written (`due_at`): bookings' reminders are rows due 24 h
//! and 1 h before the appointment, so a restart loses none and withdrawing one is a `DELETE` in
//! the transaction that cancels the appointment. Everything else is due at once.
//!
//! Each service's migrations create the table (a service may add columns of its own):
//! ```sql
//! CREATE TABLE outbox (
//!     id           bigserial PRIMARY KEY,
//!     topic        text NOT NULL,
//!     key          text NOT NULL,
//!     payload      bytea NOT NULL,
//!     due_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
//!     created_at   timestamptz NOT NULL DEFAULT now(),
//!     published_at timestamptz
//! );
//! CREATE INDEX outbox_due ON outbox (due_at, id) WHERE published_at IS NULL;
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;

use super::EventBus;
use crate::Shutdown;

/// Rows published per relay transaction unless the service says otherwise.
pub const DEFAULT_BATCH: i64 = 256;
/// Advisory lock key shared by every relay of one database ("outbox" in ASCII).
const RELAY_LOCK: i64 = 0x6f7574626f78;

/// Adds an event to the outbox inside the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    topic: &str,
    key: &str,
    payload: &[u8],
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)")
        .bind(topic)
        .bind(key)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// How a relay paces itself.
#[derive(Clone, Debug)]
pub struct RelaySettings {
    /// Bounds how long an event written by another instance (which cannot wake this one), or a
    /// row coming due, waits.
    pub poll: Duration,
    /// Rows published per transaction.
    pub batch: i64,
    /// Counts the rows published (the service registers it under its own metric name).
    pub published: Counter,
}

impl RelaySettings {
    pub fn every(poll: Duration) -> Self {
        RelaySettings {
            poll,
            batch: DEFAULT_BATCH,
            published: Counter::default(),
        }
    }
}

/// Handle on a running relay: [`OutboxRelay::wake`] after committing events so they leave now
/// rather than at the next poll.
#[derive(Clone)]
pub struct OutboxRelay {
    notify: Arc<Notify>,
}

impl OutboxRelay {
    /// Starts relaying `pool`'s outbox to `bus` until `shutdown`, then runs a last round.
    pub fn spawn(
        pool: PgPool,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
        settings: RelaySettings,
    ) -> OutboxRelay {
        let notify = Arc::new(Notify::new());
        let relay = OutboxRelay {
            notify: notify.clone(),
        };
        let RelaySettings {
            poll,
            batch,
            published,
        } = settings;
        let batch = batch.max(1);
        let purge_pool = pool.clone();
        let round = move || {
            let (pool, bus, published) = (pool.clone(), bus.clone(), published.clone());
            async move {
                let n = publish_due(&pool, bus.as_ref(), batch).await?;
                published.inc_by(n as u64);
                anyhow::Ok(n)
            }
        };
        shutdown.clone().spawn(async move {
            let mut backoff = Duration::from_millis(100);
            let mut purged_at: Option<Instant> = None;
            loop {
                if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                    purged_at = Some(Instant::now());
                    if let Err(error) = purge_published(&purge_pool).await {
                        tracing::warn!(%error, "purging published outbox rows failed");
                    }
                }
                match round().await {
                    Ok(n) if n == batch as usize => continue,
                    Ok(_) => backoff = Duration::from_millis(100),
                    Err(error) => {
                        tracing::warn!(%error, "outbox relay failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.wait() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
                tokio::select! {
                    _ = notify.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.wait() => break,
                }
            }
            // A last round: events committed just before shutdown go out now, not at the next
            // start (they are safe in the table either way).
            match tokio::time::timeout(Duration::from_secs(5), round()).await {
                Ok(Err(error)) => {
                    tracing::warn!(%error, "last outbox round failed; the next start relays it")
                }
                Err(_) => tracing::warn!("last outbox round timed out; the next start relays it"),
                Ok(Ok(_)) => {}
            }
        });
        relay
    }

    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// Publishes one batch of due, unpublished events; returns how many (0 as well when another
/// instance's relay holds the lock: it is doing the work).
pub async fn publish_due(pool: &PgPool, bus: &dyn EventBus, batch: i64) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RELAY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(0);
    }
    let rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, topic, key, payload FROM outbox
         WHERE published_at IS NULL AND due_at <= now()
         ORDER BY due_at, id LIMIT $1",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // All enqueued in order first, then awaited: one round trip's latency for the whole batch.
    let deliveries: Vec<_> = rows
        .iter()
        .map(|(_, topic, key, payload)| bus.publish(topic, key, payload.clone()))
        .collect();
    for delivery in deliveries {
        delivery.await?;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// How often a relay deletes rows published more than a week ago. The delete scans the table:
/// run on every round, it cost a busy booking service a quarter of a core of PostgreSQL
/// (docs/BENCHMARKS.md, "Bookings").
pub const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Deletes rows published more than a week ago (kept that long for investigations); returns how
/// many.
pub async fn purge_published(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM outbox WHERE published_at < now() - interval '7 days'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
