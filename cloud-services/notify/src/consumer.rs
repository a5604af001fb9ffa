//! Booking events in, messages out: each event of `bookings.events.v1` updates the appointment's
//! state and becomes at most one message per recipient, written to `deliveries` before its offset
//! is committed. A redelivered event finds its message there already (unique on event, channel
//! and recipient) and adds nothing; a crash before the commit replays it the same way. A
//! recipient who cannot be written to (no such account, deactivated, no valid address) is
//! recorded as a failed delivery with the reason, never skipped silently. When auth or bookings
//! cannot be asked, the consumer restarts from its last commit after a pause, like a process
//! restart: nothing is lost, nothing is written twice.

use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use episante_kit::events::{EventBus, EventRecord};
use episante_kit::{Language, Shutdown};
use episante_protocol::bookings::{BookingEvent, BookingEventKind};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::calendar::Invitation;
use crate::db;
use crate::db::deliveries::NewDelivery;
use crate::directory::{Directory, LookupError};
use crate::domain::address::EmailAddress;
use crate::domain::message::MessageKind;
use crate::domain::template::Templates;
use crate::domain::when::describe;
use crate::metrics::NotifyMetrics;

pub struct BookingConsumer {
    pub pool: PgPool,
    pub bus: Arc<dyn EventBus>,
    pub group: String,
    pub directory: Arc<Directory>,
    pub templates: Arc<Templates>,
    pub portal_url: String,
    /// Woken when a message was queued, so the dispatcher sends it at once.
    pub queued: Arc<Notify>,
    pub metrics: Arc<NotifyMetrics>,
    pub shutdown: Shutdown,
}

/// Why handling an event stopped: worth a restart from the last commit.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("{0}")]
    Lookup(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] episante_kit::events::EventBusError),
}

