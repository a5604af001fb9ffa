//! The telemetry consumer: readings, device assignments and care teams from the event bus, into
//! rollups and alerts.
//!
//! At-least-once delivery made effectively-once: a batch of events is applied in one database
//! transaction — per-device progress (`device_progress.last_seq`, so a reading seen twice is
//! skipped), rollups, alert changes — and only after it commits are the offsets committed. A
//! crash between the two replays the batch, and the progress rows make the replay a no-op.
//! Partitions are keyed by device, so instances of one consumer group split devices between them
//! and each device's readings stay in order. Any error restarts the consumer from the last
//! committed offsets with a fresh rule engine (what a process restart would do).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeZone, Utc};
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::events::{EventBus, EventRecord, EventSubscription};
use episante_kit::Shutdown;
use episante_protocol::topics::{KAFKA_CARE_TEAMS, KAFKA_DEVICE_ASSIGNMENTS, KAFKA_READINGS};
use episante_protocol::{CareTeamEvent, DeviceAssignmentEvent, ReadingBatch};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::telemetry::Rollup;
use crate::engine::{RuleEngine, Signal};
use crate::metrics::{AlertsMetrics, PartitionLabel, SeverityLabel};
use crate::rule_book::RuleBook;

/// Topics the consumer reads.
pub const TOPICS: &[&str] = &[KAFKA_READINGS, KAFKA_DEVICE_ASSIGNMENTS, KAFKA_CARE_TEAMS];

pub struct TelemetryConsumer {
    pub pool: PgPool,
    pub bus: Arc<dyn EventBus>,
    pub group: String,
    pub rules: Arc<RuleBook>,
    pub metrics: Arc<AlertsMetrics>,
    pub outbox: OutboxRelay,
    pub webhook_urls: Arc<Vec<String>>,
    pub max_batch: usize,
    pub hold_secs: u64,
    pub watchdog_secs: u64,
    pub shutdown: Shutdown,
}

/// What one consumer incarnation keeps in memory.
struct Session {
    sub: Box<dyn EventSubscription>,
    engine: RuleEngine,
    routes: HashMap<String, Uuid>,
    last_heard: HashMap<String, Instant>,
}

