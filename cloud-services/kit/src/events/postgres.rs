//! The durable event bus of a platform in one process (`episante up` without Kafka): a log in its
//! own PostgreSQL database.
//!
//! **Why PostgreSQL** (measured against the in-memory bus and tansu in docs/BENCHMARKS.md,
//! "Embedded event bus"; the decision in docs/ARCHITECTURE.md): `up` already needs a PostgreSQL
//! server, whose WAL, fsync and crash recovery are the most exercised storage engine the platform
//! touches; the bus's data is then backed up, restored and replicated with every other database
//! (pgBackRest, Patroni) instead of being one more file format on one more disk to look after.
//! An embedded key-value store (redb, fjall) would add a second storage engine to back up and a
//! data directory that a failover cannot move.
//!
//! **Acknowledged means kept.** `publish` resolves only after the event's `INSERT` has committed
//! (`synchronous_commit` on: the WAL is flushed). One writer task owns the log: publishes queue
//! to it in order, and every event waiting when it starts a round goes into one multi-row
//! `INSERT` — a group commit, so one fsync covers many hubs' readings. The writer assigns offsets
//! itself (dense, in commit order, so a consumer never sees offset 7 before 6 has committed), and
//! holds a PostgreSQL advisory lock for its whole life: a second process pointed at the same
//! database is refused at start instead of interleaving offsets.
//!
//! **Consumers** read from a tail of the newest events kept in memory, and from the table when
//! they are further behind (after a restart, or a backlog larger than the tail). Committed
//! offsets are written to `bus_offsets` every [`OFFSET_FLUSH`] and at [`EventBus::close`]; a
//! kill -9 forgets at most the commits of that interval, and those events are delivered again,
//! which every consumer already absorbs (at-least-once, made exactly-once by their own progress
//! rows, as with Kafka).
//!
//! **Bounds.** Events every group reading a topic has committed are deleted (the newest is kept,
//! so that offsets continue after a restart). Unconsumed events are never deleted: a topic that
//! holds `topic_max_bytes` of them refuses new events ([`EventBusError::Full`]), so the broker
//! withholds acknowledgements and hubs keep their buffers; a full disk does the same through a
//! failing `INSERT`. Topics no group reads (dead letters, and topics whose consumers are not
//! part of this deployment) are bounded by age and bytes, oldest first, like Kafka's retention.
//! A group that has not been seen for `group_expiry_hours` when the bus opens is forgotten, so a
//! renamed consumer cannot hold a topic at its bound forever.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot, Notify};

use super::metrics::BusMetrics;
use super::{event_bytes, BusFuture, EventBus, EventBusError, EventRecord, EventSubscription};
use crate::db::ServiceDatabase;
use crate::{DatabaseConfig, Shutdown};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/bus");

/// How often committed offsets are saved.
pub const OFFSET_FLUSH: Duration = Duration::from_millis(100);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(1);
/// One writer round takes at most this many events, and this many bytes.
const ROUND_EVENTS: usize = 4_096;
const ROUND_BYTES: u64 = 16 << 20;
/// Events a consumer takes from the table in one query.
const FETCH_EVENTS: i64 = 1_000;
/// Key of the advisory lock the writer holds (the database is the bus's own).
const WRITER_LOCK: i64 = 0x6570_6973_616e_7465; // "episante"

/// `[bus]`: the PostgreSQL log of `episante up`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LogBusConfig {
    /// The bus's own database and role (`EPISANTE_BUS__DATABASE__NAME`).
    pub database: ServiceDatabase,
    /// Bytes of events a topic holds at most (payload, key and topic name per event); at it, a
    /// topic some group reads refuses new events.
    pub topic_max_bytes: u64,
    /// The same for dead-letter topics, which nobody has to read.
    pub dead_letter_max_bytes: u64,
    /// How long topics no group reads keep events, ms.
    pub unconsumed_retention_ms: u64,
    /// Bytes of the newest events per topic that consumers read from memory.
    pub tail_cache_bytes: u64,
    /// A group not seen for this long when the bus opens is forgotten.
    pub group_expiry_hours: u64,
    /// Use the in-memory bus instead (`EPISANTE_BUS__IN_MEMORY=true`): **not durable**, for
    /// benchmarks that compare the two; `up` says so in its banner.
    pub in_memory: bool,
}

