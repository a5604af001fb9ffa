//! EpiSante notify service: the messages that reach people who are not looking at a screen.
//! Patients get their booking confirmations, moves and cancellations (with a calendar
//! invitation), the 24 h and 1 h reminders and waitlist offers; clinicians get pages for critical
//! and high alerts of their patients, and the escalations the alerts service decides. By email,
//! SMS and the portal's bell as each person chooses, in their language, exactly once per event,
//! channel and recipient, with a delivery log.
//!
//! Layout: `config` (settings), `domain` (which message, who is paged, preferences, what it
//! says, how times read — no I/O), `directory` (contacts and practitioners, asked of auth and
//! bookings), `consumer` (events → `booking_messages` / `alert_pages` → `compose`, which writes
//! `deliveries` rows), `dispatcher` (due rows → `channels`, retries), `calendar` (.ics), `db`
//! (+ `migrations/`), `http` (preferences, the bell, the delivery log).

pub mod alert_pages;
pub mod booking_messages;
pub mod calendar;
pub mod channels;
pub mod compose;
pub mod config;
pub mod consumer;
pub mod db;
pub mod directory;
pub mod dispatcher;
pub mod domain;
pub mod http;
pub mod inbox;
pub mod metrics;
pub mod security_notices;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use episante_kit::events::EventBus;
use episante_kit::service::Service;
use episante_kit::service_token::ServiceToken;
use episante_kit::{Metrics, Shutdown, TokenVerifier};
use tokio::sync::Notify;

use crate::channels::Channels;
use crate::compose::Composer;
use crate::config::Settings;
use crate::domain::template::Templates;
use crate::http::AppState;

/// A built notify service: the consumer and the dispatcher already running until the
/// `shutdown` given to [`Service::build`], which waits for them.
pub struct NotifyService {
    pub router: Router,
    pub state: AppState,
    /// Where email goes, for `episante up`'s banner.
    pub mail_destination: String,
    /// Where SMS go, if anywhere.
    pub sms_destination: Option<String>,
}

impl Service for NotifyService {
    const ABOUT: &'static str = "EpiSante notify service";
    type Settings = Settings;

    async fn build(
        settings: Settings,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let config = &settings.notify;
        let templates = Arc::new(Templates::load().map_err(anyhow::Error::msg)?);
        let channels = Arc::new(Channels::connect(&settings).await?);
        let pool = episante_kit::db::provision(&settings.database, &config.database, &db::MIGRATOR)
            .await?;
        let verifier = TokenVerifier::remote(&settings.tokens);
        episante_kit::revocation::spawn_listener(
            bus.clone(),
            verifier.revocations().clone(),
            "notify",
            shutdown.clone(),
        );
        let metrics = Metrics::new("notify");
        let notify_metrics = metrics::NotifyMetrics::register(&metrics);
        let token = Arc::new(ServiceToken::new(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            &config.auth_url,
            &config.client_id,
            config.client_secret.clone(),
        ));
        let directory = Arc::new(directory::Directory::new(
            token,
            &config.auth_url,
            &config.bookings_url,
        )?);
        let queued = Arc::new(Notify::new());
        let composer = Arc::new(Composer {
            pool: pool.clone(),
            directory: directory.clone(),
            templates,
            metrics: notify_metrics.clone(),
            page_burst: config.page_burst.max(1),
            page_window_secs: config.page_window_secs.max(1),
            portal_url: config.portal_url.clone(),
        });
        consumer::EventConsumer {
            composer,
            bus,
            group: config.group.clone(),
            queued: queued.clone(),
            shutdown: shutdown.clone(),
        }
        .spawn();
        let mail_destination = channels.email.destination.clone();
        let sms_destination = channels.sms_destination.clone();
        dispatcher::Dispatcher {
            pool: pool.clone(),
            channels,
            queued,
            metrics: notify_metrics,
            max_attempts: config.max_attempts.max(1),
            initial_backoff: Duration::from_millis(config.initial_backoff_ms.max(1)),
            poll: Duration::from_millis(config.poll_ms.max(10)),
            concurrency: config.send_concurrency,
        }
        .spawn(shutdown.clone());
        let inbox = inbox::InboxFeed::start(pool.clone(), shutdown).await?;
        let state = AppState {
            pool,
            verifier,
            directory,
            inbox,
        };
        let router = http::router(state.clone(), metrics);
        Ok(NotifyService {
            router,
            state,
            mail_destination,
            sms_destination,
        })
    }

    fn into_router(self) -> Router {
        self.router
    }
}