impl TelemetryConsumer {
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match self.run().await {
                    Ok(()) => return,
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

    async fn run(&self) -> anyhow::Result<()> {
        let mut session = Session {
            sub: self.bus.subscribe(&self.group, TOPICS)?,
            engine: RuleEngine::new(self.hold_secs),
            // Filled from the database for each batch's devices (and kept current by assignment
            // events): the watchdog only looks at devices heard since this session started.
            routes: HashMap::new(),
            last_heard: HashMap::new(),
        };
        let mut watchdog = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = self.shutdown.wait() => return Ok(()),
                _ = watchdog.tick(), if self.watchdog_secs > 0 => self.watchdog(&mut session).await?,
                first = session.sub.next() => {
                    let mut batch = vec![first?];
                    while batch.len() < self.max_batch {
                        match tokio::time::timeout(Duration::from_millis(1), session.sub.next()).await {
                            Ok(next) => batch.push(next?),
                            Err(_) => break,
                        }
                    }
                    let started = Instant::now();
                    self.apply(&mut session, &batch).await?;
                    self.metrics.batch_seconds.observe(started.elapsed().as_secs_f64());
                    self.commit(&mut session, &batch)?;
                }
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

    async fn apply(&self, session: &mut Session, batch: &[EventRecord]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
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

        // Readings.
        let mut batches: Vec<(ReadingBatch, Option<DateTime<Utc>>)> = Vec::new();
        for record in batch.iter().filter(|r| r.topic == KAFKA_READINGS) {
            match serde_json::from_slice::<ReadingBatch>(&record.payload) {
                Ok(b) => {
                    let received = record
                        .timestamp_ms
                        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
                    batches.push((b, received));
                }
                Err(_) => {
                    self.metrics.malformed.inc();
                }
            }
        }
        let mut devices: Vec<String> = batches.iter().map(|(b, _)| b.device_id.clone()).collect();
        devices.sort();
        devices.dedup();
        let mut progress: HashMap<String, (i64, DateTime<Utc>)> =
            db::telemetry::progress_for_update(&mut tx, &devices)
                .await?
                .into_iter()
                .map(|(d, s, t)| (d, (s, t)))
                .collect();
        // The database is the truth for routing: another instance may have applied an assignment
        // for a device whose partition this one has just been given.
        let routed: Vec<(String, Uuid)> = sqlx::query_as(
            "SELECT device_id, patient_id FROM device_patients WHERE device_id = ANY($1)",
        )
        .bind(&devices)
        .fetch_all(&mut *tx)
        .await?;
        for device in &devices {
            session.routes.remove(device);
        }
        session.routes.extend(routed);
        for device in &devices {
            let applied = progress.get(device).map(|(s, _)| *s);
            if session.engine.knows(device)
                && session.engine.last_seq(device).map(|s| s as i64) != applied
            {
                // Someone else handled this device meanwhile: start over from the database.
                session.engine.forget(device);
            }
            if !session.engine.knows(device) {
                let open = match session.routes.get(device) {
                    Some(p) => db::alerts::open_rule_keys(&mut *tx, *p).await?,
                    None => Vec::new(),
                };
                let last_ts = progress.get(device).map(|(_, t)| t.timestamp_millis());
                let last_seq = applied.and_then(|s| u64::try_from(s).ok());
                session.engine.seed(device, last_seq, last_ts, &open);
            }
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
        let now = Instant::now();
        for (b, received_at) in &batches {
            session.last_heard.insert(b.device_id.clone(), now);
            let patient = session.routes.get(&b.device_id).copied();
            let entry = progress
                .entry(b.device_id.clone())
                .or_insert((-1, DateTime::<Utc>::MIN_UTC));
            for reading in &b.readings {
                if (reading.seq as i64) <= entry.0 {
                    self.metrics.duplicates.inc();
                    continue;
                }
                let Some(ts) = Utc.timestamp_millis_opt(reading.ts_ms).single() else {
                    self.metrics.malformed.inc();
                    continue;
                };
                entry.0 = reading.seq as i64;
                entry.1 = entry.1.max(ts);
                self.metrics.readings.inc();
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
                    for s in session.engine.observe(&b.device_id, &rules[&p], reading) {
                        signals.push((p, s, *received_at));
                    }
                }
            }
        }
        let changed: Vec<(String, i64, DateTime<Utc>)> = devices
            .iter()
            .filter_map(|d| progress.get(d).map(|(s, t)| (d.clone(), *s, *t)))
            .filter(|(_, s, _)| *s >= 0)
            .collect();
        db::telemetry::save_progress(
            &mut tx,
            &changed.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
            &changed.iter().map(|c| c.1).collect::<Vec<_>>(),
            &changed.iter().map(|c| c.2).collect::<Vec<_>>(),
        )
        .await?;
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
                    severity: alert.severity.clone(),
                })
                .inc();
            if let Some(received) = alert.reading_received_at {
                let latency = (committed - received).num_microseconds().unwrap_or(0) as f64 / 1e6;
                self.metrics.reading_to_alert.observe(latency.max(0.0));
            }
        }
        Ok(())
    }

    /// Raises dropout alerts for assigned devices silent (wall clock) for the watchdog time.
    async fn watchdog(&self, session: &mut Session) -> anyhow::Result<()> {
        let silent_for = Duration::from_secs(self.watchdog_secs);
        let silent: Vec<(String, Uuid, Duration)> = session
            .last_heard
            .iter()
            .filter(|(_, at)| at.elapsed() >= silent_for)
            .filter_map(|(d, at)| session.routes.get(d).map(|p| (d.clone(), *p, at.elapsed())))
            .collect();
        if silent.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let now_ms = Utc::now().timestamp_millis();
        for (device, patient, quiet) in silent {
            let rules = self.rules.rules_for(patient).await?;
            for signal in
                session
                    .engine
                    .silent_since(&device, &rules, now_ms, quiet.as_millis() as i64)
            {
                crate::lifecycle::apply_signal(&mut tx, &self.webhook_urls, patient, &signal, None)
                    .await?;
            }
            session.last_heard.remove(&device);
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}
