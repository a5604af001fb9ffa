//! The telemetry consumer: readings, device assignments and care teams from the event bus, into
//! rollups and alerts.
//!
//! At-least-once delivery made effectively-once: a batch of events is applied in one database
//! transaction — per-device progress (`device_progress`: the last `(epoch, seq)` applied, so a
//! reading seen twice is dropped, by `StreamPosition::is_new`), rollups, alert changes — and only
//! after it commits are the offsets committed. A crash between the two replays the batch, and the
//! progress rows make the replay a no-op. Partitions are keyed by device, so instances of one
//! consumer group split devices between them and each device's readings stay in order. Any error
//! restarts the consumer from the last committed offsets with a fresh rule engine (what a process
//! restart would do).
//!
//! Dedup by `(epoch, seq)` rather than seq alone is what keeps one bad seq from poisoning a
//! stream: a hub that starts over does so in a new, larger epoch and is a new stream. Readings
//! dropped as duplicates are counted per device (`episante_alerts_duplicate_readings_total`), and
//! the dropout watchdog keys on when a device's readings were last *accepted*, not heard: a device
//! that only sends duplicates is, for its patient, a device that sends nothing.
//!
//! The engine's clock for holds is each batch's receive time, stamped by the broker
//! (`received_at_ms`); without it, the bus record's timestamp; only without both, this consumer's
//! clock. Both stamps travel with the record, so a replay decides exactly as the first run did.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeZone, Utc};
use episante_kit::events::leases::{LeasedSession, PartitionLeases, TopicPartition};
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::events::{EventBus, EventRecord, EventSubscription};
use episante_kit::Shutdown;
use episante_protocol::stream::StreamPosition;
use episante_protocol::topics::{KAFKA_CARE_TEAMS, KAFKA_DEVICE_ASSIGNMENTS, KAFKA_READINGS};
use episante_protocol::{CareTeamEvent, DeviceAssignmentEvent, ReadingBatch};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::telemetry::{Progress, Rollup};
use crate::engine::{RuleEngine, Signal};
use crate::metrics::{AlertsMetrics, DeviceLabel, PartitionLabel, SeverityLabel};
use crate::rule_book::RuleBook;

/// Topics the consumer reads.
pub const TOPICS: &[&str] = &[KAFKA_READINGS, KAFKA_DEVICE_ASSIGNMENTS, KAFKA_CARE_TEAMS];

pub struct TelemetryConsumer {
    pub pool: PgPool,
    pub bus: Arc<dyn EventBus>,
    pub group: String,
    /// Which partitions this instance reads (instead of the bus's group coordinator).
    pub leases: PartitionLeases,
    pub rules: Arc<RuleBook>,
    pub metrics: Arc<AlertsMetrics>,
    pub outbox: OutboxRelay,
    pub webhook_urls: Arc<Vec<String>>,
    pub max_batch: usize,
    pub hold_secs: u64,
    pub watchdog_secs: u64,
    pub shutdown: Shutdown,
}

/// Why a consumer session ended without an error.
enum SessionEnd {
    Stopped,
    /// The split of partitions among instances changed: claim again.
    Reassigned,
}

/// What one consumer incarnation keeps in memory.
struct Session {
    sub: Box<dyn EventSubscription>,
    engine: RuleEngine,
    routes: HashMap<String, Uuid>,
    /// The watchdog's view of each device heard from in this session.
    watch: HashMap<String, Watch>,
}

/// When a device's readings were last accepted into the rollups (wall clock; heard-from does not
/// count), and whether the watchdog has already reported the silence since.
struct Watch {
    accepted_at: DateTime<Utc>,
    reported: bool,
}

/// The engine's "now" for a batch, ms: the broker's receive stamp, else the bus record's
/// timestamp, else `consumer_now` — the first two are part of the record, so replays agree.
pub fn received_ms(batch: &ReadingBatch, record_ms: Option<i64>, consumer_now: i64) -> i64 {
    batch.received_at_ms.or(record_ms).unwrap_or(consumer_now)
}

