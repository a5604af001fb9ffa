//! The audit trail (HIPAA §164.312(b)): who read or wrote which patient's data, in which service,
//! when and why. Records owns the one trail of the platform; alerts and bookings publish their
//! accesses on `audit.events.v1` ([`consumer`]) and they are chained here like records' own.
//!
//! Three layers, each against a different attacker:
//! - **Privileges.** The entries live in `audit.events`, in a schema created and owned by the
//!   admin account (`admin-migrations/`, `episante_kit::db::provision_admin_schema`): the records
//!   role, although it owns its database, may only SELECT and INSERT there — no DROP, TRUNCATE,
//!   ALTER, UPDATE or DELETE (and a trigger refuses UPDATE/DELETE/TRUNCATE to the owner too).
//! - **A keyed chain** ([`chain`]): each entry is `HMAC-SHA-256(key, prev ‖ n ‖ fields)` with a key
//!   in Vault KV, so whoever can write the table but lacks the key (a DBA, a stolen database
//!   credential, a restored dump) cannot forge or rewrite entries unseen.
//! - **Checkpoints outside the database** ([`checkpoint`]): the chain's length and head, tagged,
//!   in Vault KV (or a local file), so removing the newest entries — or the whole database — shows.
//!
//! Requests are answered only after their audit entries are committed — a read that cannot be
//! audited is not served. To keep that cheap, one writer task per instance batches the entries of
//! concurrent requests into one transaction (group commit); the chain head is taken under a
//! transaction-scoped advisory lock, so several instances can append safely.

pub mod chain;
pub mod checkpoint;
pub mod consumer;
pub mod key;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use episante_kit::ApiError;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::db;
use chain::{ChainKey, Link, Walker, GENESIS};
use checkpoint::{CheckpointStore, Checkpointer};

/// Entries written per transaction at most.
const BATCH: usize = 512;

/// One access to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The service that served the access (`records`, or the publisher of a consumed event).
    pub service: String,
    pub actor: String,
    pub actor_role: String,
    pub patient_id: Option<Uuid>,
    /// What was done, e.g. `patient.read`, `history.create`.
    pub action: String,
    /// Why (the `X-Purpose-Of-Use` request header), `unspecified` when absent.
    pub purpose: String,
    pub detail: Value,
    /// When the access happened, for events from other services; `None`: when appended.
    pub at: Option<DateTime<Utc>>,
    /// The publisher's event id, for events from other services (redeliveries are dropped).
    pub event_id: Option<Uuid>,
}

type Pending = (Vec<AuditEntry>, oneshot::Sender<Result<(), String>>);

/// Handle on this instance's audit writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
    key: Arc<ChainKey>,
    checkpoints: Arc<CheckpointStore>,
    head: watch::Receiver<Option<(i64, Vec<u8>)>>,
    pool: PgPool,
}

impl AuditLog {
    /// Starts the writer and its checkpointer (every `checkpoint_interval` at most); both are
    /// tracked by `shutdown` and stop when the last handle is dropped.
    pub fn spawn(
        pool: PgPool,
        key: Arc<ChainKey>,
        checkpoints: Arc<CheckpointStore>,
        checkpoint_interval: std::time::Duration,
        shutdown: episante_kit::Shutdown,
    ) -> AuditLog {
        let (tx, rx) = mpsc::channel(4096);
        let (head_tx, head) = watch::channel(None);
        // Tracked: a stopping service waits for it, and it stops once every handle is gone
        // (the routes and consumers that could append), having committed what it was given.
        shutdown.spawn(writer(pool.clone(), key.clone(), rx, head_tx));
        Checkpointer {
            store: checkpoints.clone(),
            key: key.clone(),
            pool: pool.clone(),
        }
        .spawn(head.clone(), checkpoint_interval, shutdown);
        AuditLog {
            tx,
            key,
            checkpoints,
            head,
            pool,
        }
    }

    /// Appends `entries` and waits until they are committed.
    pub async fn record(&self, entries: Vec<AuditEntry>) -> Result<(), ApiError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        self.tx
            .send((entries, done))
            .await
            .map_err(|_| ApiError::Unavailable("audit trail unavailable".into()))?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::error!(%error, "audit write failed; refusing the request");
                Err(ApiError::Unavailable("audit trail unavailable".into()))
            }
            Err(_) => Err(ApiError::Unavailable("audit trail unavailable".into())),
        }
    }

    /// Writes the checkpoint for everything this instance has committed, now (the background
    /// checkpointer does it within `audit_checkpoint_interval_ms`).
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        let latest = self.head.borrow().clone();
        if let Some((entries, hash)) = latest {
            Checkpointer {
                store: self.checkpoints.clone(),
                key: self.key.clone(),
                pool: self.pool.clone(),
            }
            .advance(entries, &hash)
            .await?;
        }
        Ok(())
    }

    /// Walks the whole chain and compares it with the checkpoint.
    pub async fn verify(&self) -> anyhow::Result<Verification> {
        verify(&self.pool, &self.key, &self.checkpoints).await
    }
}

