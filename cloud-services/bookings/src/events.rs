//! Booking events, published on `bookings.events.v1` through the kit's outbox relay
//! (`episante_kit::events::outbox`).
//!
//! Handlers never publish directly: they write outbox rows in the same transaction as the change
//! (an appointment booked, cancelled, rescheduled; a slot offered to the waitlist), so an event
//! exists if and only if the change committed. Reminders are outbox rows due 24 h and 1 h before
//! the appointment: a restart loses none (they are rows, not timers), and cancelling withdraws
//! them in the same transaction. Delivery is at least once only if the process dies between the
//! bus's acknowledgement and the relay's commit; each event carries an `event_id` so consumers
//! can drop that rare duplicate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
    #[serde(rename = "type")]
    pub kind: EventKind,
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

/// What happened: the event's `type` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "appointment.booked")]
    Booked,
    #[serde(rename = "appointment.cancelled")]
    Cancelled,
    #[serde(rename = "appointment.rescheduled")]
    Rescheduled,
    /// Due 24 h and 1 h before the start (`reminder` says which).
    #[serde(rename = "appointment.reminder")]
    Reminder,
    /// A freed slot is held for the first patient on the waitlist.
    #[serde(rename = "waitlist.slot_offered")]
    SlotOffered,
}

impl BookingEvent {
    fn about(kind: EventKind, a: &AppointmentRow, now: DateTime<Utc>) -> Self {
        BookingEvent {
            v: EVENT_VERSION,
            event_id: Uuid::new_v4(),
            kind,
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
        None => {
            rows.push(BookingEvent::about(EventKind::Booked, a, now).into_row("booked", a.id, now))
        }
        Some(old) => {
            let mut event = BookingEvent::about(EventKind::Rescheduled, a, now);
            event.previous_appointment_id = Some(old.id);
            rows.push(event.into_row("rescheduled", a.id, now));
        }
    }
    for (kind, label, secs_before) in REMINDERS {
        let due = a.starts_at - chrono::Duration::seconds(secs_before);
        if due > now {
            let mut event = BookingEvent::about(EventKind::Reminder, a, now);
            event.reminder = Some(label.into());
            rows.push(event.into_row(kind, a.id, due));
        }
    }
    rows
}

pub fn cancelled_row(a: &AppointmentRow) -> NewOutboxRow {
    let now = Utc::now();
    BookingEvent::about(EventKind::Cancelled, a, now).into_row("cancelled", a.id, now)
}

pub fn slot_offered_row(hold: &db::waitlist::HoldRow) -> NewOutboxRow {
    let now = Utc::now();
    BookingEvent {
        v: EVENT_VERSION,
        event_id: Uuid::new_v4(),
        kind: EventKind::SlotOffered,
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
