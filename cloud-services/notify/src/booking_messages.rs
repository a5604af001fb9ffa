//! Booking events (`bookings.events.v1`) → the patient's message (`domain::message`): keeps the
//! appointment's state current (what reminders are checked against at send time) and writes the
//! message in the patient's language, times in the practitioner's zone, with the calendar
//! invitation attached where the table says so.

use chrono_tz::Tz;
use episante_kit::Language;
use episante_protocol::bookings::{BookingEvent, BookingEventKind};

use crate::calendar::Invitation;
use crate::compose::{About, Composer, Stop};
use crate::db;
use crate::directory::LookupError;
use crate::domain::message::MessageKind;
use crate::domain::when::describe_for;

/// Handles one booking event in the consumer's transaction `tx`; the kind of message written,
/// if one was.
pub async fn write(
    composer: &Composer,
    tx: &mut sqlx::PgConnection,
    event: &BookingEvent,
) -> Result<Option<MessageKind>, Stop> {
    follow_appointment(&mut *tx, event).await?;
    let Some(kind) = MessageKind::of(event) else {
        return Ok(None);
    };
    // A redelivered event: its message exists, so bookings need not be asked again.
    if db::deliveries::exists(&mut *tx, event.event_id, event.patient_id).await? {
        return Ok(None);
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
        .write(
            tx,
            event.event_id,
            event.patient_id,
            kind,
            &about,
            |language, theirs| {
                vec![
                    ("practitioner", practitioner_name.clone()),
                    ("type", type_name.clone()),
                    (
                        "when",
                        describe_for(event.starts_at, zone, theirs, language),
                    ),
                    ("location", location.clone()),
                    (
                        "expires",
                        event
                            .hold_expires_at
                            .map(|at| describe_for(at, zone, theirs, language))
                            .unwrap_or_default(),
                    ),
                    ("link", link.clone()),
                    ("why", why(event, language)),
                ]
            },
        )
        .await
        .map(|written| written.then_some(kind))
}

/// Who cancelled, and the practice's reason: a line of its own (empty for other messages).
fn why(event: &BookingEvent, language: Language) -> String {
    let reason = event.cancellation_reason.as_deref();
    let line = match (event.cancelled_by.as_deref(), reason, language) {
        (Some("practice"), Some(r), Language::En) => format!("Cancelled by the practice: {r}"),
        (Some("practice"), Some(r), Language::Fr) => format!("Annulé par le cabinet : {r}"),
        (Some("practice"), None, Language::En) => "Cancelled by the practice.".into(),
        (Some("practice"), None, Language::Fr) => "Annulé par le cabinet.".into(),
        (Some("patient"), _, Language::En) => "You cancelled it.".into(),
        (Some("patient"), _, Language::Fr) => "Vous l’avez annulé.".into(),
        _ => return String::new(),
    };
    format!("\n{line}\n")
}

/// Keeps `appointments` in step with the events (what reminders are checked against).
async fn follow_appointment(
    tx: &mut sqlx::PgConnection,
    event: &BookingEvent,
) -> Result<(), sqlx::Error> {
    let Some(id) = event.appointment_id else {
        return Ok(());
    };
    match event.kind {
        BookingEventKind::Booked => {
            db::appointments::set(&mut *tx, id, true, event.starts_at).await
        }
        BookingEventKind::Rescheduled => {
            db::appointments::set(&mut *tx, id, true, event.starts_at).await?;
            match event.previous_appointment_id {
                Some(previous) => db::appointments::withdraw(&mut *tx, previous).await,
                None => Ok(()),
            }
        }
        BookingEventKind::Cancelled => {
            db::appointments::set(&mut *tx, id, false, event.starts_at).await
        }
        BookingEventKind::Reminder => {
            db::appointments::remember(&mut *tx, id, event.starts_at).await
        }
        BookingEventKind::SlotOffered => Ok(()),
    }
}