impl Default for LogBusConfig {
    fn default() -> Self {
        LogBusConfig {
            database: ServiceDatabase::named("episante_bus"),
            topic_max_bytes: 4 << 30,
            dead_letter_max_bytes: 64 << 20,
            unconsumed_retention_ms: 7 * 24 * 3_600_000,
            tail_cache_bytes: 32 << 20,
            group_expiry_hours: 7 * 24,
            in_memory: false,
        }
    }
}

impl LogBusConfig {
    fn max_bytes(&self, topic: &str) -> u64 {
        super::bound_for(topic, self.topic_max_bytes, self.dead_letter_max_bytes)
    }
}

/// One topic as the writer and consumers see it.
#[derive(Default)]
struct TopicState {
    /// Oldest offset still stored.
    start: i64,
    /// Next offset to assign.
    end: i64,
    /// Bytes stored.
    bytes: u64,
    /// The newest events, offsets `end - tail.len() .. end`.
    tail: VecDeque<EventRecord>,
    tail_bytes: u64,
}

impl TopicState {
    fn tail_start(&self) -> i64 {
        self.end - self.tail.len() as i64
    }

    fn pop_tail_front(&mut self) {
        if let Some(old) = self.tail.pop_front() {
            self.tail_bytes -= event_bytes(
                &old.topic,
                old.key.as_deref().unwrap_or_default(),
                &old.payload,
            );
        }
    }
}

#[derive(Default)]
struct State {
    topics: HashMap<String, TopicState>,
    /// Next offset to read per (group, topic), as committed by consumers.
    committed: HashMap<(String, String), i64>,
    /// Commits not saved yet.
    dirty: HashSet<(String, String)>,
}

impl State {
    /// The oldest offset some group of `topic` still needs, or None when no group reads it.
    fn needed_from(&self, topic: &str) -> Option<i64> {
        self.committed
            .iter()
            .filter(|((_, t), _)| t == topic)
            .map(|(_, next)| *next)
            .min()
    }
}

struct Shared {
    pool: PgPool,
    state: Mutex<State>,
    appended: Notify,
    config: LogBusConfig,
    metrics: BusMetrics,
    database: String,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("bus state poisoned")
    }
}

struct Write {
    topic: String,
    key: Vec<u8>,
    payload: Vec<u8>,
    done: oneshot::Sender<Result<(), EventBusError>>,
}

