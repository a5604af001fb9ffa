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
use uuid::Uuid;

use crate::db;
use crate::db::appointments::AppointmentRow;
use crate::db::outbox::NewOutboxRow;

pub use episante_protocol::bookings::{
    BookingEvent, BookingEventKind as EventKind, BOOKING_EVENT_VERSION as EVENT_VERSION,
};

/// The event `kind` about appointment `a`.
fn about(kind: EventKind, a: &AppointmentRow, now: DateTime<Utc>) -> BookingEvent {
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
        cancelled_by: a.cancelled_by.clone(),
        cancellation_reason: a.cancellation_reason.clone(),
        occurred_at: now,
    }
}

/// The outbox row that publishes `event` at `due_at`, keyed by `key`.
fn into_row(
    event: BookingEvent,
    kind: &'static str,
    key: Uuid,
    due_at: DateTime<Utc>,
) -> NewOutboxRow {
    NewOutboxRow {
        event_id: event.event_id,
        kind,
        appointment_id: event.appointment_id,
        key: key.to_string(),
        // Serialising plain data with string keys cannot fail.
        payload: serde_json::to_string(&event).unwrap_or_default(),
        due_at,
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
        None => rows.push(into_row(
            about(EventKind::Booked, a, now),
            "booked",
            a.id,
            now,
        )),
        Some(old) => {
            let mut event = about(EventKind::Rescheduled, a, now);
            event.previous_appointment_id = Some(old.id);
            rows.push(into_row(event, "rescheduled", a.id, now));
        }
    }
    for (kind, label, secs_before) in REMINDERS {
        let due = a.starts_at - chrono::Duration::seconds(secs_before);
        if due > now {
            let mut event = about(EventKind::Reminder, a, now);
            event.reminder = Some(label.into());
            rows.push(into_row(event, kind, a.id, due));
        }
    }
    rows
}

pub fn cancelled_row(a: &AppointmentRow) -> NewOutboxRow {
    let now = Utc::now();
    into_row(about(EventKind::Cancelled, a, now), "cancelled", a.id, now)
}

pub fn slot_offered_row(hold: &db::waitlist::HoldRow) -> NewOutboxRow {
    let now = Utc::now();
    let event = BookingEvent {
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
        cancelled_by: None,
        cancellation_reason: None,
        occurred_at: now,
    };
    into_row(event, "slot_offered", hold.id, now)
}
