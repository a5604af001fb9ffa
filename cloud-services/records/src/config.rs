//! The records service's configuration: section `[records]` plus the shared `[database]`,
//! `[tokens]`, `[vault]`, `[kafka]` and `[log]` sections (see `episante_kit::config`).

use std::path::PathBuf;

use episante_kit::db::ServiceDatabase;
use episante_kit::events::EventBusConfig;
use episante_kit::service::ServiceSettings;
use episante_kit::telemetry::LogConfig;
use episante_kit::{DatabaseConfig, Secret, TokenConfig, VaultConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordsConfig {
    /// HTTP listen address (`EPISANTE_RECORDS__BIND`).
    pub bind: String,
    pub database: ServiceDatabase,
    /// Where the local master key lives when Vault is not configured (dev only).
    pub data_dir: PathBuf,
    /// Vault transit mount and key that wraps the data keys.
    pub transit_mount: String,
    pub transit_key: String,
    /// Vault KV v2 mount and path of the blind-index HMAC key.
    pub kv_mount: String,
    pub blind_index_key_path: String,
    /// Vault KV v2 path (under `kv_mount`) of the audit chain's HMAC key; without Vault,
    /// `audit.key` in `data_dir`.
    pub audit_key_path: String,
    /// Vault KV v2 path of the audit checkpoint (the chain's length and head, kept outside the
    /// database); without Vault, `audit-checkpoint.json` in `data_dir`.
    pub audit_checkpoint_path: String,
    /// The checkpoint follows the chain within this many ms: the window in which removing the
    /// newest entries can go unseen.
    pub audit_checkpoint_interval_ms: u64,
    /// Consumer group of `audit.events.v1` (accesses served by alerts and bookings).
    pub audit_consumer_group: String,
    /// A data key encrypts at most this many records…
    pub data_key_max_uses: u64,
    /// …and is used for at most this long before a fresh one is asked for, seconds.
    pub data_key_max_age_secs: u64,
    /// Unwrapped data keys kept in memory for reads.
    pub data_key_cache_size: usize,
    /// Base URL of the auth service (client-credentials tokens for calls to other services).
    pub auth_url: String,
    /// Base URL of the device registry (the broker's HTTP API).
    pub registry_url: String,
    /// Base URL of the alerts service (vitals history for FHIR Observations).
    pub alerts_url: Option<String>,
    /// This service's client credentials at the auth service.
    pub client_id: String,
    pub client_secret: Option<Secret>,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            bind: "0.0.0.0:8082".into(),
            database: ServiceDatabase::named("episante_records"),
            data_dir: episante_kit::config::default_data_dir().join("records"),
            transit_mount: "transit".into(),
            transit_key: "records-pii".into(),
            kv_mount: "secret".into(),
            blind_index_key_path: "episante/records/blind-index-key".into(),
            audit_key_path: "episante/records/audit-key".into(),
            audit_checkpoint_path: "episante/records/audit-checkpoint".into(),
            audit_checkpoint_interval_ms: 1000,
            audit_consumer_group: "records-audit".into(),
            data_key_max_uses: 10_000,
            data_key_max_age_secs: 300,
            data_key_cache_size: 10_000,
            auth_url: "http://127.0.0.1:8081".into(),
            registry_url: "http://127.0.0.1:8085".into(),
            alerts_url: Some("http://127.0.0.1:8086".into()),
            client_id: "records".into(),
            client_secret: None,
        }
    }
}

/// Everything the records service reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub records: RecordsConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub vault: VaultConfig,
    pub kafka: EventBusConfig,
    pub log: LogConfig,
}

impl ServiceSettings for Settings {
    fn bind(&self) -> &str {
        &self.records.bind
    }

    fn log(&self) -> &LogConfig {
        &self.log
    }
}