/// The PostgreSQL log (see the module docs).
pub struct PostgresBus {
    shared: Arc<Shared>,
    writes: mpsc::UnboundedSender<Write>,
    flusher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PostgresBus {
    /// Provisions and migrates the bus's database, takes the writer lock, loads where every
    /// topic and group stands, and starts the writer and the offset flusher.
    pub async fn open(
        database: &DatabaseConfig,
        config: &LogBusConfig,
        shutdown: &Shutdown,
    ) -> anyhow::Result<PostgresBus> {
        let pool = crate::db::provision(database, &config.database, &MIGRATOR).await?;
        let mut writer_conn = pool.acquire().await?.detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(WRITER_LOCK)
            .fetch_one(&mut writer_conn)
            .await?;
        if !locked {
            anyhow::bail!(
                "the event bus in database {} is in use by another process (is another `episante up` running on it?)",
                config.database.name
            );
        }
        let expired = sqlx::query(
            "DELETE FROM bus_offsets WHERE seen_at < now() - make_interval(hours => $1)",
        )
        .bind(config.group_expiry_hours.min(i32::MAX as u64) as i32)
        .execute(&pool)
        .await?;
        if expired.rows_affected() > 0 {
            tracing::warn!(
                groups = expired.rows_affected(),
                hours = config.group_expiry_hours,
                "event bus: forgot consumer groups not seen for too long"
            );
        }
        let state = load_state(&pool).await?;
        let shared = Arc::new(Shared {
            pool,
            state: Mutex::new(state),
            appended: Notify::new(),
            config: config.clone(),
            metrics: BusMetrics::default(),
            database: config.database.name.clone(),
        });
        {
            let state = shared.lock();
            for (topic, t) in &state.topics {
                shared.metrics.topic(
                    topic,
                    t.end - t.start,
                    t.bytes,
                    shared.config.max_bytes(topic),
                );
            }
        }
        let (writes, rx) = mpsc::unbounded_channel();
        // The writer ends when the bus is dropped (its queue closes), after the last round.
        tokio::spawn(run_writer(shared.clone(), writer_conn, rx));
        let flusher = tokio::spawn(run_flusher(shared.clone(), shutdown.clone()));
        Ok(PostgresBus {
            shared,
            writes,
            flusher: Mutex::new(Some(flusher)),
        })
    }
}

/// Every topic's offsets and size, and every group's committed offsets, as stored.
async fn load_state(pool: &PgPool) -> Result<State, sqlx::Error> {
    let mut state = State::default();
    let topics = sqlx::query(
        "SELECT t.topic, \
                coalesce(min(e.event_offset), t.next_offset) AS start, \
                greatest(t.next_offset, coalesce(max(e.event_offset) + 1, 0)) AS end_offset, \
                coalesce(sum(octet_length(e.topic) + octet_length(e.key) + octet_length(e.payload)), 0)::int8 AS bytes \
         FROM bus_topics t LEFT JOIN bus_events e ON e.topic = t.topic \
         GROUP BY t.topic, t.next_offset",
    )
    .fetch_all(pool)
    .await?;
    for row in topics {
        let topic: String = row.get("topic");
        let end: i64 = row.get("end_offset");
        state.topics.insert(
            topic,
            TopicState {
                start: row.get::<i64, _>("start").min(end),
                end,
                bytes: row.get::<i64, _>("bytes") as u64,
                ..Default::default()
            },
        );
    }
    let groups = sqlx::query("SELECT consumer_group, topic, next_offset FROM bus_offsets")
        .fetch_all(pool)
        .await?;
    for row in groups {
        let topic: String = row.get("topic");
        let next: i64 = row.get("next_offset");
        // Offsets continue from the furthest any group has read (a topic's table rows may all
        // have been deleted by retention).
        let t = state.topics.entry(topic.clone()).or_default();
        t.end = t.end.max(next);
        t.start = t.start.max(0);
        state
            .committed
            .insert((row.get("consumer_group"), topic), next);
    }
    Ok(state)
}

fn storage_err(e: impl std::fmt::Display) -> EventBusError {
    EventBusError::Storage(e.to_string())
}

/// The one task that appends to the log and applies retention (see the module docs).
async fn run_writer(
    shared: Arc<Shared>,
    mut conn: PgConnection,
    mut rx: mpsc::UnboundedReceiver<Write>,
) {
    let mut retention = tokio::time::interval(RETENTION_EVERY);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            write = rx.recv() => match write {
                Some(write) => write,
                None => break,
            },
            _ = retention.tick() => {
                if let Err(e) = apply_retention(&shared, &mut conn, None).await {
                    tracing::warn!(error = %e, "event bus retention failed; retrying");
                }
                continue;
            }
        };
        let mut round = vec![first];
        let mut bytes = 0u64;
        while round.len() < ROUND_EVENTS && bytes < ROUND_BYTES {
            match rx.try_recv() {
                Ok(write) => {
                    bytes += write.payload.len() as u64;
                    round.push(write);
                }
                Err(_) => break,
            }
        }
        append_round(&shared, &mut conn, round).await;
    }
}

