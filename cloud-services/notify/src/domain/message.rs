//! Which message an event calls for, and whether it is still wanted when it is sent.
//!
//! | event (`bookings.events.v1`)            | message                | attachment           | sent when        |
//! |-----------------------------------------|------------------------|----------------------|------------------|
//! | `appointment.booked`                    | `appointment_booked`   | `.ics` REQUEST       | at once          |
//! | `appointment.rescheduled`               | `appointment_rescheduled` | `.ics` REQUEST (new time) | at once     |
//! | `appointment.cancelled`                 | `appointment_cancelled`| `.ics` CANCEL        | at once          |
//! | `appointment.reminder` (`24h` / `1h`)   | `reminder_24h` / `reminder_1h` | —            | only if the appointment is still booked at that time |
//! | `waitlist.slot_offered`                 | `slot_offered`         | —                    | only before the hold expires |
//! | alert `created` / `assigned` (`alerts.events.v1`, see `page.rs`) | `alert_page` | — | only while nobody acknowledged the alert |
//! | alert `escalated`                       | `alert_escalated`      | —                    | only while nobody acknowledged the alert |
//! | more pages to one person in a minute than `page_burst` | `alert_digest` (one, at the minute's end, counting them) | — | at once |
//! | `password_changed` (`auth.security.v1`) | `password_changed`     | —                    | at once          |
//! | `new_sign_in`                           | `new_sign_in`          | —                    | at once          |
//!
//! A reminder, an offer or a page is checked again when it is about to be sent ([`still_due`]):
//! an appointment cancelled or moved since the event, a hold that expired, an alert somebody
//! acknowledged, sends nothing. Pages are urgent ([`MessageKind::is_urgent`]): quiet hours never
//! hold them.

use chrono::{DateTime, Utc};
use episante_protocol::bookings::{BookingEvent, BookingEventKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageKind {
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    Reminder24h,
    Reminder1h,
    SlotOffered,
    AlertPage,
    AlertEscalated,
    AlertDigest,
    PasswordChanged,
    NewSignIn,
}

impl MessageKind {
    pub const ALL: [MessageKind; 11] = [
        MessageKind::AppointmentBooked,
        MessageKind::AppointmentRescheduled,
        MessageKind::AppointmentCancelled,
        MessageKind::Reminder24h,
        MessageKind::Reminder1h,
        MessageKind::SlotOffered,
        MessageKind::AlertPage,
        MessageKind::AlertEscalated,
        MessageKind::AlertDigest,
        MessageKind::PasswordChanged,
        MessageKind::NewSignIn,
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
            MessageKind::AlertPage => "alert_page",
            MessageKind::AlertEscalated => "alert_escalated",
            MessageKind::AlertDigest => "alert_digest",
            MessageKind::PasswordChanged => "password_changed",
            MessageKind::NewSignIn => "new_sign_in",
        }
    }

    /// A page about an alert (what on-call staff cannot turn off, what is digested in bursts).
    pub fn is_page(self) -> bool {
        matches!(self, MessageKind::AlertPage | MessageKind::AlertEscalated)
    }

    /// Sent whatever the hour: never held by quiet hours (pages; security notices, which matter
    /// most when the person did not do it).
    pub fn is_urgent(self) -> bool {
        self.is_page()
            || matches!(
                self,
                MessageKind::AlertDigest | MessageKind::PasswordChanged | MessageKind::NewSignIn
            )
    }

    /// The kind whose channel choice applies (a digest goes where pages go).
    pub fn preference_key(self) -> MessageKind {
        match self {
            MessageKind::AlertDigest => MessageKind::AlertPage,
            kind => kind,
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

/// What is known, at send time, of what a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Circumstances {
    /// When the appointment started as the event said it.
    pub starts_at: Option<DateTime<Utc>>,
    /// The appointment as notify last heard of it.
    pub appointment: Option<AppointmentNow>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// Whether the alert is still unacknowledged (`None`: not about an alert, or unknown).
    pub alert_active: Option<bool>,
}

/// An appointment as notify last heard of it (from the events, in order per appointment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppointmentNow {
    pub booked: bool,
    pub starts_at: DateTime<Utc>,
}

/// Whether a message of `kind` should still go out `now`, given what is known of its appointment,
/// hold or alert.
pub fn still_due(
    kind: MessageKind,
    known: Circumstances,
    now: DateTime<Utc>,
) -> Result<(), &'static str> {
    let Circumstances {
        starts_at,
        appointment,
        hold_expires_at,
        alert_active,
    } = known;
    if kind.is_page() && alert_active == Some(false) {
        return Err("the alert was acknowledged or resolved");
    }
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
        let about = |starts_at, appointment| Circumstances {
            starts_at: Some(starts_at),
            appointment,
            ..Circumstances::default()
        };
        for (appointment, expected) in table {
            assert_eq!(still_due(r, about(at, appointment), now), expected);
        }
        assert_eq!(
            still_due(
                r,
                about(
                    now,
                    booked.map(|a| AppointmentNow {
                        starts_at: now,
                        ..a
                    })
                ),
                now
            ),
            Err("the appointment has started")
        );
        // Confirmations do not wait for anything.
        assert_eq!(
            still_due(MessageKind::AppointmentCancelled, about(at, None), now),
            Ok(())
        );
        let expired = Circumstances {
            hold_expires_at: Some(now - chrono::Duration::seconds(1)),
            ..about(at, None)
        };
        assert_eq!(
            still_due(MessageKind::SlotOffered, expired, now),
            Err("the held slot has expired")
        );
        // Pages go only while the alert waits for someone.
        let alert = |active| Circumstances {
            alert_active: active,
            ..Circumstances::default()
        };
        for kind in [MessageKind::AlertPage, MessageKind::AlertEscalated] {
            assert_eq!(still_due(kind, alert(Some(true)), now), Ok(()));
            assert_eq!(
                still_due(kind, alert(Some(false)), now),
                Err("the alert was acknowledged or resolved")
            );
        }
        // A digest counts pages already decided: it goes.
        assert_eq!(
            still_due(MessageKind::AlertDigest, alert(Some(false)), now),
            Ok(())
        );
    }

    #[test]
    fn kinds_round_trip() {
        for kind in MessageKind::ALL {
            assert_eq!(kind.as_str().parse::<MessageKind>().unwrap(), kind);
        }
    }
}
