//! Booking events and the outbox relay that publishes them on `bookings.events.v1`.
//!
//! Handlers never publish directly: they write outbox rows in the same transaction as the change
//! (an appointment booked, cancelled, rescheduled; a slot offered to the waitlist), so an event
//! exists if and only if the change committed. Reminders are outbox rows due 24 h and 1 h before
//! the appointment: a restart loses none (they are rows, not timers), and cancelling withdraws
//! them in the same transaction. The relay claims due rows with `FOR UPDATE SKIP LOCKED` (several
//! instances share the work without sending a row twice), publishes them, waits for the bus to
//! hold them durably, then marks them sent in the same transaction. Delivery is at least once
//! only if the process dies between the bus's acknowledgement and the commit; each event carries
//! an `event_id` so consumers can drop that rare duplicate.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use episante_kit::events::EventBus;
use episante_kit::Shutdown;
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db;
use crate::db::appointments::AppointmentRow;
use crate::db::outbox::NewOutboxRow;

/// Version of the event payload below.
pub const EVENT_VERSION: u8 = 1;

/// One message on `bookings.events.v1`, keyed by appointment id (hold id for offers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingEvent {
    pub v: u8,
    /// Unique per event: consumers deduplicate on it.
    pub event_id: Uuid,
    /// `appointment.booked`, `appointment.cancelled`, `appointment.rescheduled`,
    /// `appointment.reminder`, `waitlist.slot_offered`.
    #[serde(rename = "type")]
    pub kind: String,
    pub appointment_id: Option<Uuid>,
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub appointment_type_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Reminders: `24h` or `1h`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reminder: Option<String>,
    /// Rescheduled: the appointment this one replaces.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub previous_appointment_id: Option<Uuid>,
    /// Slot offers: until when the slot is held for the patient.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub occurred_at: DateTime<Utc>,
}

impl BookingEvent {
    fn about(kind: &str, a: &AppointmentRow, now: DateTime<Utc>) -> Self {
        BookingEvent {
            v: EVENT_VERSION,
            event_id: Uuid::new_v4(),
            kind: kind.into(),
            appointment_id: Some(a.id),
            patient_id: a.patient_id,
            practitioner_id: a.practitioner_id,
            appointment_type_id: a.appointment_type_id,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            reminder: None,
            previous_appointment_id: None,
            hold_expires_at: None,
            occurred_at: now,
        }
    }

    fn into_row(self, kind: &'static str, key: Uuid, due_at: DateTime<Utc>) -> NewOutboxRow {
        NewOutboxRow {
            event_id: self.event_id,
            kind,
            appointment_id: self.appointment_id,
            key: key.to_string(),
            // Serialising plain data with string keys cannot fail.
            payload: serde_json::to_string(&self).unwrap_or_default(),
            due_at,
        }
    }
}

/// Reminder kinds and how long before the start each is due.
pub const REMINDERS: [(&str, &str, i64); 2] = [
    ("reminder_24h", "24h", 24 * 3600),
    ("reminder_1h", "1h", 3600),
];

/// The outbox rows a new booking writes: the event itself and its reminders still in the future.
pub fn booked_rows(a: &AppointmentRow, previous: Option<&AppointmentRow>) -> Vec<NewOutboxRow> {
    let now = Utc::now();
    let mut rows = Vec::with_capacity(3);
    match previous {
        None => rows
            .push(BookingEvent::about("appointment.booked", a, now).into_row("booked", a.id, now)),
        Some(old) => {
            let mut event = BookingEvent::about("appointment.rescheduled", a, now);
            event.previous_appointment_id = Some(old.id);
            rows.push(event.into_row("rescheduled", a.id, now));
        }
    }
    for (kind, label, secs_before) in REMINDERS {
        let due = a.starts_at - chrono::Duration::seconds(secs_before);
        if due > now {
            let mut event = BookingEvent::about("appointment.reminder", a, now);
            event.reminder = Some(label.into());
            rows.push(event.into_row(kind, a.id, due));
        }
    }
    rows
}

pub fn cancelled_row(a: &AppointmentRow) -> NewOutboxRow {
    let now = Utc::now();
    BookingEvent::about("appointment.cancelled", a, now).into_row("cancelled", a.id, now)
}

pub fn slot_offered_row(hold: &db::waitlist::HoldRow) -> NewOutboxRow {
    let now = Utc::now();
    BookingEvent {
        v: EVENT_VERSION,
        event_id: Uuid::new_v4(),
        kind: "waitlist.slot_offered".into(),
        appointment_id: None,
        patient_id: hold.patient_id,
        practitioner_id: hold.practitioner_id,
        appointment_type_id: hold.appointment_type_id,
        starts_at: hold.starts_at,
        ends_at: hold.ends_at,
        reminder: None,
        previous_appointment_id: None,
        hold_expires_at: Some(hold.expires_at),
        occurred_at: now,
    }
    .into_row("slot_offered", hold.id, now)
}

/// Publishes due outbox rows; wakes on `wake` (after a commit that wrote rows) or every
/// `interval`.
pub struct OutboxRelay {
    pub pool: PgPool,
    pub bus: Arc<dyn EventBus>,
    pub batch: i64,
    pub interval: Duration,
    pub wake: Arc<Notify>,
    pub published: Counter,
}

impl OutboxRelay {
    pub async fn run(self, shutdown: Shutdown) {
        loop {
            match self.publish_due().await {
                // A full batch: there may be more right away.
                Ok(n) if n as i64 == self.batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox relay: publishing failed, will retry"),
            }
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
        // A last round: events committed just before shutdown go out now, not at the next start
        // (they are safe in the table either way).
        match tokio::time::timeout(Duration::from_secs(5), self.publish_due()).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "outbox relay: last round failed"),
            Err(_) => tracing::warn!("outbox relay: last round timed out"),
            Ok(Ok(_)) => {}
        }
        tracing::info!("outbox relay stopped");
    }

    /// One relay transaction: claim due rows, publish them, mark them sent. Returns how many.
    pub async fn publish_due(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let rows = db::outbox::claim_due(&mut tx, self.batch).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // `publish` enqueues synchronously, so rows keep their order per key; then wait for all.
        let deliveries: Vec<_> = rows
            .iter()
            .map(|r| {
                self.bus
                    .publish(KAFKA_BOOKING_EVENTS, &r.key, r.payload.clone().into_bytes())
            })
            .collect();
        for delivery in deliveries {
            delivery.await?;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        db::outbox::mark_sent(&mut tx, &ids).await?;
        tx.commit().await?;
        self.published.inc_by(rows.len() as u64);
        tracing::debug!(count = rows.len(), "outbox rows published");
        Ok(rows.len())
    }
}
