//! EpiSante bookings service: practitioners, weekly schedules, slot search and conflict-free
//! booking, with reminders and a waitlist.
//!
//! No double booking is enforced by PostgreSQL itself (an exclusion constraint on practitioner
//! and time range), so it holds across any number of instances and races. Events (booked,
//! cancelled, rescheduled, reminders, waitlist offers) go through a transactional outbox to
//! `bookings.events.v1`. Layout: `config` (settings), `domain` (schedules, slots, rules,
//! statuses), `db` (queries + `migrations/`), `http` (routes), `events` (payloads, outbox
//! relay), `waitlist` (hand-over of freed slots).

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod http;
pub mod waitlist;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use episante_kit::events::outbox::{OutboxRelay, RelaySettings};
use episante_kit::events::EventBus;
use episante_kit::service::Service;
use episante_kit::{Metrics, Shutdown, TokenVerifier};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use prometheus_client::metrics::counter::Counter;

use crate::config::Settings;
use crate::http::AppState;

/// A built bookings service: routes ready to serve, background tasks (outbox relay, waitlist
/// upkeep) already running until the `shutdown` given to [`build`], which waits for them.
pub struct BookingsService {
    pub router: Router,
    pub state: AppState,
}

impl Service for BookingsService {
    const ABOUT: &'static str = "EpiSante bookings service";
    type Settings = Settings;

    /// Provisions the database, starts the outbox relay and the waitlist upkeep, builds the routes.
    /// `bus` is passed in because `episante up` shares one in-memory bus among all services.
    async fn build(
        settings: Settings,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let config = &settings.bookings;
        let pool = episante_kit::db::provision(&settings.database, &config.database, &db::MIGRATOR)
            .await?;
        let verifier = TokenVerifier::remote(&settings.tokens);
        episante_kit::revocation::spawn_listener(
            bus.clone(),
            verifier.revocations().clone(),
            "bookings",
            shutdown.clone(),
        );
        let metrics = Metrics::new("bookings");
        bus.ensure_topics(&[KAFKA_BOOKING_EVENTS, episante_kit::audit::AUDIT_TOPIC])
            .await?;
        let audit = episante_kit::audit::AuditPublisher::new(bus.clone(), "bookings");
        let interval = Duration::from_millis(config.relay_interval_ms.max(10));
        let relay = RelaySettings {
            poll: interval,
            batch: config.relay_batch,
            published: Counter::default(),
        };
        metrics.register(
            "episante_bookings_events_published",
            "Outbox rows published to the event bus",
            relay.published.clone(),
        );
        let outbox = OutboxRelay::spawn(pool.clone(), bus, shutdown.clone(), relay);
        let state = AppState::new(pool.clone(), verifier, config, &metrics, audit, outbox);
        shutdown.spawn(waitlist::run_upkeep(
            pool,
            state.rules,
            interval,
            config.idempotency_ttl_hours,
            state.outbox.clone(),
            shutdown.clone(),
        ));
        let router = http::router(state.clone(), metrics);
        Ok(BookingsService { router, state })
    }

    fn into_router(self) -> Router {
        self.router
    }
}
