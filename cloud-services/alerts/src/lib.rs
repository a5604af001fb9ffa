//! EpiSante alerts: watches every patient's vitals as they stream in and raises, tracks and
//! escalates alerts.
//!
//! `consumer` applies readings, device assignments and care-team changes from the event bus
//! (effectively once, see its docs); `engine` turns reading streams into signals using the
//! patient's rules (`domain::rules`, NEWS2 defaults in `domain::news2`); `lifecycle` turns
//! signals and clinicians' actions into alert changes; `feed` + `http::stream` serve them live
//! over SSE; `notify` escalates and sends signed webhooks. Layout as every service: `config`,
//! `domain`, `db` + `migrations/`, `http`.

pub mod config;
pub mod consumer;
pub mod db;
pub mod domain;
pub mod engine;
pub mod feed;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod rule_book;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use episante_kit::events::leases::PartitionLeases;
use episante_kit::events::outbox::{OutboxRelay, RelaySettings};
use episante_kit::events::EventBus;
use episante_kit::service::Service;
use episante_kit::{Metrics, Shutdown, TokenVerifier};
use episante_protocol::topics::KAFKA_ALERT_EVENTS;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::consumer::TelemetryConsumer;
use crate::domain::alert::{AlertState, Severity};
use crate::feed::AlertFeed;
use crate::http::AppState;
use crate::metrics::{AlertsMetrics, SeverityLabel};
use crate::notify::WebhookSender;
use crate::rule_book::RuleBook;

pub struct AlertsService {
    pub router: Router,
    pub state: AppState,
}

#[derive(Serialize, Deserialize)]
struct StoredSecret {
    secret: String,
}

/// The webhook signing key: configured, else from Vault KV (created there if absent), else a
/// random one for this run (receivers cannot verify across restarts: dev only).
async fn webhook_key(settings: &Settings) -> anyhow::Result<hmac::Key> {
    let cfg = &settings.alerts;
    if let Some(secret) = &cfg.webhook_secret {
        return Ok(hmac::Key::new(
            hmac::HMAC_SHA256,
            secret.expose().as_bytes(),
        ));
    }
    if let Some(client) = episante_kit::vault::client(&settings.vault)? {
        let stored = episante_kit::vault::read_or_create(
            &client,
            &cfg.kv_mount,
            &cfg.webhook_secret_path,
            || StoredSecret {
                secret: hex::encode(episante_kit::vault::random_bytes::<32>()),
            },
        )
        .await?;
        let secret = stored.secret;
        return Ok(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()));
    }
    if !cfg.webhook_urls.is_empty() {
        tracing::warn!(
            "no webhook secret configured and no Vault: signing webhooks with a random per-run key"
        );
    }
    Ok(hmac::Key::new(
        hmac::HMAC_SHA256,
        &episante_kit::vault::random_bytes::<32>(),
    ))
}

/// Keeps the open-alert gauges current (from the database, so every instance reports the truth).
fn spawn_gauges(pool: sqlx::PgPool, metrics: Arc<AlertsMetrics>, shutdown: Shutdown) {
    shutdown.clone().spawn(async move {
        loop {
            if let Ok(counts) = db::alerts::open_counts(&pool).await {
                let mut unacked_critical = 0;
                for severity in Severity::ALL {
                    let n: i64 = counts
                        .iter()
                        .filter(|(s, _, _)| *s == severity)
                        .map(|(_, _, n)| n)
                        .sum();
                    metrics
                        .active
                        .get_or_create(&SeverityLabel {
                            severity: severity.as_str().into(),
                        })
                        .set(n);
                }
                for (s, state, n) in &counts {
                    if *s == Severity::Critical && *state == AlertState::Active {
                        unacked_critical += n;
                    }
                }
                metrics.unacknowledged_critical.set(unacked_critical);
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    });
}

impl Service for AlertsService {
    const ABOUT: &'static str = "EpiSante alerts service";
    type Settings = Settings;

    /// Provisions the database, starts the consumer, live feed, escalation, webhook sender and metric
    /// refresher (all stop with `shutdown`) and builds the routes.
    async fn build(
        settings: Settings,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let cfg = settings.alerts.clone();
        let pool =
            episante_kit::db::provision(&settings.database, &cfg.database, &db::MIGRATOR).await?;
        let metrics = Metrics::new("alerts");
        let alert_metrics = AlertsMetrics::register(&metrics);
        let mut topics = consumer::TOPICS.to_vec();
        topics.push(KAFKA_ALERT_EVENTS);
        topics.push(episante_kit::audit::AUDIT_TOPIC);
        bus.ensure_topics(&topics).await?;
        let audit = episante_kit::audit::AuditPublisher::new(bus.clone(), "alerts");
        let outbox = OutboxRelay::spawn(
            pool.clone(),
            bus.clone(),
            shutdown.clone(),
            RelaySettings::every(Duration::from_millis(500)),
        );
        let webhook_urls = Arc::new(cfg.webhook_urls.clone());
        let rules = Arc::new(RuleBook::new(pool.clone()));
        let revocation_bus = bus.clone();
        TelemetryConsumer {
            pool: pool.clone(),
            bus,
            group: cfg.consumer_group.clone(),
            leases: PartitionLeases::new(
                pool.clone(),
                &cfg.consumer_group,
                format!("alerts-{}", uuid::Uuid::new_v4().simple()),
                Duration::from_millis(cfg.partition_lease_ms.max(100)),
            ),
            rules: rules.clone(),
            metrics: alert_metrics.clone(),
            outbox: outbox.clone(),
            webhook_urls: webhook_urls.clone(),
            max_batch: cfg.max_batch.max(1),
            hold_secs: cfg.resolve_hold_secs,
            watchdog_secs: cfg.dropout_watchdog_secs,
            shutdown: shutdown.clone(),
        }
        .spawn();
        notify::spawn_escalation(
            pool.clone(),
            webhook_urls.clone(),
            outbox.clone(),
            cfg.escalation_delays(),
            Duration::from_secs(cfg.escalation_check_secs.max(1)),
            shutdown.clone(),
        );
        WebhookSender {
            pool: pool.clone(),
            key: webhook_key(&settings).await?,
            max_attempts: cfg.webhook_max_attempts.max(1),
            initial_backoff: Duration::from_millis(cfg.webhook_initial_backoff_ms),
            metrics: alert_metrics.clone(),
        }
        .spawn(shutdown.clone());
        spawn_gauges(pool.clone(), alert_metrics, shutdown.clone());
        let verifier = TokenVerifier::remote(&settings.tokens);
        episante_kit::revocation::spawn_listener(
            revocation_bus,
            verifier.revocations().clone(),
            "alerts",
            shutdown.clone(),
        );
        let feed = AlertFeed::start(pool.clone(), shutdown).await?;
        let state = AppState {
            pool,
            verifier,
            rules,
            feed,
            outbox,
            webhook_urls,
            audit,
        };
        let router = http::router(state.clone(), metrics);
        Ok(AlertsService { router, state })
    }

    fn into_router(self) -> Router {
        self.router
    }
}
