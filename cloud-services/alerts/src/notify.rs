//! Getting alerts in front of people: escalation of unacknowledged critical alerts, and signed
//! webhooks with retries.
//!
//! Webhook bodies are the alert event JSON, signed like Stripe's: header
//! `X-EpiSante-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<body>")>`, so a
//! receiver checks integrity and freshness (reject old `t`) with the shared secret. Deliveries are
//! rows in `webhook_deliveries`: a restart loses none; failures back off exponentially.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ring::hmac;
use sqlx::PgPool;

use crate::db::alerts::Action;
use crate::domain::alert::Transition;
use crate::metrics::{AlertsMetrics, OutcomeLabel};
use episante_kit::events::outbox::OutboxRelay;
use episante_kit::Shutdown;

/// The signature header value for `body` at `t`.
pub fn signature(key: &hmac::Key, t: i64, body: &[u8]) -> String {
    let mut input = format!("{t}.").into_bytes();
    input.extend_from_slice(body);
    format!("t={t},v1={}", hex::encode(hmac::sign(key, &input).as_ref()))
}

/// Escalates critical alerts left unacknowledged, one level per delay of `delays` (from the
/// alert's creation; see `domain::alert::LAST_ESCALATION_LEVEL` for who each level reaches).
pub fn spawn_escalation(
    pool: PgPool,
    webhook_urls: Arc<Vec<String>>,
    outbox: OutboxRelay,
    delays: Vec<Duration>,
    every: Duration,
    shutdown: Shutdown,
) {
    shutdown.clone().spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(error) = escalate_due(&pool, &webhook_urls, &delays).await {
                tracing::warn!(%error, "escalation check failed");
            } else {
                outbox.wake();
            }
        }
    });
}

async fn escalate_due(pool: &PgPool, urls: &[String], delays: &[Duration]) -> anyhow::Result<()> {
    let delays_secs: Vec<f64> = delays.iter().map(Duration::as_secs_f64).collect();
    for id in crate::db::alerts::due_for_escalation(pool, &delays_secs).await? {
        let mut tx = pool.begin().await?;
        let Some(alert) = crate::db::alerts::by_id_for_update(&mut tx, id).await? else {
            continue;
        };
        // Acknowledged or escalated meanwhile: nothing to do.
        let Ok(state) = alert
            .state
            .after(alert.escalation_level, Transition::Escalate)
        else {
            continue;
        };
        let Some(after) = delays.get(alert.escalation_level.max(0) as usize) else {
            continue;
        };
        let alert = crate::db::alerts::apply(&mut tx, id, state, &Action::Escalate).await?;
        let note = format!(
            "critical alert unacknowledged for {} s: escalated to level {}",
            after.as_secs(),
            alert.escalation_level
        );
        crate::lifecycle::record(
            &mut tx,
            urls,
            &alert,
            Transition::Escalate.event_kind(),
            Some("system"),
            Some(&note),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(alert = %id, patient = %alert.patient_id, level = alert.escalation_level, "critical alert escalated");
    }
    Ok(())
}

pub struct WebhookSender {
    pub pool: PgPool,
    pub key: hmac::Key,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub metrics: Arc<AlertsMetrics>,
}

impl WebhookSender {
    pub fn spawn(self, shutdown: Shutdown) {
        shutdown.clone().spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client");
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                if let Err(error) = self.round(&http).await {
                    tracing::warn!(%error, "webhook round failed");
                }
            }
        });
    }

    async fn round(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        for due in crate::db::webhooks::lease_due(&self.pool, 20).await? {
            let body = serde_json::to_vec(&due.body.0)?;
            let t = Utc::now().timestamp();
            let kind = due.body.0["kind"].as_str().unwrap_or("unknown").to_string();
            let result = http
                .post(&due.url)
                .header("content-type", "application/json")
                .header("x-episante-signature", signature(&self.key, t, &body))
                .header("x-episante-event", kind)
                .header("x-episante-delivery", due.id.to_string())
                .body(body)
                .send()
                .await;
            let error = match result {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("HTTP {}", r.status())),
                Err(e) => Some(e.to_string()),
            };
            match error {
                None => {
                    crate::db::webhooks::delivered(&self.pool, due.id).await?;
                    self.count("delivered");
                }
                Some(error) => {
                    let attempts = due.attempts as u32 + 1;
                    let retry_at = (attempts < self.max_attempts).then(|| {
                        let backoff = self
                            .initial_backoff
                            .saturating_mul(1 << attempts.min(16))
                            .min(Duration::from_secs(300))
                            / 2;
                        Utc::now() + chrono::Duration::from_std(backoff).unwrap_or_default()
                    });
                    tracing::warn!(url = %due.url, attempts, %error, gave_up = retry_at.is_none(), "webhook delivery failed");
                    crate::db::webhooks::failed(&self.pool, due.id, &error, retry_at).await?;
                    self.count(if retry_at.is_some() {
                        "retry"
                    } else {
                        "gave_up"
                    });
                }
            }
        }
        Ok(())
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .webhooks
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_and_body() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let sig = signature(&key, 1700000000, b"{}");
        let mac = hex::encode(hmac::sign(&key, b"1700000000.{}").as_ref());
        assert_eq!(sig, format!("t=1700000000,v1={mac}"));
    }
}
