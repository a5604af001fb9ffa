//! MQTT CONNECT authentication against the device registry: identity is one thing.
//!
//! A device proves who it is three ways at once, and all three must name the same device: its
//! client certificate (signed by the device CA; Organization = device id; serial = the one the
//! registry issued last, so a certificate replaced by a rotation is refused), and its CONNECT
//! (client id = username = device id, password = the device's current secret). The device must
//! exist and not be revoked.
//!
//! Lookups are cached for `credential_cache_secs` so a reconnect storm does not become a database
//! storm; revoking or rotating drops the cache entry at once on every broker instance (the
//! registry publishes a device event that each instance acts on, see `revocation`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use episante_protocol::StreamPosition;
use sqlx::PgPool;

use crate::db::devices::Credential;
use crate::domain::{constant_time_eq, secret_digest};
use crate::metrics::BrokerMetrics;

struct CachedCredential {
    fetched_at: Instant,
    /// `None` for unknown or revoked devices.
    credential: Option<Credential>,
}

/// What a device presented.
#[derive(Debug, Clone)]
pub struct Presented<'a> {
    /// Organization of the verified client certificate.
    pub cert_device_id: &'a str,
    /// Hex serial of the client certificate.
    pub cert_serial: &'a str,
    pub client_id: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

/// An admitted device: when its credentials were issued (a later rotation ends this session)
/// and where its stream stood in the registry.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub credentials_issued_at: DateTime<Utc>,
    pub position: StreamPosition,
}

/// Why a CONNECT is refused (metric label and log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Client id, username and certificate do not name the same valid device id.
    IdentityMismatch,
    /// Unknown or revoked device, or wrong secret.
    BadCredentials,
    /// The certificate is not the device's current one.
    StaleCertificate,
    /// The registry could not be asked.
    RegistryUnavailable,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::IdentityMismatch => "identity_mismatch",
            Refusal::BadCredentials => "bad_credentials",
            Refusal::StaleCertificate => "stale_certificate",
            Refusal::RegistryUnavailable => "registry_unavailable",
        }
    }
}

pub struct DeviceAuthenticator {
    pool: PgPool,
    ttl: Duration,
    cache: Mutex<HashMap<String, CachedCredential>>,
    metrics: Arc<BrokerMetrics>,
}

/// Serials compare as hex digits without leading zeros (DER drops leading zero bytes).
pub fn normalise_serial(hex: &str) -> String {
    let s = hex.trim_start_matches('0').to_ascii_lowercase();
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

impl DeviceAuthenticator {
    pub fn new(pool: PgPool, ttl: Duration, metrics: Arc<BrokerMetrics>) -> Arc<Self> {
        Arc::new(DeviceAuthenticator {
            pool,
            ttl,
            cache: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    pub fn invalidate(&self, device_id: &str) {
        self.cache
            .lock()
            .expect("auth cache poisoned")
            .remove(device_id);
    }

    async fn credential(&self, device_id: &str) -> Result<Option<Credential>, sqlx::Error> {
        if let Some(cached) = self
            .cache
            .lock()
            .expect("auth cache poisoned")
            .get(device_id)
        {
            if cached.fetched_at.elapsed() < self.ttl {
                return Ok(cached.credential.clone());
            }
        }
        let credential = crate::db::devices::active_credential(&self.pool, device_id).await?;
        self.cache.lock().expect("auth cache poisoned").insert(
            device_id.to_string(),
            CachedCredential {
                fetched_at: Instant::now(),
                credential: credential.clone(),
            },
        );
        Ok(credential)
    }

    async fn check(&self, p: &Presented<'_>) -> Result<Admitted, Refusal> {
        if p.client_id != p.username
            || p.client_id != p.cert_device_id
            || !episante_protocol::is_valid_device_id(p.client_id)
        {
            return Err(Refusal::IdentityMismatch);
        }
        let credential = match self.credential(p.client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(Refusal::BadCredentials),
            Err(e) => {
                tracing::error!(error = %e, "device lookup failed; refusing connection");
                return Err(Refusal::RegistryUnavailable);
            }
        };
        if !constant_time_eq(&credential.secret_hash, &secret_digest(p.password)) {
            return Err(Refusal::BadCredentials);
        }
        if let Some(current) = &credential.cert_serial {
            if normalise_serial(current) != normalise_serial(p.cert_serial) {
                return Err(Refusal::StaleCertificate);
            }
        }
        Ok(Admitted {
            credentials_issued_at: credential.credentials_issued_at,
            position: StreamPosition::new(
                credential.stream_epoch.unwrap_or(0).max(0) as u64,
                credential.stream_seq.unwrap_or(0).max(0) as u64,
            ),
        })
    }

    /// Whether this CONNECT may proceed; counts and logs refusals.
    pub async fn authenticate(&self, presented: &Presented<'_>) -> Result<Admitted, Refusal> {
        let result = self.check(presented).await;
        match &result {
            Ok(_) => {
                self.metrics.auth_successes.inc();
            }
            Err(refusal) => {
                self.metrics.auth_failures.inc();
                self.metrics.refuse(refusal.code());
                tracing::info!(
                    client_id = presented.client_id,
                    certificate = presented.cert_device_id,
                    reason = refusal.code(),
                    "MQTT connection refused"
                );
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_serial;

    #[test]
    fn serials_compare_without_leading_zeros() {
        assert_eq!(normalise_serial("00AB12"), normalise_serial("ab12"));
        assert_ne!(normalise_serial("ab12"), normalise_serial("ab13"));
        assert_eq!(normalise_serial("000"), "0");
    }
}
