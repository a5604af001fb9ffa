//! The audit trail (HIPAA §164.312(b)): who read or wrote which patient's data, when, why.
//!
//! Every entry carries the hash of the previous one: `hash = SHA-256(prev_hash ‖ fields)`. Editing,
//! deleting or reordering any entry breaks the chain from that point, and [`verify`] reports the
//! first broken link. The database enforces append-only on top (the service role may only SELECT
//! and INSERT; a trigger refuses UPDATE/DELETE/TRUNCATE).
//!
//! Requests are answered only after their audit entries are committed — a read that cannot be
//! audited is not served. To keep that cheap, one writer task per instance batches the entries of
//! concurrent requests into one transaction (group commit); the chain head is taken under a
//! transaction-scoped advisory lock, so several instances can append safely.

use chrono::{DateTime, SubsecRound, Utc};
use episante_kit::ApiError;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db;

/// The chain's first `prev_hash`.
pub const GENESIS: [u8; 32] = [0; 32];
/// Entries written per transaction at most.
const BATCH: usize = 512;

/// One access to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub actor_role: String,
    pub patient_id: Option<Uuid>,
    /// What was done, e.g. `patient.read`, `history.create`.
    pub action: &'static str,
    /// Why (the `X-Purpose-Of-Use` request header), `unspecified` when absent.
    pub purpose: String,
    pub detail: Value,
}

type Pending = (Vec<AuditEntry>, oneshot::Sender<Result<(), String>>);

/// Handle on this instance's audit writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
}

impl AuditLog {
    /// Starts the writer; it stops when the last handle is dropped.
    pub fn spawn(pool: PgPool) -> AuditLog {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer(pool, rx));
        AuditLog { tx }
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
}

async fn writer(pool: PgPool, mut rx: mpsc::Receiver<Pending>) {
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
        let result = append(&pool, batch.iter().flat_map(|(e, _)| e)).await;
        let answer = result.map_err(|e| e.to_string());
        for (_, done) in batch {
            let _ = done.send(answer.clone());
        }
    }
}

async fn append<'a>(
    pool: &PgPool,
    entries: impl Iterator<Item = &'a AuditEntry>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    db::audit::lock_chain(&mut *tx).await?;
    let mut prev = db::audit::last_hash(&mut *tx)
        .await?
        .unwrap_or(GENESIS.to_vec());
    // PostgreSQL keeps microseconds: hash exactly what is stored.
    let at = Utc::now().trunc_subsecs(6);
    for e in entries {
        let detail = e.detail.to_string();
        let hash = entry_hash(
            &prev,
            at,
            &e.actor,
            &e.actor_role,
            e.patient_id,
            e.action,
            &e.purpose,
            &detail,
        );
        db::audit::insert(
            &mut *tx,
            at,
            &e.actor,
            &e.actor_role,
            e.patient_id,
            e.action,
            &e.purpose,
            &detail,
            &prev,
            &hash,
        )
        .await?;
        prev = hash;
    }
    tx.commit().await
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &[u8],
    at: DateTime<Utc>,
    actor: &str,
    role: &str,
    patient: Option<Uuid>,
    action: &str,
    purpose: &str,
    detail: &str,
) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(at.timestamp_micros().to_be_bytes());
    let patient = patient.map(|p| p.to_string()).unwrap_or_default();
    for field in [actor, role, &patient, action, purpose, detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().to_vec()
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Verification {
    pub intact: bool,
    /// Entries checked.
    pub checked: u64,
    /// Sequence number of the first entry whose link or content does not match.
    pub first_broken_seq: Option<i64>,
}

/// Recomputes every link, oldest first.
pub async fn verify(pool: &PgPool) -> sqlx::Result<Verification> {
    let mut prev = GENESIS.to_vec();
    let mut after = 0i64;
    let mut checked = 0u64;
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
            return Ok(Verification {
                intact: true,
                checked,
                first_broken_seq: None,
            });
        }
        for row in page {
            let expected = entry_hash(
                &prev,
                row.at,
                &row.actor,
                &row.actor_role,
                row.patient_id,
                &row.action,
                &row.purpose,
                &row.detail,
            );
            checked += 1;
            if row.prev_hash != prev || row.hash != expected {
                return Ok(Verification {
                    intact: false,
                    checked,
                    first_broken_seq: Some(row.seq),
                });
            }
            prev = row.hash;
            after = row.seq;
        }
    }
}
