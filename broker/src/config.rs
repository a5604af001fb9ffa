//! The broker's configuration: section `[broker]`, plus the shared `[kafka]`, `[database]`,
//! `[tokens]` and `[log]` sections.

use std::path::PathBuf;

use episante_kit::config::ConfigError;
use episante_kit::db::ServiceDatabase;
use episante_kit::events::EventBusConfig;
use episante_kit::telemetry::LogConfig;
use episante_kit::{ConfigSource, DatabaseConfig, TokenConfig};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerConfig {
    /// Device registry HTTP API (`EPISANTE_BROKER__HTTP_BIND`).
    pub http_bind: String,
    /// MQTT over mutual TLS, the only device listener (see docs/ARCHITECTURE.md for why there is
    /// no plaintext one).
    pub mqtt_bind: String,
    /// Names and addresses the broker's server certificate is valid for (when it issues its own).
    pub tls_hostnames: Vec<String>,
    /// A server certificate chain and key (PEM files) to use instead of one issued by the device
    /// CA, e.g. from a public CA. Client certificates are still verified against the device CA.
    pub tls_cert_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    pub max_connections: usize,
    /// Largest reading payload accepted; larger ones are dead-lettered.
    pub max_payload_bytes: usize,
    /// Produced-but-unconfirmed Kafka records at most; beyond it the bridge stops reading from
    /// the MQTT router (backpressure) instead of buffering without bound.
    pub max_in_flight: usize,
    /// How long a device's readings may wait to share a Kafka record with its next ones, ms
    /// (0: one record per MQTT message).
    pub coalesce_linger_ms: u64,
    /// How long a device's credential lookup is cached (revocation through this instance's API
    /// takes effect at once; through another instance, within this time).
    pub credential_cache_secs: u64,
    pub database: ServiceDatabase,
    /// Device CA and server certificate (when Vault PKI is not used).
    pub data_dir: PathBuf,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            http_bind: "0.0.0.0:8085".into(),
            mqtt_bind: "0.0.0.0:8883".into(),
            tls_hostnames: vec!["localhost".into(), "127.0.0.1".into()],
            tls_cert_path: None,
            tls_key_path: None,
            max_connections: 20_000,
            max_payload_bytes: 256 * 1024,
            max_in_flight: 20_000,
            credential_cache_secs: 60,
            coalesce_linger_ms: 5,
            database: ServiceDatabase::named("episante_broker"),
            data_dir: episante_kit::config::default_data_dir().join("broker"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub broker: BrokerConfig,
    pub kafka: EventBusConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub log: LogConfig,
}

impl Settings {
    pub fn from_source(source: &ConfigSource) -> Result<Self, ConfigError> {
        Ok(Settings {
            broker: source.section("broker")?,
            kafka: source.section("kafka")?,
            database: source.section("database")?,
            tokens: source.section("tokens")?,
            log: source.section("log")?,
        })
    }
}