impl BookingConsumer {
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
        self.bus.ensure_topics(&[KAFKA_BOOKING_EVENTS]).await?;
        let mut sub = self.bus.subscribe(&self.group, &[KAFKA_BOOKING_EVENTS])?;
        loop {
            let record = tokio::select! {
                record = sub.next() => record?,
                _ = self.shutdown.wait() => return Ok(()),
            };
            self.handle(&record).await?;
            sub.commit(&record)?;
        }
    }

    async fn handle(&self, record: &EventRecord) -> Result<(), Stop> {
        let event: BookingEvent = match serde_json::from_slice(&record.payload) {
            Ok(event) => event,
            Err(e) => {
                self.metrics.malformed_events.inc();
                tracing::warn!(offset = record.offset, error = %e, "booking event not understood; skipped");
                return Ok(());
            }
        };
        self.follow_appointment(&event).await?;
        let Some(kind) = MessageKind::of(&event) else {
            return Ok(());
        };
        if self.compose(&event, kind).await? {
            self.metrics.queued.get_or_create(&kind.into()).inc();
            self.queued.notify_one();
        }
        Ok(())
    }

    /// Keeps `appointments` in step with the events (what reminders are checked against).
    async fn follow_appointment(&self, event: &BookingEvent) -> Result<(), sqlx::Error> {
        let Some(id) = event.appointment_id else {
            return Ok(());
        };
        match event.kind {
            BookingEventKind::Booked => {
                db::appointments::set(&self.pool, id, true, event.starts_at).await
            }
            BookingEventKind::Rescheduled => {
                db::appointments::set(&self.pool, id, true, event.starts_at).await?;
                match event.previous_appointment_id {
                    Some(previous) => db::appointments::withdraw(&self.pool, previous).await,
                    None => Ok(()),
                }
            }
            BookingEventKind::Cancelled => {
                db::appointments::set(&self.pool, id, false, event.starts_at).await
            }
            BookingEventKind::Reminder => {
                db::appointments::remember(&self.pool, id, event.starts_at).await
            }
            BookingEventKind::SlotOffered => Ok(()),
        }
    }

    /// Writes the message `event` calls for; false when it existed already.
    async fn compose(&self, event: &BookingEvent, kind: MessageKind) -> Result<bool, Stop> {
        // A redelivered event: its message exists, so auth and bookings need not be asked again.
        if db::deliveries::exists(&self.pool, event.event_id, event.patient_id).await? {
            return Ok(false);
        }
        let contact = match self.directory.contact(event.patient_id).await {
            Ok(contact) => Some(contact),
            Err(LookupError::NotFound(_)) => None,
            Err(LookupError::Unavailable(e)) => return Err(Stop::Lookup(e)),
        };
        let address = contact.as_ref().map(|c| EmailAddress::parse(&c.email));
        let unreachable = match (&contact, &address) {
            (None, _) => Some("no such user account".to_string()),
            (Some(c), _) if !c.active => Some("the user's account is deactivated".to_string()),
            (_, Some(Err(e))) => Some(format!("no valid email address: {e}")),
            _ => None,
        };
        let language = contact.as_ref().map_or(Language::default(), |c| c.language);
        let practitioner = match self.directory.practitioner(event.practitioner_id).await {
            Ok(p) => Some(p),
            Err(LookupError::NotFound(_)) => None,
            Err(LookupError::Unavailable(e)) => return Err(Stop::Lookup(e)),
        };
        let type_name = match self
            .directory
            .appointment_type(event.appointment_type_id)
            .await
        {
            Ok(name) => name,
            Err(LookupError::NotFound(_)) => String::new(),
            Err(LookupError::Unavailable(e)) => return Err(Stop::Lookup(e)),
        };
        let zone: Tz = practitioner
            .as_ref()
            .and_then(|p| p.time_zone.parse().ok())
            .unwrap_or(Tz::UTC);
        let when = describe(event.starts_at, zone, language);
        let expires = event
            .hold_expires_at
            .map(|at| describe(at, zone, language))
            .unwrap_or_default();
        let page = if kind == MessageKind::AppointmentCancelled {
            "/book"
        } else {
            "/appointments"
        };
        let link = format!("{}{page}", self.portal_url.trim_end_matches('/'));
        let name = contact.as_ref().map_or("", |c| c.display_name.as_str());
        let practitioner_name = practitioner
            .as_ref()
            .map_or("", |p| p.display_name.as_str());
        let location = practitioner.as_ref().map_or("", |p| p.location.as_str());
        let rendered = self.templates.render(
            kind,
            language,
            &[
                ("name", name),
                ("practitioner", practitioner_name),
                ("type", &type_name),
                ("when", &when),
                ("location", location),
                ("expires", &expires),
                ("link", &link),
            ],
        );
        let invitation = match (kind.invitation(), event.appointment_id) {
            (Some(method), Some(appointment_id)) => Some(
                Invitation {
                    appointment_id,
                    starts_at: event.starts_at,
                    ends_at: event.ends_at,
                    summary: &format!("{type_name} — {practitioner_name}"),
                    location,
                    method,
                }
                .to_ics(),
            ),
            _ => None,
        };
        let address_text = match &address {
            Some(Ok(a)) => a.to_string(),
            _ => contact
                .as_ref()
                .map(|c| c.email.clone())
                .unwrap_or_default(),
        };
        if unreachable.is_some() {
            self.metrics.unreachable.inc();
        }
        Ok(db::deliveries::insert(
            &self.pool,
            &NewDelivery {
                event_id: event.event_id,
                recipient_id: event.patient_id,
                address: &address_text,
                kind: kind.as_str(),
                language: language.as_str(),
                subject: &rendered.subject,
                body_text: &rendered.text,
                body_html: &rendered.html,
                invitation: invitation.as_deref(),
                appointment_id: event.appointment_id,
                starts_at: Some(event.starts_at),
                hold_expires_at: event.hold_expires_at,
                unreachable: unreachable.as_deref(),
            },
        )
        .await?)
    }
}
