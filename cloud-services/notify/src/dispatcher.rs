//! Sends what is due: claims queued messages (`db::deliveries::claim_due`), checks once more that
//! each is still wanted (`domain::message::still_due`: a reminder of an appointment cancelled or
//! moved since, a hold that expired, a page of an alert somebody acknowledged), sends up to
//! `send_concurrency` at once by email or SMS, and records each outcome. Transient failures come back after an exponential backoff with ±25 % jitter (so a
//! relay that was down is not hit by every message at the same instant); permanent ones and the
//! last of `max_attempts` are recorded as failed with the reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use episante_kit::Shutdown;
use rand::Rng;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};

use crate::channels::email::Email;
use crate::channels::{Channels, SendError};
use crate::db;
use crate::db::deliveries::{Due, Outcome};
use crate::domain::address::{EmailAddress, PhoneNumber};
use crate::domain::message::{still_due, Circumstances, MessageKind};
use crate::domain::preferences::Channel;
use crate::metrics::{NotifyMetrics, OutcomeLabel};

/// How long a claim holds a message: longer than any send takes.
const LEASE_SECS: i64 = 120;
const CLAIM: i64 = 200;

/// Why a claimed message was not sent.
enum NotSent {
    /// No longer wanted (see `still_due`): recorded as withdrawn, with the reason.
    Withdrawn(&'static str),
    Failed(SendError),
}

pub struct Dispatcher {
    pub pool: PgPool,
    pub channels: Arc<Channels>,
    pub queued: Arc<Notify>,
    pub metrics: Arc<NotifyMetrics>,
    pub max_attempts: i32,
    pub initial_backoff: Duration,
    pub poll: Duration,
    pub concurrency: usize,
}

impl Dispatcher {
    pub fn spawn(self, shutdown: Shutdown) {
        let this = Arc::new(self);
        let stop = shutdown.clone();
        shutdown.spawn(async move {
            loop {
                let claimed = match db::deliveries::claim_due(&this.pool, CLAIM, LEASE_SECS).await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "notify: cannot claim messages; retrying");
                        Vec::new()
                    }
                };
                let full = claimed.len() as i64 == CLAIM;
                this.send_all(claimed).await;
                if full {
                    continue;
                }
                tokio::select! {
                    _ = this.queued.notified() => {}
                    _ = tokio::time::sleep(this.poll) => {}
                    _ = stop.wait() => return,
                }
            }
        });
    }

    async fn send_all(self: &Arc<Self>, claimed: Vec<Due>) {
        let limit = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        for due in claimed {
            let permit = limit.clone().acquire_owned().await.expect("never closed");
            let this = self.clone();
            running.spawn(async move {
                this.send_one(due).await;
                drop(permit);
            });
        }
        while running.join_next().await.is_some() {}
    }

    async fn send_one(&self, due: Due) {
        let result = self.attempt(&due).await;
        let error_text = match &result {
            Err(NotSent::Failed(e)) => e.to_string(),
            _ => String::new(),
        };
        let (label, outcome) = match result {
            Ok(()) => ("sent", Outcome::Sent),
            Err(NotSent::Withdrawn(why)) => ("withdrawn", Outcome::Withdrawn(why)),
            Err(NotSent::Failed(SendError::Transient(_)))
                if due.attempts + 1 < self.max_attempts =>
            {
                let at = Utc::now() + self.backoff(due.attempts);
                (
                    "retried",
                    Outcome::Retry {
                        at,
                        error: &error_text,
                    },
                )
            }
            Err(NotSent::Failed(_)) => ("failed", Outcome::Failed(&error_text)),
        };
        self.metrics
            .outcomes
            .get_or_create(&OutcomeLabel { outcome: label })
            .inc();
        if let Err(e) = db::deliveries::record(&self.pool, due.id, outcome).await {
            // The claim expires and the message is tried again: at worst sent twice, never lost.
            tracing::warn!(delivery = due.id, error = %e, "notify: cannot record an outcome");
        }
    }

    /// Sends `due` unless it is no longer wanted.
    async fn attempt(&self, due: &Due) -> Result<(), NotSent> {
        let kind: MessageKind = due
            .kind
            .parse()
            .map_err(|e: String| NotSent::Failed(SendError::Permanent(e)))?;
        let channel: Channel = due
            .channel
            .parse()
            .map_err(|e: String| NotSent::Failed(SendError::Permanent(e)))?;
        let database =
            |e: sqlx::Error| NotSent::Failed(SendError::Transient(format!("database: {e}")));
        let appointment = match due.appointment_id {
            Some(id) => db::appointments::get(&self.pool, id)
                .await
                .map_err(database)?,
            None => None,
        };
        let alert_active = match due.alert_id {
            Some(id) => db::alerts::active(&self.pool, id).await.map_err(database)?,
            None => None,
        };
        let known = Circumstances {
            starts_at: due.starts_at,
            appointment,
            hold_expires_at: due.hold_expires_at,
            alert_active,
        };
        still_due(kind, known, Utc::now()).map_err(NotSent::Withdrawn)?;
        // A digest's count is known only now that its minute is over.
        let fill = |text: &str| text.replace("{count}", &due.digest_count.to_string());
        match channel {
            Channel::Email => {
                let to = EmailAddress::parse(&due.address)
                    .map_err(|e| NotSent::Failed(SendError::Permanent(e)))?;
                self.channels
                    .email
                    .send(&Email {
                        delivery: due.id,
                        to: &to,
                        subject: &fill(&due.subject),
                        text: &fill(&due.body_text),
                        html: &fill(&due.body_html),
                        invitation: due.invitation.as_deref(),
                    })
                    .await
                    .map_err(NotSent::Failed)
            }
            Channel::Sms => {
                let Some(sms) = &self.channels.sms else {
                    return Err(NotSent::Failed(SendError::Permanent(
                        "SMS is not configured on this platform (notify.sms.url)".into(),
                    )));
                };
                let to = PhoneNumber::parse(&due.address)
                    .map_err(|e| NotSent::Failed(SendError::Permanent(e)))?;
                let body = fill(due.body_sms.as_deref().unwrap_or(&due.subject));
                sms.send(&to, &body).await.map_err(NotSent::Failed)
            }
            // Written as delivered; nothing to send.
            Channel::Portal => Ok(()),
        }
    }

    /// `initial_backoff × 2^attempts`, capped at an hour, ±25 %.
    fn backoff(&self, attempts: i32) -> chrono::Duration {
        let base = self.initial_backoff.as_millis() as f64 * 2f64.powi(attempts.clamp(0, 20));
        let capped = base.min(3_600_000.0);
        let jittered = capped * rand::thread_rng().gen_range(0.75..1.25);
        chrono::Duration::milliseconds(jittered as i64)
    }
}
