//! The calendar invitation attached to confirmations (RFC 5545, through the `icalendar` crate):
//! METHOD:REQUEST for a booked or moved appointment, METHOD:CANCEL for a cancelled one. The UID
//! is the appointment's id, so a calendar that imported the booking replaces or removes that
//! same event.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use uuid::Uuid;

use crate::domain::message::InviteMethod;

pub struct Invitation<'a> {
    pub appointment_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub summary: &'a str,
    pub location: &'a str,
    pub method: InviteMethod,
}

impl Invitation<'_> {
    /// The `.ics` text (CRLF lines).
    pub fn to_ics(&self) -> String {
        let mut event = Event::new();
        event
            .uid(&format!("{}@episante", self.appointment_id))
            .timestamp(Utc::now())
            .starts(self.starts_at)
            .ends(self.ends_at)
            .summary(self.summary)
            .location(self.location);
        let method = match self.method {
            InviteMethod::Request => "REQUEST",
            InviteMethod::Cancel => {
                event.status(EventStatus::Cancelled).sequence(1);
                "CANCEL"
            }
        };
        Calendar::new()
            .append_property(("METHOD", method))
            .push(event.done())
            .done()
            .to_string()
    }
}