async fn writer(
    pool: PgPool,
    key: Arc<ChainKey>,
    mut rx: mpsc::Receiver<Pending>,
    head: watch::Sender<Option<(i64, Vec<u8>)>>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut count = batch[0].0.len();
        while count < BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    count += next.0.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let result = append(&pool, &key, batch.iter().flat_map(|(e, _)| e)).await;
        let answer = match result {
            Ok(new_head) => {
                head.send_replace(Some(new_head));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        };
        for (_, done) in batch {
            let _ = done.send(answer.clone());
        }
    }
}

/// Appends in one transaction; returns the new head (`n`, hash).
async fn append<'a>(
    pool: &PgPool,
    key: &ChainKey,
    entries: impl Iterator<Item = &'a AuditEntry>,
) -> sqlx::Result<(i64, Vec<u8>)> {
    let mut tx = pool.begin().await?;
    db::audit::lock_chain(&mut *tx).await?;
    let (mut n, mut prev) = db::audit::head(&mut *tx)
        .await?
        .unwrap_or((0, GENESIS.to_vec()));
    // PostgreSQL keeps microseconds: MAC exactly what is stored.
    let now = Utc::now().trunc_subsecs(6);
    for e in entries {
        n += 1;
        let detail = e.detail.to_string();
        let link = Link {
            n,
            at: e.at.map(|at| at.trunc_subsecs(6)).unwrap_or(now),
            service: &e.service,
            actor: &e.actor,
            actor_role: &e.actor_role,
            patient_id: e.patient_id,
            action: &e.action,
            purpose: &e.purpose,
            detail: &detail,
            event_id: e.event_id,
        };
        let hash = key.entry_mac(&prev, &link);
        db::audit::insert(&mut *tx, &link, &prev, &hash).await?;
        prev = hash;
    }
    tx.commit().await?;
    Ok((n, prev))
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Verification {
    pub intact: bool,
    /// Entries checked.
    pub checked: u64,
    /// Sequence number of the first entry whose link or content does not match.
    pub first_broken_seq: Option<i64>,
    /// Entries the latest checkpoint (kept outside the database) vouches for.
    #[serde(default)]
    pub checkpoint_entries: Option<i64>,
    /// The trail holds fewer entries than its checkpoint vouches for: the newest were removed.
    #[serde(default)]
    pub truncated: bool,
    /// What is wrong, in words.
    #[serde(default)]
    pub problem: Option<String>,
}

impl Verification {
    fn broken(checked: u64, seq: Option<i64>, problem: String) -> Verification {
        Verification {
            intact: false,
            checked,
            first_broken_seq: seq,
            checkpoint_entries: None,
            truncated: false,
            problem: Some(problem),
        }
    }
}

/// Recomputes every link, oldest first, then checks the chain against its checkpoint.
pub async fn verify(
    pool: &PgPool,
    key: &ChainKey,
    checkpoints: &CheckpointStore,
) -> anyhow::Result<Verification> {
    // Read first: entries appended while we walk only make the chain longer than the checkpoint.
    let checkpoint = checkpoints.load().await?;
    let legacy_entries = db::audit::legacy_entries(pool).await?;
    let mut walker = Walker::new(key, legacy_entries);
    let mut after = 0i64;
    let mut checked = 0u64;
    let mut checkpoint_hash_seen = None;
    loop {
        let page = db::audit::list(
            pool,
            &db::audit::AuditQuery {
                patient_id: None,
                actor: None,
                after_seq: after,
                limit: 1000,
            },
        )
        .await?;
        if page.is_empty() {
            break;
        }
        for row in page {
            checked += 1;
            let link = row.link();
            if !walker.next(&link, row.legacy, &row.prev_hash, &row.hash) {
                return Ok(Verification::broken(
                    checked,
                    Some(row.seq),
                    format!(
                        "entry {} (position {}) does not continue the chain: edited, inserted \
                         without the key, or an earlier entry was removed",
                        row.seq, row.n
                    ),
                ));
            }
            if checkpoint.as_ref().is_some_and(|c| c.entries == row.n) {
                checkpoint_hash_seen = Some((row.seq, row.hash.clone()));
            }
            after = row.seq;
        }
    }
    let mut verdict = Verification {
        intact: true,
        checked,
        first_broken_seq: None,
        checkpoint_entries: None,
        truncated: false,
        problem: None,
    };
    let Some(checkpoint) = checkpoint else {
        return Ok(verdict);
    };
    verdict.checkpoint_entries = Some(checkpoint.entries);
    let Some(vouched) = checkpoint.verified_head(key) else {
        verdict.intact = false;
        verdict.problem = Some("the checkpoint's tag is invalid: it was not written by us".into());
        return Ok(verdict);
    };
    if walker.entries() < checkpoint.entries {
        verdict.intact = false;
        verdict.truncated = true;
        verdict.problem = Some(format!(
            "the trail ends at entry {} but its checkpoint of {} vouches for {}: the newest \
             entries were removed",
            walker.entries(),
            checkpoint.at,
            checkpoint.entries
        ));
        return Ok(verdict);
    }
    match checkpoint_hash_seen {
        Some((_, hash)) if hash == vouched => {}
        seen => {
            verdict.intact = false;
            verdict.first_broken_seq = seen.map(|(seq, _)| seq);
            verdict.problem = Some(format!(
                "entry {} is not the one the checkpoint vouches for: the trail was rewritten",
                checkpoint.entries
            ));
        }
    }
    Ok(verdict)
}
