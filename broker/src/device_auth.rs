//! MQTT CONNECT authentication against the device registry.
//!
//! rumqttd calls this for every connection (on its listener's own runtime). A device must present
//! client id = username = its device id and its secret; the device must exist and not be revoked.
//! Lookups are cached for `credential_cache_secs` so a reconnect storm does not become a database
//! storm; revoking or rotating through this instance drops the cache entry at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::domain::{constant_time_eq, secret_digest};
use crate::metrics::BrokerMetrics;

struct CachedCredential {
    fetched_at: Instant,
    /// The active secret's digest; `None` for unknown or revoked devices.
    secret_hash: Option<Vec<u8>>,
}

pub struct DeviceAuthenticator {
    pool: PgPool,
    ttl: Duration,
    cache: Mutex<HashMap<String, CachedCredential>>,
    metrics: Arc<BrokerMetrics>,
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

    async fn secret_hash(&self, device_id: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        if let Some(cached) = self
            .cache
            .lock()
            .expect("auth cache poisoned")
            .get(device_id)
        {
            if cached.fetched_at.elapsed() < self.ttl {
                return Ok(cached.secret_hash.clone());
            }
        }
        let hash = crate::db::devices::active_secret_hash(&self.pool, device_id).await?;
        self.cache.lock().expect("auth cache poisoned").insert(
            device_id.to_string(),
            CachedCredential {
                fetched_at: Instant::now(),
                secret_hash: hash.clone(),
            },
        );
        Ok(hash)
    }

    /// Whether this CONNECT may proceed.
    pub async fn authenticate(&self, client_id: &str, username: &str, password: &str) -> bool {
        let ok = client_id == username
            && episante_protocol::is_valid_device_id(client_id)
            && match self.secret_hash(client_id).await {
                Ok(Some(hash)) => constant_time_eq(&hash, &secret_digest(password)),
                Ok(None) => false,
                Err(e) => {
                    tracing::error!(error = %e, "device lookup failed; refusing connection");
                    false
                }
            };
        if ok {
            self.metrics.auth_successes.inc();
        } else {
            self.metrics.auth_failures.inc();
            tracing::info!(client_id, "MQTT connection refused: bad device credentials");
        }
        ok
    }
}