/// Admits what fits under the bounds, inserts it in one statement, then answers every publisher.
async fn append_round(shared: &Shared, conn: &mut PgConnection, round: Vec<Write>) {
    // Topics over their bound get one retention pass before anything is refused.
    let over: Vec<String> = {
        let state = shared.lock();
        let mut pending: HashMap<&str, u64> = HashMap::new();
        for w in &round {
            *pending.entry(&w.topic).or_default() += event_bytes(&w.topic, &w.key, &w.payload);
        }
        pending
            .into_iter()
            .filter(|(topic, add)| {
                let held = state.topics.get(*topic).map_or(0, |t| t.bytes);
                held + add > shared.config.max_bytes(topic)
            })
            .map(|(topic, _)| topic.to_string())
            .collect()
    };
    for topic in &over {
        if let Err(e) = apply_retention(shared, conn, Some(topic)).await {
            tracing::warn!(topic, error = %e, "event bus retention failed");
        }
    }

    // Publishers of the admitted events, in row order.
    let mut accepted: Vec<oneshot::Sender<Result<(), EventBusError>>> =
        Vec::with_capacity(round.len());
    let mut rows = InsertRows::default();
    {
        let mut state = shared.lock();
        let mut added: HashMap<String, (i64, u64)> = HashMap::new();
        for w in round {
            let size = event_bytes(&w.topic, &w.key, &w.payload);
            let max_bytes = shared.config.max_bytes(&w.topic);
            let consumed = state.needed_from(&w.topic).is_some();
            let t = state.topics.entry(w.topic.clone()).or_default();
            let (count, add) = added.entry(w.topic.clone()).or_default();
            let held = t.bytes + *add;
            // An event alone over the bound is kept when the topic is empty, so it can be read;
            // a topic nobody reads makes room by retention after this round instead.
            if consumed && held > 0 && held + size > max_bytes {
                shared.metrics.refused(&w.topic);
                let _ = w.done.send(Err(EventBusError::Full {
                    topic: w.topic,
                    max_bytes,
                }));
                continue;
            }
            let offset = t.end + *count;
            *count += 1;
            *add += size;
            rows.topics.push(w.topic);
            rows.offsets.push(offset);
            rows.keys.push(w.key);
            rows.payloads.push(w.payload);
            accepted.push(w.done);
        }
    }
    if accepted.is_empty() {
        return;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let inserted = sqlx::query(
        "WITH new AS ( \
             INSERT INTO bus_events (topic, event_offset, key, payload, ts_ms) \
             SELECT topic, event_offset, key, payload, $5 \
             FROM UNNEST($1::text[], $2::int8[], $3::bytea[], $4::bytea[]) \
                  AS r(topic, event_offset, key, payload) \
             RETURNING topic, event_offset) \
         INSERT INTO bus_topics (topic, next_offset) \
         SELECT topic, max(event_offset) + 1 FROM new GROUP BY topic \
         ON CONFLICT (topic) DO UPDATE SET next_offset = EXCLUDED.next_offset",
    )
    .bind(&rows.topics)
    .bind(&rows.offsets)
    .bind(&rows.keys)
    .bind(&rows.payloads)
    .bind(now_ms)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {
            {
                let mut state = shared.lock();
                let tail_budget = shared.config.tail_cache_bytes;
                let mut touched = HashSet::new();
                let InsertRows {
                    topics,
                    offsets,
                    keys,
                    payloads,
                } = rows;
                for (((topic, offset), key), payload) in
                    topics.into_iter().zip(offsets).zip(keys).zip(payloads)
                {
                    let size = event_bytes(&topic, &key, &payload);
                    let t = state.topics.entry(topic.clone()).or_default();
                    debug_assert_eq!(t.end, offset);
                    t.end = offset + 1;
                    t.bytes += size;
                    t.tail.push_back(EventRecord {
                        topic: topic.clone(),
                        partition: 0,
                        offset,
                        key: Some(key),
                        payload,
                        timestamp_ms: Some(now_ms),
                    });
                    t.tail_bytes += size;
                    while t.tail_bytes > tail_budget && t.tail.len() > 1 {
                        t.pop_tail_front();
                    }
                    touched.insert(topic);
                }
                for topic in touched {
                    let t = &state.topics[&topic];
                    shared.metrics.topic(
                        &topic,
                        t.end - t.start,
                        t.bytes,
                        shared.config.max_bytes(&topic),
                    );
                }
            }
            shared.appended.notify_waiters();
            for done in accepted {
                let _ = done.send(Ok(()));
            }
            for topic in &over {
                if let Err(e) = apply_retention(shared, conn, Some(topic)).await {
                    tracing::warn!(topic, error = %e, "event bus retention failed");
                }
            }
        }
        Err(e) => {
            // Nothing was assigned: the next round reuses these offsets. If the commit did happen
            // but its answer was lost, the stored ends are reloaded first, and those events exist
            // without their publishers knowing — they resend, and consumers drop the copies.
            tracing::warn!(error = %e, events = accepted.len(), "event bus: append failed; publishers will retry");
            for (done, topic) in accepted.into_iter().zip(&rows.topics) {
                shared.metrics.refused(topic);
                let _ = done.send(Err(storage_err(&e)));
            }
            reconnect_after_failure(shared, conn).await;
        }
    }
}

#[derive(Default)]
struct InsertRows {
    topics: Vec<String>,
    offsets: Vec<i64>,
    keys: Vec<Vec<u8>>,
    payloads: Vec<Vec<u8>>,
}

