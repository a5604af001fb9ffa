//! Sends what is due: claims queued messages (`db::deliveries::claim_due`), checks once more that
//! each is still wanted (`domain::message::still_due`: a reminder of an appointment cancelled or
//! moved since, a hold that expired, a page of an alert somebody acknowledged), sends up to
//! `send_concurrency` at once by email or SMS, and records the outcomes (those that complete
//! together in one statement). A sender beats every 2 s; the claims of one that stopped (killed
//! mid-send) are taken over within seconds. Transient failures come back after an exponential
//! backoff with ±25 % jitter (so a relay that was down is not hit by every message at the same
//! instant); permanent ones and the last of `max_attempts` are recorded as failed with the
//! reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use episante_kit::Shutdown;
use rand::Rng;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::channels::email::Email;
use crate::channels::{Channels, SendError};
use crate::db;
use crate::db::deliveries::{Due, Outcome};
use crate::domain::address::{EmailAddress, PhoneNumber};
use crate::domain::message::{still_due, Circumstances, MessageKind};
use crate::domain::preferences::Channel;
use crate::metrics::{NotifyMetrics, OutcomeLabel};

/// How long a claim holds a message: longer than a send may take ([`SEND_TIMEOUT`], then the
/// outcome is recorded), short enough that the claims of a sender killed mid-round go to another
/// (or to it, restarted) within half a minute — a page must not wait for a dead process.
const LEASE_SECS: i64 = 30;
/// A send still running after this is abandoned as a transient failure (retried later).
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

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

/// How often a sender says it is alive (claims of a silent one are taken over).
const HEARTBEAT: Duration = Duration::from_secs(2);

impl Dispatcher {
    pub fn spawn(self, shutdown: Shutdown) {
        let this = Arc::new(self);
        let me = Uuid::new_v4();
        let stop = shutdown.clone();
        let (pool, beat_stop) = (this.pool.clone(), shutdown.clone());
        shutdown.clone().spawn(async move {
            loop {
                if let Err(e) = db::deliveries::heartbeat(&pool, me).await {
                    tracing::warn!(error = %e, "notify: sender heartbeat failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(HEARTBEAT) => {}
                    _ = beat_stop.wait() => return,
                }
            }
        });
        shutdown.spawn(async move {
            // Alive before the first claim.
            let _ = db::deliveries::heartbeat(&this.pool, me).await;
            loop {
                // Two rounds of sends at most: few claims are held up if this process dies.
                let batch = (this.concurrency.max(1) * 2) as i64;
                let claimed =
                    match db::deliveries::claim_due(&this.pool, batch, LEASE_SECS, me).await {
                        Ok(claimed) => claimed,
                        Err(e) => {
                            tracing::warn!(error = %e, "notify: cannot claim messages; retrying");
                            Vec::new()
                        }
                    };
                let full = claimed.len() as i64 == batch;
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

    /// Sends `claimed`, `concurrency` at a time. Outcomes are recorded as they come, those that
    /// complete together in one statement (one commit for many messages, not one each; the
    /// window in which a crash leaves a sent message unrecorded stays one statement long).
    async fn send_all(self: &Arc<Self>, claimed: Vec<Due>) {
        let limit = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let (done, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        let mut running = tokio::task::JoinSet::new();
        for due in claimed {
            let permit = limit.clone().acquire_owned().await.expect("never closed");
            let this = self.clone();
            let done = done.clone();
            running.spawn(async move {
                let outcome = this.send_one(&due).await;
                let _ = done.send((due.id, outcome));
                drop(permit);
            });
            self.record_ready(&mut outcomes).await;
        }
        drop(done);
        while let Some(first) = outcomes.recv().await {
            let mut batch = vec![first];
            while let Ok(next) = outcomes.try_recv() {
                batch.push(next);
            }
            self.record(&batch).await;
        }
        while running.join_next().await.is_some() {}
    }

    /// Records the outcomes already in, if any.
    async fn record_ready(
        &self,
        outcomes: &mut tokio::sync::mpsc::UnboundedReceiver<(i64, Outcome)>,
    ) {
        let mut batch = Vec::new();
        while let Ok(next) = outcomes.try_recv() {
            batch.push(next);
        }
        if !batch.is_empty() {
            self.record(&batch).await;
        }
    }

    async fn record(&self, batch: &[(i64, Outcome)]) {
        if let Err(e) = db::deliveries::record_all(&self.pool, batch).await {
            // The claims expire and the messages are tried again: at worst sent twice, never lost.
            tracing::warn!(messages = batch.len(), error = %e, "notify: cannot record outcomes");
        }
    }

    /// Sends one message; what became of it.
    async fn send_one(&self, due: &Due) -> Outcome {
        let result = tokio::time::timeout(SEND_TIMEOUT, self.attempt(due))
            .await
            .unwrap_or_else(|_| {
                Err(NotSent::Failed(SendError::Transient(format!(
                    "no answer within {} s",
                    SEND_TIMEOUT.as_secs()
                ))))
            });
        let (label, outcome) = match result {
            Ok(()) => ("sent", Outcome::Sent),
            Err(NotSent::Withdrawn(why)) => ("withdrawn", Outcome::Withdrawn(why.to_string())),
            Err(NotSent::Failed(e @ SendError::Transient(_)))
                if due.attempts + 1 < self.max_attempts =>
            {
                let at = Utc::now() + self.backoff(due.attempts);
                (
                    "retried",
                    Outcome::Retry {
                        at,
                        error: e.to_string(),
                    },
                )
            }
            Err(NotSent::Failed(e)) => ("failed", Outcome::Failed(e.to_string())),
        };
        self.metrics
            .outcomes
            .get_or_create(&OutcomeLabel { outcome: label })
            .inc();
        outcome
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
