//! Booking events (`bookings.events.v1`) → the patient's message (`domain::message`): keeps the
//! appointment's state current (what reminders are checked against at send time) and writes the
//! message in the patient's language, times in the practitioner's zone, with the calendar
//! invitation attached where the table says so.

use chrono_tz::Tz;
use episante_protocol::bookings::{BookingEvent, BookingEventKind};

use crate::calendar::Invitation;
use crate::compose::{About, Composer, Stop};
use crate::db;
use crate::directory::LookupError;
use crate::domain::message::MessageKind;
use crate::domain::when::describe;

/// Handles one booking event; true when a message was written.
pub async fn handle(composer: &Composer, event: &BookingEvent) -> Result<bool, Stop> {
    follow_appointment(composer, event).await?;
    let Some(kind) = MessageKind::of(event) else {
        return Ok(false);
    };
    // A redelivered event: its message exists, so bookings need not be asked again.
    if db::deliveries::exists(&composer.pool, event.event_id, event.patient_id).await? {
        return Ok(false);
    }
    let directory = &composer.directory;
    let practitioner = match directory.practitioner(event.practitioner_id).await {
        Ok(p) => Some(p),
        Err(LookupError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let type_name = match directory.appointment_type(event.appointment_type_id).await {
        Ok(name) => name,
        Err(LookupError::NotFound(_)) => String::new(),
        Err(e) => return Err(e.into()),
    };
    let zone: Tz = practitioner
        .as_ref()
        .and_then(|p| p.time_zone.parse().ok())
        .unwrap_or(Tz::UTC);
    let page = if kind == MessageKind::AppointmentCancelled {
        "/book"
    } else {
        "/appointments"
    };
    let link = composer.link(page);
    let practitioner_name = practitioner
        .as_ref()
        .map_or(String::new(), |p| p.display_name.clone());
    let location = practitioner
        .as_ref()
        .map_or(String::new(), |p| p.location.clone());
    let invitation = match (kind.invitation(), event.appointment_id) {
        (Some(method), Some(appointment_id)) => Some(
            Invitation {
                appointment_id,
                starts_at: event.starts_at,
                ends_at: event.ends_at,
                summary: &format!("{type_name} — {practitioner_name}"),
                location: &location,
                method,
            }
            .to_ics(),
        ),
        _ => None,
    };
    let about = About {
        appointment_id: event.appointment_id,
        alert_id: None,
        starts_at: Some(event.starts_at),
        hold_expires_at: event.hold_expires_at,
        invitation,
    };
    composer
        .write(event.event_id, event.patient_id, kind, &about, |language| {
            vec![
                ("practitioner", practitioner_name.clone()),
                ("type", type_name.clone()),
                ("when", describe(event.starts_at, zone, language)),
                ("location", location.clone()),
                (
                    "expires",
                    event
                        .hold_expires_at
                        .map(|at| describe(at, zone, language))
                        .unwrap_or_default(),
                ),
                ("link", link.clone()),
            ]
        })
        .await
}

/// Keeps `appointments` in step with the events (what reminders are checked against).
async fn follow_appointment(composer: &Composer, event: &BookingEvent) -> Result<(), sqlx::Error> {
    let pool = &composer.pool;
    let Some(id) = event.appointment_id else {
        return Ok(());
    };
    match event.kind {
        BookingEventKind::Booked => db::appointments::set(pool, id, true, event.starts_at).await,
        BookingEventKind::Rescheduled => {
            db::appointments::set(pool, id, true, event.starts_at).await?;
            match event.previous_appointment_id {
                Some(previous) => db::appointments::withdraw(pool, previous).await,
                None => Ok(()),
            }
        }
        BookingEventKind::Cancelled => {
            db::appointments::set(pool, id, false, event.starts_at).await
        }
        BookingEventKind::Reminder => db::appointments::remember(pool, id, event.starts_at).await,
        BookingEventKind::SlotOffered => Ok(()),
    }
}
