//! Events in, messages out: one consumer group reads `bookings.events.v1` (patients' messages),
//! `alerts.events.v1` (clinicians' pages), `auth.security.v1` (security notices) and
//! `records.care-teams.v1` (who cares for whom), and
//! writes each event's messages to `deliveries` before its offset is committed. A redelivered
//! event finds its messages there already and adds nothing; a crash before the commit replays it
//! the same way. When auth or bookings cannot be asked, the consumer restarts from its last
//! commit after a pause, like a process restart: nothing is lost, nothing is written twice. An
//! event that cannot be read is counted and skipped (it would stop every later one otherwise).

use std::sync::Arc;
use std::time::Duration;

use episante_kit::events::{EventBus, EventRecord};
use episante_kit::Shutdown;
use episante_protocol::alerts::AlertNotice;
use episante_protocol::bookings::BookingEvent;
use episante_protocol::records::CareTeamEvent;
use episante_protocol::topics::{
    KAFKA_ALERT_EVENTS, KAFKA_BOOKING_EVENTS, KAFKA_CARE_TEAMS, KAFKA_SECURITY,
};
use episante_protocol::SecurityNotice;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::compose::{Composer, Stop};
use crate::{alert_pages, booking_messages, db, security_notices};

const TOPICS: [&str; 4] = [
    KAFKA_BOOKING_EVENTS,
    KAFKA_ALERT_EVENTS,
    KAFKA_CARE_TEAMS,
    KAFKA_SECURITY,
];

pub struct EventConsumer {
    pub composer: Arc<Composer>,
    pub bus: Arc<dyn EventBus>,
    pub group: String,
    /// Woken when a message was queued, so the dispatcher sends it at once.
    pub queued: Arc<Notify>,
    pub shutdown: Shutdown,
}

impl EventConsumer {
    pub fn spawn(self) {
        let shutdown = self.shutdown.clone();
        shutdown.spawn(async move {
            loop {
                match self.run().await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "notify consumer stopped; resuming from the last commit");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            _ = self.shutdown.wait() => return,
                        }
                    }
                }
            }
        });
    }

    async fn run(&self) -> Result<(), Stop> {
        self.bus.ensure_topics(&TOPICS).await?;
        let mut sub = self.bus.subscribe(&self.group, &TOPICS)?;
        loop {
            let record = tokio::select! {
                record = sub.next() => record?,
                _ = self.shutdown.wait() => return Ok(()),
            };
            self.handle(&record).await?;
            sub.commit(&record)?;
        }
    }

    fn parse<T: DeserializeOwned>(&self, record: &EventRecord) -> Option<T> {
        match serde_json::from_slice(&record.payload) {
            Ok(event) => Some(event),
            Err(e) => {
                self.composer.metrics.malformed_events.inc();
                tracing::warn!(topic = %record.topic, offset = record.offset, error = %e, "event not understood; skipped");
                None
            }
        }
    }

    /// Applies one event in one transaction (its state changes and its messages commit together).
    async fn handle(&self, record: &EventRecord) -> Result<(), Stop> {
        let composer = &self.composer;
        let mut tx = composer.pool.begin().await?;
        let queued = match record.topic.as_str() {
            KAFKA_BOOKING_EVENTS => match self.parse::<BookingEvent>(record) {
                Some(event) => booking_messages::write(composer, &mut tx, &event).await?,
                None => None,
            },
            KAFKA_ALERT_EVENTS => match self.parse::<AlertNotice>(record) {
                Some(notice) => alert_pages::write(composer, &mut tx, &notice).await?,
                None => None,
            },
            KAFKA_SECURITY => match self.parse::<SecurityNotice>(record) {
                Some(notice) => security_notices::write(composer, &mut tx, &notice).await?,
                None => None,
            },
            KAFKA_CARE_TEAMS => {
                if let Some(event) = self.parse::<CareTeamEvent>(record) {
                    self.follow_care_team(&mut tx, &event).await?;
                }
                None
            }
            _ => None,
        };
        tx.commit().await?;
        if let Some(kind) = queued {
            composer.metrics.queued.get_or_create(&kind.into()).inc();
            self.queued.notify_one();
        }
        Ok(())
    }

    async fn follow_care_team(
        &self,
        tx: &mut sqlx::PgConnection,
        event: &CareTeamEvent,
    ) -> Result<(), Stop> {
        let Ok(patient) = event.patient_id.parse::<Uuid>() else {
            self.composer.metrics.malformed_events.inc();
            return Ok(());
        };
        let clinicians: Vec<Uuid> = event
            .clinicians
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        db::care_teams::set(&mut *tx, patient, &clinicians).await?;
        Ok(())
    }
}
