//! Service-to-service calls: a client-credentials access token, fetched from the auth service when
//! first needed and reused until shortly before it expires.
//!
//! Services call each other only over HTTP with their own identity (role `service`), never with a
//! user's token passed along, so each side's authorization stays simple and auditable.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::Secret;

pub struct ServiceToken {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceTokenError {
    #[error("no client secret configured for service client {0}")]
    NotConfigured(String),
    #[error("auth service unreachable: {0}")]
    Unreachable(String),
    #[error("auth service refused the client credentials: {0}")]
    Refused(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl ServiceToken {
    /// `auth_url` is the auth service's base URL.
    pub fn new(
        http: reqwest::Client,
        auth_url: &str,
        client_id: &str,
        client_secret: Option<Secret>,
    ) -> Self {
        ServiceToken {
            http,
            token_url: format!("{}/v1/auth/token", auth_url.trim_end_matches('/')),
            client_id: client_id.to_string(),
            client_secret,
            cached: Mutex::new(None),
        }
    }

    /// A valid token (cached, or freshly fetched).
    pub async fn get(&self) -> Result<String, ServiceTokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, valid_until)) = cached.as_ref() {
            if Instant::now() < *valid_until {
                return Ok(token.clone());
            }
        }
        let secret = self
            .client_secret
            .as_ref()
            .ok_or_else(|| ServiceTokenError::NotConfigured(self.client_id.clone()))?;
        let response = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", secret.expose()),
            ])
            .send()
            .await
            .map_err(|e| ServiceTokenError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(ServiceTokenError::Refused(response.status().to_string()));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| ServiceTokenError::Unreachable(e.to_string()))?;
        // Renew a little early so a token never expires in flight.
        let lifetime = Duration::from_secs(answer.expires_in.saturating_sub(30).max(1));
        *cached = Some((answer.access_token.clone(), Instant::now() + lifetime));
        Ok(answer.access_token)
    }

    /// Forgets the cached token (after a 401, say).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}
