//! The other services records calls over HTTP, with its own service token: the device registry
//! (is this device registered and not revoked?) and the alerts service (vitals history for FHIR
//! Observations).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use episante_kit::service_token::ServiceToken;
use episante_kit::ApiError;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub struct Peers {
    http: reqwest::Client,
    token: Arc<ServiceToken>,
    registry_url: String,
    alerts_url: Option<String>,
}

/// What the registry says about a device.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredDevice {
    pub device_id: String,
    pub revoked: bool,
}

/// One per-minute rollup point of the alerts service's vitals history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VitalPoint {
    pub t: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VitalSeries {
    pub vital: episante_protocol::VitalKind,
    pub unit: String,
    pub points: Vec<VitalPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VitalsHistory {
    pub patient_id: Uuid,
    pub resolution: String,
    pub series: Vec<VitalSeries>,
}

/// The finest rollup the alerts service serves for `span` within its 10,000 points per series:
/// minutes up to a week, then 5-minute buckets (a month), and coarser beyond.
pub fn resolution_for(span: chrono::Duration) -> &'static str {
    const LIMIT: i64 = 10_000;
    [("1m", 1), ("5m", 5), ("15m", 15), ("1h", 60)]
        .into_iter()
        .find(|(_, minutes)| span.num_minutes() / minutes <= LIMIT)
        .map_or("1d", |(name, _)| name)
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "{what} unavailable");
    ApiError::Unavailable(format!("{what} is unavailable; try again later"))
}

impl Peers {
    pub fn new(
        token: Arc<ServiceToken>,
        registry_url: &str,
        alerts_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        Ok(Peers {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            token,
            registry_url: registry_url.trim_end_matches('/').to_string(),
            alerts_url: alerts_url.map(|u| u.trim_end_matches('/').to_string()),
        })
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, ApiError> {
        for attempt in 0..2 {
            let token = self
                .token
                .get()
                .await
                .map_err(|e| unavailable("the auth service", e))?;
            let response = self
                .http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| unavailable(url, e))?;
            // A token signed by a key the peer no longer accepts: fetch a new one once.
            if response.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.token.invalidate().await;
                continue;
            }
            return Ok(response);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// The device, if the registry knows it.
    pub async fn device(&self, device_id: &str) -> Result<Option<RegisteredDevice>, ApiError> {
        let url = format!("{}/v1/devices/{device_id}", self.registry_url);
        let response = self.get(&url).await?;
        match response.status() {
            StatusCode::OK => Ok(Some(
                response
                    .json()
                    .await
                    .map_err(|e| unavailable("the device registry", e))?,
            )),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(unavailable("the device registry", status)),
        }
    }

    /// Per-minute vitals of `patient` between `from` and `to`.
    pub async fn vitals(
        &self,
        patient: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<VitalsHistory, ApiError> {
        let base = self.alerts_url.as_deref().ok_or_else(|| {
            ApiError::Unavailable("no alerts service is configured for vitals history".into())
        })?;
        let url = format!(
            "{base}/v1/patients/{patient}/vitals?from={}&to={}&resolution={}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            resolution_for(to - from),
        );
        let response = self.get(&url).await?;
        match response.status() {
            StatusCode::OK => response
                .json()
                .await
                .map_err(|e| unavailable("the alerts service", e)),
            status => Err(unavailable("the alerts service", status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolution_for;
    use chrono::Duration;

    #[test]
    fn the_finest_resolution_within_the_alerts_services_point_limit() {
        assert_eq!(resolution_for(Duration::hours(24)), "1m");
        assert_eq!(resolution_for(Duration::days(6)), "1m");
        assert_eq!(resolution_for(Duration::days(7)), "5m");
        assert_eq!(resolution_for(Duration::days(31)), "5m");
        assert_eq!(resolution_for(Duration::days(100)), "15m");
        assert_eq!(resolution_for(Duration::days(400)), "1h");
        assert_eq!(resolution_for(Duration::days(5000)), "1d");
    }
}
