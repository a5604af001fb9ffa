//! Which message a booking event calls for.
//!
//! | event (`bookings.events.v1`)            | message                | attachment           | sent when        |
//! |-----------------------------------------|------------------------|----------------------|------------------|
//! | `appointment.booked`                    | `appointment_booked`   | `.ics` REQUEST       | at once          |
//! | `appointment.rescheduled`               | `appointment_rescheduled` | `.ics` REQUEST (new time) | at once     |
//! | `appointment.cancelled`                 | `appointment_cancelled`| `.ics` CANCEL        | at once          |
//! | `appointment.reminder` (`24h` / `1h`)   | `reminder_24h` / `reminder_1h` | —            | only if the appointment is still booked at that time |
//! | `waitlist.slot_offered`                 | `slot_offered`         | —                    | only before the hold expires |
//!
//! A reminder or an offer is checked again when it is about to be sent ([`still_due`]): an
//! appointment cancelled or moved since the event, or a hold that expired, sends nothing.

use chrono::{DateTime, Utc};
use episante_protocol::bookings::{BookingEvent, BookingEventKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    Reminder24h,
    Reminder1h,
    SlotOffered,
}

impl MessageKind {
    pub const ALL: [MessageKind; 6] = [
        MessageKind::AppointmentBooked,
        MessageKind::AppointmentRescheduled,
        MessageKind::AppointmentCancelled,
        MessageKind::Reminder24h,
        MessageKind::Reminder1h,
        MessageKind::SlotOffered,
    ];

    /// As stored and as the templates' section names.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::AppointmentBooked => "appointment_booked",
            MessageKind::AppointmentRescheduled => "appointment_rescheduled",
            MessageKind::AppointmentCancelled => "appointment_cancelled",
            MessageKind::Reminder24h => "reminder_24h",
            MessageKind::Reminder1h => "reminder_1h",
            MessageKind::SlotOffered => "slot_offered",
        }
    }

    /// The message `event` calls for (None: a reminder of an unknown kind).
    pub fn of(event: &BookingEvent) -> Option<MessageKind> {
        Some(match event.kind {
            BookingEventKind::Booked => MessageKind::AppointmentBooked,
            BookingEventKind::Rescheduled => MessageKind::AppointmentRescheduled,
            BookingEventKind::Cancelled => MessageKind::AppointmentCancelled,
            BookingEventKind::Reminder => match event.reminder.as_deref() {
                Some("24h") => MessageKind::Reminder24h,
                Some("1h") => MessageKind::Reminder1h,
                _ => return None,
            },
            BookingEventKind::SlotOffered => MessageKind::SlotOffered,
        })
    }

    /// The calendar invitation attached, if any.
    pub fn invitation(self) -> Option<InviteMethod> {
        match self {
            MessageKind::AppointmentBooked | MessageKind::AppointmentRescheduled => {
                Some(InviteMethod::Request)
            }
            MessageKind::AppointmentCancelled => Some(InviteMethod::Cancel),
            _ => None,
        }
    }

    /// Whether the message depends on the appointment still being booked at send time.
    pub fn needs_booked_appointment(self) -> bool {
        matches!(self, MessageKind::Reminder24h | MessageKind::Reminder1h)
    }
}

impl std::str::FromStr for MessageKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown message kind {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteMethod {
    Request,
    Cancel,
}

/// An appointment as notify last heard of it (from the events, in order per appointment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppointmentNow {
    pub booked: bool,
    pub starts_at: DateTime<Utc>,
}

/// Whether a message of `kind` about an appointment that started at `starts_at` (when the event
/// was written) should still go out `now`, given what is known of the appointment and of a hold.
pub fn still_due(
    kind: MessageKind,
    starts_at: Option<DateTime<Utc>>,
    appointment: Option<AppointmentNow>,
    hold_expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    if kind.needs_booked_appointment() {
        match appointment {
            Some(a) if !a.booked => return Err("the appointment was cancelled"),
            Some(a) if Some(a.starts_at) != starts_at => return Err("the appointment was moved"),
            None => return Err("the appointment is unknown"),
            Some(_) => {}
        }
        if starts_at.is_some_and(|s| s <= now) {
            return Err("the appointment has started");
        }
    }
    if kind == MessageKind::SlotOffered && hold_expires_at.is_some_and(|e| e <= now) {
        return Err("the held slot has expired");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_goes_only_for_a_booked_appointment_at_its_time() {
        let now = Utc::now();
        let at = now + chrono::Duration::hours(24);
        let booked = Some(AppointmentNow {
            booked: true,
            starts_at: at,
        });
        let r = MessageKind::Reminder24h;
        // (appointment now, expected)
        let table: [(Option<AppointmentNow>, Result<(), &str>); 4] = [
            (booked, Ok(())),
            (
                Some(AppointmentNow {
                    booked: false,
                    starts_at: at,
                }),
                Err("the appointment was cancelled"),
            ),
            (
                Some(AppointmentNow {
                    booked: true,
                    starts_at: at + chrono::Duration::hours(1),
                }),
                Err("the appointment was moved"),
            ),
            (None, Err("the appointment is unknown")),
        ];
        for (appointment, expected) in table {
            assert_eq!(still_due(r, Some(at), appointment, None, now), expected);
        }
        assert_eq!(
            still_due(
                r,
                Some(now),
                booked.map(|a| AppointmentNow {
                    starts_at: now,
                    ..a
                }),
                None,
                now
            ),
            Err("the appointment has started")
        );
        // Confirmations do not wait for anything.
        assert_eq!(
            still_due(MessageKind::AppointmentCancelled, Some(at), None, None, now),
            Ok(())
        );
        let expired = Some(now - chrono::Duration::seconds(1));
        assert_eq!(
            still_due(MessageKind::SlotOffered, Some(at), None, expired, now),
            Err("the held slot has expired")
        );
    }

    #[test]
    fn kinds_round_trip() {
        for kind in MessageKind::ALL {
            assert_eq!(kind.as_str().parse::<MessageKind>().unwrap(), kind);
        }
    }
}
