//! Booking events on `bookings.events.v1`: written by bookings' outbox
//! (`cloud-services/bookings/src/events.rs`), read by notify. One definition for producer and
//! consumer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the event payload below.
pub const BOOKING_EVENT_VERSION: u8 = 1;

/// One message on `bookings.events.v1`, keyed by appointment id (hold id for offers).
/// `patient_id` is the patient's user id (auth), as in bookings' tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingEvent {
    pub v: u8,
    /// Unique per event: consumers deduplicate on it.
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub kind: BookingEventKind,
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
    /// Cancellations: `patient` or `practice`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cancelled_by: Option<String>,
    /// Cancellations by the practice: the reason it gave.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cancellation_reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// What happened: the event's `type` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingEventKind {
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
