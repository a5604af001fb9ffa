//! The broker's configuration: section `[broker]`, plus the shared `[kafka]`, `[database]`,
//! `[tokens]` and `[log]` sections.

use std::path::PathBuf;

use episante_kit::config::VaultConfig;
use episante_kit::db::ServiceDatabase;
use episante_kit::events::EventBusConfig;
use episante_kit::service::ServiceSettings;
use episante_kit::telemetry::LogConfig;
use episante_kit::{DatabaseConfig, TokenConfig};
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
    /// Device sessions at most (connections past the TLS handshake and CONNECT).
    pub max_connections: usize,
    /// A TLS handshake must finish within this, ms; a silent or slow socket is closed after it.
    pub handshake_timeout_ms: u64,
    /// The CONNECT packet must arrive within this after the handshake, ms.
    pub connect_timeout_ms: u64,
    /// Connections in handshake (TLS + CONNECT) at once, from everywhere: what a flood can hold.
    pub max_pending_handshakes: usize,
    /// Connections in handshake at once from one source address.
    pub max_pending_handshakes_per_ip: usize,
    /// TLS handshakes computed at once; pending connections past it wait their turn (in arrival
    /// order, their handshake clock not yet running) instead of all slowing down together.
    pub max_concurrent_handshakes: usize,
    /// Largest reading payload accepted; larger ones are refused at the socket (only their
    /// size, hash and first bytes are dead-lettered).
    pub max_payload_bytes: usize,
    /// Per-device sustained publish rate, messages per second (bursts up to twice that).
    pub device_max_msgs_per_sec: u32,
    /// Per-device sustained publish volume, bytes per second (bursts up to twice that).
    pub device_max_bytes_per_sec: u64,
    /// Readings timed more than this ahead of the broker's clock are dead-lettered, ms.
    pub max_clock_skew_ms: i64,
    /// How far a batch's first seq may jump past the device's last seq (see protocol `stream`).
    pub seq_window: u64,
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
    /// The server certificate, the device CA's certificate, and the CA key itself when there is
    /// no Vault (with `[vault]`, the key is shared through Vault: [`crate::device_ca`]).
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
            handshake_timeout_ms: 10_000,
            connect_timeout_ms: 10_000,
            max_pending_handshakes: 4_096,
            max_pending_handshakes_per_ip: 256,
            max_concurrent_handshakes: 256,
            max_payload_bytes: 256 * 1024,
            device_max_msgs_per_sec: 1_000,
            device_max_bytes_per_sec: 4 * 1024 * 1024,
            max_clock_skew_ms: 120_000,
            seq_window: 1_000_000,
            max_in_flight: 20_000,
            credential_cache_secs: 60,
            coalesce_linger_ms: 5,
            database: ServiceDatabase::named("episante_broker"),
            data_dir: episante_kit::config::default_data_dir().join("broker"),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub broker: BrokerConfig,
    pub kafka: EventBusConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    /// Where the device CA shared by every instance lives (`VAULT_ADDR`, `VAULT_TOKEN`).
    pub vault: VaultConfig,
    pub log: LogConfig,
}

impl ServiceSettings for Settings {
    fn bind(&self) -> &str {
        &self.broker.http_bind
    }

    fn log(&self) -> &LogConfig {
        &self.log
    }
}
