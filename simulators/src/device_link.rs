//! Connecting a simulated device: registration through the device registry (mutual TLS
//! credentials) or a plain TCP connection to a third-party broker.

use std::time::Duration;

use anyhow::{bail, Context};
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use serde_json::{json, Value};

/// Where and how simulated devices connect.
#[derive(Clone, Debug)]
pub struct BrokerTarget {
    pub host: String,
    pub port: u16,
    /// EpiSante device registry (then devices use mutual TLS and `/tenants/{id}/` topics).
    pub registry: Option<String>,
    pub token: Option<String>,
}

impl BrokerTarget {
    /// Registers `id` in the device registry; returns its credentials (secret, certificate,
    /// key, CA), or `None` without a registry.
    pub async fn register(
        &self,
        http: &reqwest::Client,
        id: &str,
    ) -> anyhow::Result<Option<Value>> {
        let Some(registry) = &self.registry else {
            return Ok(None);
        };
        let token = self
            .token
            .as_deref()
            .context("--registry needs --token (or EPISANTE_TOKEN)")?;
        let mut response = http
            .post(format!("{registry}/v1/devices"))
            .bearer_auth(token)
            .json(&json!({"device_id": id, "label": "simulated"}))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            // Registered by an earlier run: new credentials for the same device.
            response = http
                .post(format!("{registry}/v1/devices/{id}/rotate"))
                .bearer_auth(token)
                .send()
                .await?;
        }
        if !response.status().is_success() {
            bail!(
                "registering {id}: {} {}",
                response.status(),
                response.text().await?
            );
        }
        Ok(Some(response.json().await?))
    }

    /// Registers `id` if a registry is configured; returns its MQTT options and topic prefix.
    pub async fn device(
        &self,
        http: &reqwest::Client,
        id: &str,
    ) -> anyhow::Result<(MqttOptions, String)> {
        let creds = self.register(http, id).await?;
        Ok(self.options(id, creds.as_ref()))
    }

    /// MQTT options and topic prefix for `id` with the registry's `creds` (mutual TLS), or for a
    /// plain broker without them.
    pub fn options(&self, id: &str, creds: Option<&Value>) -> (MqttOptions, String) {
        let mut options = MqttOptions::new(id, &self.host, self.port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        let Some(creds) = creds else {
            return (options, format!("sim/{id}"));
        };
        let field = |f: &str| creds[f].as_str().unwrap_or_default().as_bytes().to_vec();
        options.set_credentials(id, creds["secret"].as_str().unwrap_or_default());
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca: field("ca_pem"),
            alpn: None,
            client_auth: Some((field("certificate_pem"), field("private_key_pem"))),
        }));
        (options, format!("/tenants/{id}"))
    }

    pub fn end_to_end(&self) -> bool {
        self.registry.is_some()
    }
}

/// The `p` quantile of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let idx = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    Some(sorted_us[idx] as f64 / 1000.0)
}
