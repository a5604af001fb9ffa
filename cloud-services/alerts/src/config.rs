//! The alerts service's configuration: section `[alerts]` plus the shared `[database]`,
//! `[tokens]`, `[vault]`, `[kafka]` and `[log]` sections.

use std::time::Duration;

use episante_kit::db::ServiceDatabase;
use episante_kit::events::EventBusConfig;
use episante_kit::service::ServiceSettings;
use episante_kit::telemetry::LogConfig;
use episante_kit::{DatabaseConfig, Secret, TokenConfig, VaultConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertsConfig {
    /// HTTP listen address (`EPISANTE_ALERTS__BIND`).
    pub bind: String,
    pub database: ServiceDatabase,
    /// Kafka consumer group (committed offsets); instances with one group share the partitions,
    /// split by leases in this service's database (`episante_kit::events::leases`).
    pub consumer_group: String,
    /// How long a partition lease lasts unless renewed, ms: how soon a dead instance's
    /// partitions move to the others (renewed every quarter of it).
    pub partition_lease_ms: u64,
    /// Records applied per database transaction at most.
    pub max_batch: usize,
    /// A resolved-looking vital must stay normal this long before the alert auto-resolves, s, on
    /// the platform's clock (batches' receive time), whatever the device clocks say.
    pub resolve_hold_secs: u64,
    /// A critical alert not acknowledged within this is escalated to its whole care team, s.
    pub escalate_after_secs: u64,
    /// ...and, still unacknowledged this long after it was raised, to the on-call staff, s
    /// (never sooner than `escalate_after_secs`).
    pub escalate_to_on_call_after_secs: u64,
    /// How often the escalation check runs, s.
    pub escalation_check_secs: u64,
    /// A device none of whose readings is accepted this long (wall clock: silent, or sending only
    /// duplicates) raises a dropout alert, s; 0 disables the watchdog.
    pub dropout_watchdog_secs: u64,
    /// Webhook URLs notified of new critical alerts and escalations.
    pub webhook_urls: Vec<String>,
    /// HMAC-SHA-256 key signing webhook bodies. Unset: read from Vault KV
    /// (`webhook_secret_path`), else generated at start (and logged as such).
    pub webhook_secret: Option<Secret>,
    pub kv_mount: String,
    pub webhook_secret_path: String,
    /// Delivery attempts before a webhook is given up.
    pub webhook_max_attempts: u32,
    /// First retry delay, ms; doubles each attempt (capped at 5 minutes).
    pub webhook_initial_backoff_ms: u64,
}

impl AlertsConfig {
    /// The delay before each escalation level, from the alert's creation, s (see
    /// `domain::alert::LAST_ESCALATION_LEVEL`).
    pub fn escalation_delays(&self) -> Vec<Duration> {
        let first = self.escalate_after_secs;
        let second = self.escalate_to_on_call_after_secs.max(first);
        vec![Duration::from_secs(first), Duration::from_secs(second)]
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            bind: "0.0.0.0:8086".into(),
            database: ServiceDatabase::named("episante_alerts"),
            consumer_group: "episante-alerts".into(),
            partition_lease_ms: 5_000,
            max_batch: 1000,
            resolve_hold_secs: 120,
            escalate_after_secs: 300,
            escalate_to_on_call_after_secs: 600,
            escalation_check_secs: 5,
            dropout_watchdog_secs: 120,
            webhook_urls: Vec::new(),
            webhook_secret: None,
            kv_mount: "secret".into(),
            webhook_secret_path: "episante/alerts/webhook-secret".into(),
            webhook_max_attempts: 8,
            webhook_initial_backoff_ms: 1000,
        }
    }
}

/// Everything the alerts service reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub alerts: AlertsConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub vault: VaultConfig,
    pub kafka: EventBusConfig,
    pub log: LogConfig,
}

impl ServiceSettings for Settings {
    fn bind(&self) -> &str {
        &self.alerts.bind
    }

    fn log(&self) -> &LogConfig {
        &self.log
    }
}
