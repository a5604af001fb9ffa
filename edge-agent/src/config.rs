//! The edge agent's configuration: section `[edge]` (file or `EPISANTE_EDGE__*`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::buffer::{FsyncPolicy, FullPolicy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// Delete readings only on the EpiSante broker's `acked_through` (Kafka has them).
    #[default]
    EndToEnd,
    /// Delete readings on the MQTT PUBACK: for plain brokers (e.g. Mosquitto) that send no
    /// end-to-end acks. A broker crash after PUBACK can lose readings.
    Puback,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgeConfig {
    pub device_id: String,
    /// MQTT password (the registry's device secret); empty sends no credentials.
    pub secret: String,
    pub broker_host: String,
    pub broker_port: u16,
    /// Mutual TLS: CA, client certificate and key (PEM files, as issued by the registry).
    pub ca_path: Option<PathBuf>,
    pub cert_path: Option<PathBuf>,
    pub key_path: Option<PathBuf>,
    /// Topic prefix: `/tenants/{id}` for EpiSante; anything for a plain broker.
    pub topic_prefix: Option<String>,
    pub ack_mode: AckMode,
    pub buffer_dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub fsync_interval_ms: u64,
    pub max_buffered_readings: u64,
    pub full_policy: FullPolicy,
    /// A batch goes out when it has this many readings…
    pub batch_max_readings: usize,
    /// …or when its oldest reading is this old.
    pub batch_max_age_ms: u64,
    /// Readings published but not yet acknowledged, at most (then wait for acks).
    pub max_unacked_readings: u64,
    /// Resend from the last ack when no ack came for this long while readings were unacked.
    pub ack_timeout_ms: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    pub heartbeat_secs: u64,
    /// Where `episante-edge status` reads the agent's state (rewritten every second).
    pub status_file: Option<PathBuf>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            device_id: String::new(),
            secret: String::new(),
            broker_host: "localhost".into(),
            broker_port: 8883,
            ca_path: None,
            cert_path: None,
            key_path: None,
            topic_prefix: None,
            ack_mode: AckMode::EndToEnd,
            buffer_dir: episante_runtime::config::default_data_dir().join("edge"),
            fsync: FsyncPolicy::Interval,
            fsync_interval_ms: 200,
            max_buffered_readings: 5_000_000,
            full_policy: FullPolicy::DropOldest,
            batch_max_readings: 200,
            batch_max_age_ms: 500,
            max_unacked_readings: 20_000,
            ack_timeout_ms: 30_000,
            reconnect_min_ms: 200,
            reconnect_max_ms: 30_000,
            heartbeat_secs: 30,
            status_file: None,
        }
    }
}

impl EdgeConfig {
    pub fn topic_prefix(&self) -> String {
        self.topic_prefix
            .clone()
            .unwrap_or_else(|| format!("/tenants/{}", self.device_id))
    }

    pub fn status_path(&self) -> PathBuf {
        self.status_file
            .clone()
            .unwrap_or_else(|| self.buffer_dir.join("status.json"))
    }
}
