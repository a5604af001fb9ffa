//! The transactional outbox: events written in the same database transaction as the change they
//! describe, published to the bus afterwards by a relay.
//!
//! Publishing straight from a handler after `COMMIT` loses the event when the process dies in
//! between; publishing before `COMMIT` announces changes that may roll back. With an outbox the
//! event exists if and only if the change does, and the relay retries until the bus has it
//! (at-least-once: consumers deduplicate). One relay runs at a time across all instances of a
//! service (a transaction-scoped advisory lock), so events leave in the order they were written.
//!
//! Each service's migrations create the table:
//! ```sql
//! CREATE TABLE outbox (
//!     id           bigserial PRIMARY KEY,
//!     topic        text NOT NULL,
//!     key          text NOT NULL,
//!     payload      bytea NOT NULL,
//!     created_at   timestamptz NOT NULL DEFAULT now(),
//!     published_at timestamptz
//! );
//! CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
//! ```

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;

use super::EventBus;
use crate::Shutdown;

/// Rows published per relay transaction.
const BATCH: i64 = 256;
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

/// Handle on a running relay: [`OutboxRelay::wake`] after committing events so they leave now
/// rather than at the next poll.
#[derive(Clone)]
pub struct OutboxRelay {
    notify: Arc<Notify>,
}

impl OutboxRelay {
    /// Starts relaying `pool`'s outbox to `bus` until `shutdown`. `poll` bounds how long an event
    /// written by another instance (which cannot wake this one) waits.
    pub fn spawn(
        pool: PgPool,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
        poll: Duration,
    ) -> OutboxRelay {
        let notify = Arc::new(Notify::new());
        let relay = OutboxRelay {
            notify: notify.clone(),
        };
        shutdown.clone().spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match relay_batch(&pool, bus.as_ref()).await {
                    Ok(n) if n == BATCH as usize => continue,
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
            let last =
                tokio::time::timeout(Duration::from_secs(5), relay_batch(&pool, bus.as_ref()));
            if let Ok(Err(error)) = last.await {
                tracing::warn!(%error, "last outbox round failed; the next start relays it");
            }
        });
        relay
    }

    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// Publishes one batch of unpublished events; returns how many.
async fn relay_batch(pool: &PgPool, bus: &dyn EventBus) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RELAY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(0);
    }
    let rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(BATCH)
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
    sqlx::query("DELETE FROM outbox WHERE published_at < now() - interval '7 days'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}