/// After a failed append: make sure the writer has a live connection holding the lock (a new
/// one if the old died, and with it its lock), and re-read the topics' ends in case the failed
/// statement committed after all.
async fn reconnect_after_failure(shared: &Shared, conn: &mut PgConnection) {
    let mut has_lock = true;
    loop {
        if sqlx::query("SELECT 1").execute(&mut *conn).await.is_err() {
            match shared.pool.acquire().await {
                Ok(fresh) => {
                    *conn = fresh.detach();
                    has_lock = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event bus: cannot reach its database; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        if !has_lock {
            let locked = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(WRITER_LOCK)
                .fetch_one(&mut *conn)
                .await;
            if !matches!(locked, Ok(true)) {
                tracing::error!(database = %shared.database, "event bus: cannot take the writer lock again (another process?); retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            has_lock = true;
        }
        match sqlx::query("SELECT topic, next_offset FROM bus_topics")
            .fetch_all(&mut *conn)
            .await
        {
            Ok(rows) => {
                let mut state = shared.lock();
                for row in rows {
                    let topic: String = row.get("topic");
                    let next: i64 = row.get("next_offset");
                    let t = state.topics.entry(topic).or_default();
                    if next > t.end {
                        // Committed after all: those events exist but are not in the tail.
                        t.end = next;
                        t.tail.clear();
                        t.tail_bytes = 0;
                    }
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "event bus: cannot read its topics; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Deletes what retention allows (one topic, or all): events every group has committed (the
/// newest kept), and in topics nobody reads, events past their age or over the byte bound.
async fn apply_retention(
    shared: &Shared,
    conn: &mut PgConnection,
    only: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let plans: Vec<(String, Option<i64>, i64, i64, u64)> = {
        let state = shared.lock();
        state
            .topics
            .iter()
            .filter(|(topic, _)| only.is_none_or(|o| o == topic.as_str()))
            .filter(|(_, t)| t.end - t.start > 1)
            .map(|(topic, t)| {
                (
                    topic.clone(),
                    state.needed_from(topic),
                    t.start,
                    t.end,
                    t.bytes,
                )
            })
            .collect()
    };
    for (topic, needed, start, end, bytes) in plans {
        let max_bytes = shared.config.max_bytes(&topic);
        let deleted = match needed {
            // Read by groups: everything they all committed, never the newest event.
            Some(needed) => {
                let before = needed.min(end - 1);
                if before <= start {
                    continue;
                }
                delete_before(conn, &topic, before, None, end - 1).await?
            }
            // Read by nobody: by age, and over the bound, the oldest part in proportion.
            None => {
                let too_old = now_ms - shared.config.unconsumed_retention_ms as i64;
                let mut before = start;
                if bytes > max_bytes {
                    let held = (end - start) as u128;
                    let excess = (bytes - max_bytes) as u128;
                    before = start + ((held * excess).div_ceil(bytes as u128) as i64).max(1);
                }
                delete_before(conn, &topic, before, Some(too_old), end - 1).await?
            }
        };
        let (count, freed, new_start) = deleted;
        if count == 0 {
            continue;
        }
        let mut state = shared.lock();
        if let Some(t) = state.topics.get_mut(&topic) {
            t.start = t.start.max(new_start);
            t.bytes = t.bytes.saturating_sub(freed);
            while t.tail.front().is_some_and(|r| r.offset < t.start) {
                t.pop_tail_front();
            }
            shared
                .metrics
                .topic(&topic, t.end - t.start, t.bytes, max_bytes);
        }
    }
    Ok(())
}

/// Deletes `topic`'s events before `before`, and (with `older_than_ms`) those stored before that
/// time, never from `newest` on. Returns (events, bytes, the new oldest offset).
async fn delete_before(
    conn: &mut PgConnection,
    topic: &str,
    before: i64,
    older_than_ms: Option<i64>,
    newest: i64,
) -> Result<(i64, u64, i64), sqlx::Error> {
    let row = sqlx::query(
        "WITH gone AS ( \
             DELETE FROM bus_events \
             WHERE topic = $1 AND event_offset < $4 \
               AND (event_offset < $2 OR ts_ms < $3) \
             RETURNING event_offset, octet_length(topic) + octet_length(key) + octet_length(payload) AS size) \
         SELECT count(*)::int8 AS n, coalesce(sum(size), 0)::int8 AS bytes, \
                coalesce(max(event_offset) + 1, 0)::int8 AS next FROM gone",
    )
    .bind(topic)
    .bind(before)
    .bind(older_than_ms.unwrap_or(i64::MIN))
    .bind(newest)
    .fetch_one(&mut *conn)
    .await?;
    let n: i64 = row.get("n");
    let bytes: i64 = row.get("bytes");
    let next: i64 = row.get("next");
    // Stored times grow with offsets, so deletes take a prefix: the new start is one past the
    // last offset deleted.
    Ok((n, bytes as u64, next))
}

/// Saves consumers' commits every [`OFFSET_FLUSH`] until shutdown (then [`EventBus::close`]
/// saves the last ones), and updates the lag gauges.
async fn run_flusher(shared: Arc<Shared>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(OFFSET_FLUSH);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait() => return,
        }
        if let Err(e) = flush_offsets(&shared).await {
            tracing::warn!(error = %e, "event bus: saving consumer offsets failed; retrying");
        }
    }
}

async fn flush_offsets(shared: &Shared) -> Result<(), sqlx::Error> {
    let (groups, topics, offsets): (Vec<String>, Vec<String>, Vec<i64>) = {
        let mut state = shared.lock();
        let dirty: Vec<(String, String)> = state.dirty.drain().collect();
        let mut groups = Vec::with_capacity(dirty.len());
        let mut topics = Vec::with_capacity(dirty.len());
        let mut offsets = Vec::with_capacity(dirty.len());
        for key in dirty {
            let next = state.committed.get(&key).copied().unwrap_or(0);
            let end = state.topics.get(&key.1).map_or(0, |t| t.end);
            shared.metrics.lag(&key.0, &key.1, end - next);
            groups.push(key.0);
            topics.push(key.1);
            offsets.push(next);
        }
        (groups, topics, offsets)
    };
    if groups.is_empty() {
        return Ok(());
    }
    let saved = sqlx::query(
        "INSERT INTO bus_offsets (consumer_group, topic, next_offset, seen_at) \
         SELECT g, t, o, now() FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS r(g, t, o) \
         ON CONFLICT (consumer_group, topic) DO UPDATE \
         SET next_offset = greatest(bus_offsets.next_offset, EXCLUDED.next_offset), seen_at = now()",
    )
    .bind(&groups)
    .bind(&topics)
    .bind(&offsets)
    .execute(&shared.pool)
    .await;
    if saved.is_err() {
        // Saved next time.
        let mut state = shared.lock();
        state.dirty.extend(groups.into_iter().zip(topics));
    }
    saved.map(|_| ())
}

impl EventBus for PostgresBus {
    fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> BusFuture<'static, ()> {
        let (done, answer) = oneshot::channel();
        let sent = self.writes.send(Write {
            topic: topic.to_string(),
            key: key.as_bytes().to_vec(),
            payload,
            done,
        });
        Box::pin(async move {
            sent.map_err(|_| EventBusError::Closed)?;
            answer.await.map_err(|_| EventBusError::Closed)?
        })
    }

    fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn EventSubscription>, EventBusError> {
        let mut state = self.shared.lock();
        let cursors = topics
            .iter()
            .map(|topic| {
                let start = state.topics.entry(topic.to_string()).or_default().start;
                let key = (group.to_string(), topic.to_string());
                // A new group registers at once (saved with the next flush): retention keeps
                // what it has not read from now on.
                let next = match state.committed.get(&key) {
                    Some(next) => *next,
                    None => {
                        state.committed.insert(key.clone(), start);
                        state.dirty.insert(key);
                        start
                    }
                };
                (topic.to_string(), next)
            })
            .collect();
        Ok(Box::new(PostgresSubscription {
            shared: self.shared.clone(),
            group: group.to_string(),
            cursors,
            buffered: VecDeque::new(),
            turn: 0,
        }))
    }

    fn assign(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Box<dyn EventSubscription>, EventBusError> {
        // One partition (0) per topic: one process reads everything.
        self.subscribe(group, &super::single_partition_topics(partitions))
    }

    fn partition_count<'a>(&'a self, _topic: &'a str) -> BusFuture<'a, i32> {
        Box::pin(async { Ok(1) })
    }

    fn ensure_topics<'a>(&'a self, topics: &'a [&'a str]) -> BusFuture<'a, ()> {
        Box::pin(async move {
            let names: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
            sqlx::query(
                "INSERT INTO bus_topics (topic, next_offset) SELECT t, 0 FROM UNNEST($1::text[]) AS t \
                 ON CONFLICT (topic) DO NOTHING",
            )
            .bind(&names)
            .execute(&self.shared.pool)
            .await
            .map_err(storage_err)?;
            let mut state = self.shared.lock();
            for topic in names {
                state.topics.entry(topic).or_default();
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL log in database {} (durable: acknowledged events are committed)",
            self.shared.database
        )
    }

    fn register_metrics(&self, metrics: &crate::metrics::Metrics) {
        self.shared.metrics.register(metrics);
    }

    fn close(&self) -> BusFuture<'_, ()> {
        Box::pin(async move {
            if let Some(flusher) = self.flusher.lock().expect("poisoned").take() {
                flusher.abort();
            }
            flush_offsets(&self.shared).await.map_err(storage_err)
        })
    }
}

struct PostgresSubscription {
    shared: Arc<Shared>,
    group: String,
    /// Next offset to read, per topic.
    cursors: Vec<(String, i64)>,
    /// Events taken from the tail or the table, not handed out yet.
    buffered: VecDeque<EventRecord>,
    /// The topic looked at first next time (so that a busy topic does not starve the others).
    turn: usize,
}

/// Where a cursor's next events are.
enum Source {
    Nothing,
    Memory(Vec<EventRecord>),
    Table { topic: String, from: i64 },
}

impl PostgresSubscription {
    fn look(&mut self) -> Source {
        let state = self.shared.lock();
        let n = self.cursors.len();
        for i in 0..n {
            let index = (self.turn + i) % n;
            let (topic, cursor) = &mut self.cursors[index];
            let Some(t) = state.topics.get(topic.as_str()) else {
                continue;
            };
            // Deleted past this cursor (a topic nobody else reads): continue from the oldest.
            *cursor = (*cursor).max(t.start);
            if *cursor >= t.end {
                continue;
            }
            self.turn = (index + 1) % n;
            if *cursor >= t.tail_start() {
                let skip = (*cursor - t.tail_start()) as usize;
                let taken: Vec<EventRecord> = t.tail.range(skip..).take(256).cloned().collect();
                *cursor += taken.len() as i64;
                return Source::Memory(taken);
            }
            return Source::Table {
                topic: topic.clone(),
                from: *cursor,
            };
        }
        Source::Nothing
    }

    async fn fetch(&mut self, topic: &str, from: i64) -> Result<(), EventBusError> {
        let rows = sqlx::query(
            "SELECT event_offset, key, payload, ts_ms FROM bus_events \
             WHERE topic = $1 AND event_offset >= $2 ORDER BY event_offset LIMIT $3",
        )
        .bind(topic)
        .bind(from)
        .bind(FETCH_EVENTS)
        .fetch_all(&self.shared.pool)
        .await
        .map_err(storage_err)?;
        let mut last = None;
        for row in rows {
            let offset: i64 = row.get("event_offset");
            last = Some(offset);
            self.buffered.push_back(EventRecord {
                topic: topic.to_string(),
                partition: 0,
                offset,
                key: Some(row.get("key")),
                payload: row.get("payload"),
                timestamp_ms: Some(row.get("ts_ms")),
            });
        }
        if let Some((_, cursor)) = self.cursors.iter_mut().find(|(t, _)| t == topic) {
            // Rows deleted meanwhile: the next look moves the cursor up to the topic's start.
            *cursor = last.map_or(from, |l| l + 1).max(*cursor);
        }
        Ok(())
    }
}

impl EventSubscription for PostgresSubscription {
    fn next(&mut self) -> BusFuture<'_, EventRecord> {
        Box::pin(async move {
            loop {
                if let Some(record) = self.buffered.pop_front() {
                    return Ok(record);
                }
                // Register interest before looking, so an append in between is not missed.
                let shared = self.shared.clone();
                let notified = shared.appended.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match self.look() {
                    Source::Memory(records) => self.buffered.extend(records),
                    Source::Table { topic, from } => self.fetch(&topic, from).await?,
                    Source::Nothing => notified.await,
                }
            }
        })
    }

    fn commit(&mut self, record: &EventRecord) -> Result<(), EventBusError> {
        let mut state = self.shared.lock();
        let key = (self.group.clone(), record.topic.clone());
        let next = state.committed.entry(key.clone()).or_insert(0);
        if record.offset + 1 > *next {
            *next = record.offset + 1;
            state.dirty.insert(key);
        }
        Ok(())
    }

    fn lag(&self, record: &EventRecord) -> Option<i64> {
        let state = self.shared.lock();
        let end = state.topics.get(&record.topic).map_or(0, |t| t.end);
        Some((end - record.offset - 1).max(0))
    }
}