impl TelemetryConsumer {
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        self.shutdown.clone().spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match self.run().await {
                    Ok(SessionEnd::Stopped) => {
                        // Hand the partitions over now rather than after the lease ttl.
                        if let Err(e) = self.leases.leave().await {
                            tracing::warn!(error = %e, "could not release the partition leases");
                        }
                        return;
                    }
                    Ok(SessionEnd::Reassigned) => backoff = Duration::from_millis(200),
                    Err(error) => {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "alerts consumer failed; restarting from the last commit"
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = self.shutdown.wait() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        })
    }

    /// One session: the partitions this instance holds leases for, read until shutdown, an error,
    /// or the split of partitions among instances changes.
    async fn run(&self) -> anyhow::Result<SessionEnd> {
        let (mut leased, sub) =
            LeasedSession::start(&self.leases, self.bus.as_ref(), &self.group, TOPICS).await?;
        let mut session = Session {
            sub,
            engine: RuleEngine::new(self.hold_secs),
            // Filled from the database for each batch's devices (and kept current by assignment
            // events): the watchdog only looks at devices heard since this session started.
            routes: HashMap::new(),
            watch: HashMap::new(),
        };
        let mut watchdog = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = self.shutdown.wait() => return Ok(SessionEnd::Stopped),
                _ = leased.due() => {
                    // A lost lease ends the session (error); a new split ends it to claim again.
                    if !leased.renew().await? {
                        return Ok(SessionEnd::Reassigned);
                    }
                }
                _ = watchdog.tick(), if self.watchdog_secs > 0 => self.watchdog(&mut session).await?,
                first = session.sub.next() => {
                    let gathering = Instant::now();
                    let mut batch = vec![first?];
                    while batch.len() < self.max_batch {
                        match tokio::time::timeout(Duration::from_millis(1), session.sub.next()).await {
                            Ok(next) => batch.push(next?),
                            Err(_) => break,
                        }
                    }
                    let started = Instant::now();
                    self.observe_pickup(&batch, started - gathering);
                    self.apply(&mut session, &leased, &batch).await?;
                    self.metrics.batch_seconds.observe(started.elapsed().as_secs_f64());
                    self.commit(&mut session, &batch)?;
                }
            }
        }
    }

    /// Where a batch's time before applying went: each reading record's time on the bus (its
    /// timestamp to now) and the wait for the batch to fill.
    fn observe_pickup(&self, batch: &[EventRecord], gather: Duration) {
        self.metrics.batch_gather.observe(gather.as_secs_f64());
        let now_ms = Utc::now().timestamp_millis();
        for record in batch.iter().filter(|r| r.topic == KAFKA_READINGS) {
            if let Some(ts) = record.timestamp_ms {
                self.metrics
                    .bus_delay
                    .observe((now_ms - ts).max(0) as f64 / 1e3);
            }
        }
    }

    /// Commits the last offset of each partition in `batch`, and records the lag.
    fn commit(&self, session: &mut Session, batch: &[EventRecord]) -> anyhow::Result<()> {
        let mut last: BTreeMap<(&str, i32), &EventRecord> = BTreeMap::new();
        for r in batch {
            last.insert((r.topic.as_str(), r.partition), r);
        }
        for ((topic, partition), record) in last {
            session.sub.commit(record)?;
            if let Some(lag) = session.sub.lag(record) {
                self.metrics
                    .consumer_lag
                    .get_or_create(&PartitionLabel {
                        topic: topic.to_string(),
                        partition,
                    })
                    .set(lag);
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        session: &mut Session,
        leased: &LeasedSession,
        batch: &[EventRecord],
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        // Fencing: only while this instance holds the leases of the batch's partitions (an
        // instance that stalled past its lease must not apply what another now owns).
        let partitions: BTreeSet<TopicPartition> = batch
            .iter()
            .map(|r| (r.topic.clone(), r.partition))
            .collect();
        if !leased.check(&mut tx, &partitions).await? {
            anyhow::bail!("a partition lease was lost; claiming again");
        }
        // Routing changes first, in order.
        for record in batch.iter().filter(|r| r.topic != KAFKA_READINGS) {
            if record.topic == KAFKA_DEVICE_ASSIGNMENTS {
                let Ok(event) = serde_json::from_slice::<DeviceAssignmentEvent>(&record.payload)
                else {
                    self.metrics.malformed.inc();
                    continue;
                };
                let patient = event.patient_id.as_deref().and_then(|p| p.parse().ok());
                db::routing::set_device_patient(&mut *tx, &event.device_id, patient).await?;
                session.engine.forget(&event.device_id);
                match patient {
                    Some(p) => session.routes.insert(event.device_id, p),
                    None => session.routes.remove(&event.device_id),
                };
            } else if record.topic == KAFKA_CARE_TEAMS {
                let Ok(event) = serde_json::from_slice::<CareTeamEvent>(&record.payload) else {
                    self.metrics.malformed.inc();
                    continue;
                };
                let Ok(patient) = event.patient_id.parse::<Uuid>() else {
                    self.metrics.malformed.inc();
                    continue;
                };
                let clinicians: Vec<Uuid> = event
                    .clinicians
                    .iter()
                    .filter_map(|c| c.parse().ok())
                    .collect();
                db::routing::set_clinicians(&mut tx, patient, &clinicians).await?;
            }
        }

        // Readings. Only valid batches (which bounds seqs to `MAX_SEQ`) whose epoch fits the
        // database's bigint; anything else is counted and skipped.
        let consumer_now = Utc::now();
        let mut batches: Vec<(ReadingBatch, i64)> = Vec::new();
        for record in batch.iter().filter(|r| r.topic == KAFKA_READINGS) {
            match ReadingBatch::parse(&record.payload) {
                Ok(b) if i64::try_from(b.epoch).is_ok() => {
                    let received =
                        received_ms(&b, record.timestamp_ms, consumer_now.timestamp_millis());
                    batches.push((b, received));
                }
                _ => {
                    self.metrics.malformed.inc();
                }
            }
        }
        let mut devices: Vec<String> = batches.iter().map(|(b, _)| b.device_id.clone()).collect();
        devices.sort();
        devices.dedup();
        let mut progress: HashMap<String, Progress> =
            db::telemetry::progress_for_update(&mut tx, &devices)
                .await?
                .into_iter()
                .collect();
        // The database is the truth for routing: another instance may have applied an assignment
        // for a device whose partition this one has just been given.
        let routed = db::routing::device_patients(&mut *tx, &devices).await?;
        for device in &devices {
            session.routes.remove(device);
        }
        session.routes.extend(routed);
        for device in &devices {
            let applied = progress.get(device).map(|p| p.position);
            if session.engine.knows(device) && session.engine.position(device) != applied {
                // Someone else handled this device meanwhile: start over from the database.
                session.engine.forget(device);
            }
            if !session.engine.knows(device) {
                let open = match session.routes.get(device) {
                    Some(p) => db::alerts::open_rule_keys(&mut *tx, *p).await?,
                    None => Vec::new(),
                };
                let last_ts = progress.get(device).map(|p| p.last_ts.timestamp_millis());
                session.engine.seed(device, applied, last_ts, &open);
            }
            // A device first heard in this session is watched from its last accepted reading,
            // so one that only sends duplicates after a restart is still seen to be silent.
            session
                .watch
                .entry(device.clone())
                .or_insert_with(|| Watch {
                    accepted_at: progress.get(device).map_or(consumer_now, |p| p.accepted_at),
                    reported: false,
                });
        }
        let mut rules = HashMap::new();
        for device in &devices {
            if let Some(p) = session.routes.get(device) {
                if !rules.contains_key(p) {
                    rules.insert(*p, self.rules.rules_for(*p).await?);
                }
            }
        }

        let mut rollups: HashMap<(String, &'static str, DateTime<Utc>), Rollup> = HashMap::new();
        let mut signals: Vec<(Uuid, Signal, Option<DateTime<Utc>>)> = Vec::new();
        let mut advanced = BTreeSet::new();
        for (b, received) in &batches {
            let patient = session.routes.get(&b.device_id).copied();
            let received_at = Utc.timestamp_millis_opt(*received).single();
            let mut duplicates = 0;
            for reading in &b.readings {
                let position = progress.get(&b.device_id).map(|p| p.position);
                if position.is_some_and(|p| !p.is_new(b.epoch, reading.seq)) {
                    duplicates += 1;
                    continue;
                }
                let Some(ts) = Utc.timestamp_millis_opt(reading.ts_ms).single() else {
                    self.metrics.malformed.inc();
                    continue;
                };
                let at = StreamPosition::new(b.epoch, reading.seq);
                let entry = progress.entry(b.device_id.clone()).or_insert(Progress {
                    position: at,
                    last_ts: ts,
                    accepted_at: consumer_now,
                });
                entry.position = at;
                entry.last_ts = entry.last_ts.max(ts);
                entry.accepted_at = consumer_now;
                advanced.insert(b.device_id.clone());
                self.metrics.readings.inc();
                // Rollups bucket by measurement time.
                let minute = ts
                    .duration_trunc(chrono::Duration::minutes(1))
                    .unwrap_or(ts);
                let slot = rollups
                    .entry((b.device_id.clone(), reading.kind.as_str(), minute))
                    .or_insert(Rollup {
                        patient,
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        sum: 0.0,
                        count: 0,
                    });
                slot.min = slot.min.min(reading.value);
                slot.max = slot.max.max(reading.value);
                slot.sum += reading.value;
                slot.count += 1;
                if let Some(p) = patient {
                    for s in session.engine.observe(
                        &b.device_id,
                        &rules[&p],
                        b.epoch,
                        reading,
                        *received,
                    ) {
                        signals.push((p, s, received_at));
                    }
                }
            }
            if duplicates > 0 {
                self.metrics
                    .duplicates
                    .get_or_create(&DeviceLabel {
                        device_id: b.device_id.clone(),
                    })
                    .inc_by(duplicates);
            }
        }
        for device in &advanced {
            if let Some(watch) = session.watch.get_mut(device) {
                watch.accepted_at = consumer_now;
                watch.reported = false;
            }
        }
        let changed: Vec<(String, Progress)> = advanced
            .into_iter()
            .filter_map(|d| progress.get(&d).map(|p| (d, *p)))
            .collect();
        db::telemetry::save_progress(&mut tx, &changed).await?;
        let rollups: Vec<_> = rollups.into_iter().collect();
        db::telemetry::add_rollups(&mut tx, &rollups).await?;

        let mut created = Vec::new();
        for (patient, signal, received_at) in &signals {
            if let Some(alert) = crate::lifecycle::apply_signal(
                &mut tx,
                &self.webhook_urls,
                *patient,
                signal,
                *received_at,
            )
            .await?
            {
                created.push(alert);
            }
        }
        tx.commit().await?;
        if !signals.is_empty() {
            self.outbox.wake();
        }
        let committed = Utc::now();
        for alert in created {
            self.metrics
                .created
                .get_or_create(&SeverityLabel {
                    severity: alert.severity.as_str().into(),
                })
                .inc();
            if let Some(received) = alert.reading_received_at {
                let latency = (committed - received).num_microseconds().unwrap_or(0) as f64 / 1e6;
                self.metrics.reading_to_alert.observe(latency.max(0.0));
            }
        }
        Ok(())
    }

    /// Raises dropout alerts for assigned devices none of whose readings was accepted (wall clock)
    /// for the watchdog time — silent, or sending only duplicates.
    async fn watchdog(&self, session: &mut Session) -> anyhow::Result<()> {
        let silent_for = chrono::Duration::seconds(self.watchdog_secs as i64);
        let now = Utc::now();
        let quiet = |w: &Watch| !w.reported && now - w.accepted_at >= silent_for;
        let candidates: Vec<String> = session
            .watch
            .iter()
            .filter(|(d, w)| quiet(w) && session.routes.contains_key(*d))
            .map(|(d, _)| d.clone())
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        // Partitions move between instances: another one may have accepted readings since.
        for (device, at) in db::telemetry::accepted_at(&self.pool, &candidates).await? {
            if let Some(w) = session.watch.get_mut(&device) {
                w.accepted_at = w.accepted_at.max(at);
            }
        }
        let mut tx = self.pool.begin().await?;
        let now_ms = now.timestamp_millis();
        for device in candidates {
            let (Some(watch), Some(patient)) =
                (session.watch.get_mut(&device), session.routes.get(&device))
            else {
                continue;
            };
            if !quiet(watch) {
                continue;
            }
            watch.reported = true;
            let quiet_ms = (now - watch.accepted_at).num_milliseconds();
            let patient = *patient;
            let rules = self.rules.rules_for(patient).await?;
            for signal in session
                .engine
                .silent_since(&device, &rules, now_ms, quiet_ms)
            {
                crate::lifecycle::apply_signal(&mut tx, &self.webhook_urls, patient, &signal, None)
                    .await?;
            }
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}
