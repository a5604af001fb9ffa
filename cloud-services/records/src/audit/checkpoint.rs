//! Checkpoints: "the trail had `entries` entries, the last one hashing to `head`", kept outside the
//! records database and tagged with the chain key.
//!
//! Why: the chain alone shows edits and gaps, but not entries removed from its *end* — a shorter
//! chain is still a valid chain. The records role cannot delete from `audit.events`, but it owns
//! the database and can drop it whole; a superuser can do anything. A checkpoint in Vault KV v2
//! (a local 0600 file in development) survives both, and `POST /v1/audit/verify` reports a trail
//! shorter than its checkpoint, or whose entry at the checkpoint's position is not the one
//! vouched for.
//!
//! A checkpoint only ever moves forward, and only along the chain it vouches for: before writing
//! a new one the checkpointer checks that the entry the stored checkpoint names is still in the
//! database with the same hash. A trail truncated and then appended to therefore never gets a
//! fresh checkpoint that would hide the cut. Entries written since the last checkpoint (at most
//! `audit_checkpoint_interval_ms` of them) are the window a truncation can go unseen.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use episante_kit::Shutdown;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::{watch, Mutex};
use vaultrs::api::kv2::requests::SetSecretRequestOptions;
use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;

use super::chain::ChainKey;

/// The stored checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Entries in the chain (the position `n` of the last one).
    pub entries: i64,
    /// Base64 hash of entry `entries`.
    pub head: String,
    pub at: DateTime<Utc>,
    /// Base64 HMAC of (`entries`, `head`) under the chain key.
    pub tag: String,
}

impl Checkpoint {
    pub fn new(key: &ChainKey, entries: i64, head: &[u8]) -> Checkpoint {
        Checkpoint {
            entries,
            head: B64.encode(head),
            at: Utc::now(),
            tag: B64.encode(key.checkpoint_tag(entries, head)),
        }
    }

    /// The head hash, if the tag vouches for it.
    pub fn verified_head(&self, key: &ChainKey) -> Option<Vec<u8>> {
        let head = B64.decode(&self.head).ok()?;
        let tag = B64.decode(&self.tag).ok()?;
        key.checkpoint_ok(self.entries, &head, &tag).then_some(head)
    }
}

/// Where checkpoints live.
pub enum CheckpointStore {
    /// Vault KV v2: written with check-and-set, so concurrent instances never move it back; old
    /// versions stay in Vault's history.
    Vault {
        client: Arc<VaultClient>,
        mount: String,
        path: String,
    },
    /// A local 0600 file (development without Vault).
    File { path: PathBuf, lock: Mutex<()> },
}

/// A stored checkpoint and the version to check-and-set against (0: none yet).
struct Versioned {
    version: u64,
    checkpoint: Option<Checkpoint>,
}

impl CheckpointStore {
    pub fn file(path: PathBuf) -> CheckpointStore {
        CheckpointStore::File {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            CheckpointStore::Vault { mount, path, .. } => format!("Vault KV {mount}/{path}"),
            CheckpointStore::File { path, .. } => format!("file {}", path.display()),
        }
    }

    /// The latest checkpoint, if any.
    pub async fn load(&self) -> anyhow::Result<Option<Checkpoint>> {
        Ok(self.read().await?.checkpoint)
    }

    async fn read(&self) -> anyhow::Result<Versioned> {
        match self {
            CheckpointStore::Vault {
                client,
                mount,
                path,
            } => {
                let version = match vaultrs::kv2::read_metadata(client.as_ref(), mount, path).await
                {
                    Ok(meta) => meta.current_version,
                    Err(ClientError::APIError { code: 404, .. }) => 0,
                    Err(e) => return Err(e).context("reading the audit checkpoint's metadata"),
                };
                if version == 0 {
                    return Ok(Versioned {
                        version,
                        checkpoint: None,
                    });
                }
                let checkpoint =
                    vaultrs::kv2::read_version::<Checkpoint>(client.as_ref(), mount, path, version)
                        .await
                        .context("reading the audit checkpoint from Vault")?;
                Ok(Versioned {
                    version,
                    checkpoint: Some(checkpoint),
                })
            }
            CheckpointStore::File { path, .. } => match tokio::fs::read(path).await {
                Ok(bytes) => Ok(Versioned {
                    version: 1,
                    checkpoint: Some(
                        serde_json::from_slice(&bytes).context("the audit checkpoint file")?,
                    ),
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Versioned {
                    version: 0,
                    checkpoint: None,
                }),
                Err(e) => Err(e).context("reading the audit checkpoint file"),
            },
        }
    }

    /// Writes `checkpoint` if the stored one is still at `version`; `false` when another writer
    /// got there first.
    async fn write(&self, version: u64, checkpoint: &Checkpoint) -> anyhow::Result<bool> {
        match self {
            CheckpointStore::Vault {
                client,
                mount,
                path,
            } => {
                let written = vaultrs::kv2::set_with_options(
                    client.as_ref(),
                    mount,
                    path,
                    checkpoint,
                    SetSecretRequestOptions {
                        cas: version as u32,
                    },
                )
                .await;
                match written {
                    Ok(_) => Ok(true),
                    Err(ClientError::APIError { code: 400, .. }) => Ok(false),
                    Err(e) => Err(e).context("writing the audit checkpoint to Vault"),
                }
            }
            CheckpointStore::File { path, .. } => {
                let bytes = serde_json::to_vec(checkpoint)?;
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    episante_kit::private_file::write_private_file(&path, &bytes)
                })
                .await?
                .context("writing the audit checkpoint file")?;
                Ok(true)
            }
        }
    }
}

/// Moves the checkpoint forward to the chain head this instance's writer last committed.
pub struct Checkpointer {
    pub store: Arc<CheckpointStore>,
    pub key: Arc<ChainKey>,
    pub pool: PgPool,
}

impl Checkpointer {
    /// Advances the stored checkpoint to (`entries`, `head`) unless it already vouches for as many
    /// entries. Refuses (error, logged loudly) when the stored checkpoint is not vouched for by
    /// the key or its entry is no longer in the database: the trail was tampered with, and a new
    /// checkpoint would hide it.
    pub async fn advance(&self, entries: i64, head: &[u8]) -> anyhow::Result<()> {
        let _guard = match self.store.as_ref() {
            CheckpointStore::File { lock, .. } => Some(lock.lock().await),
            CheckpointStore::Vault { .. } => None,
        };
        for _ in 0..5 {
            let stored = self.store.read().await?;
            if let Some(current) = &stored.checkpoint {
                let Some(current_head) = current.verified_head(&self.key) else {
                    tracing::error!("AUDIT TRAIL TAMPERED: the stored checkpoint's tag is invalid");
                    bail!("the stored audit checkpoint is not vouched for by the chain key");
                };
                if current.entries >= entries {
                    return Ok(());
                }
                let in_chain = crate::db::audit::hash_at(&self.pool, current.entries).await?;
                if in_chain.as_deref() != Some(current_head.as_slice()) {
                    tracing::error!(
                        checkpoint = current.entries,
                        "AUDIT TRAIL TAMPERED: the checkpointed entry is gone or changed; \
                         not moving the checkpoint"
                    );
                    bail!("the audit trail no longer holds its checkpointed entry");
                }
            }
            let next = Checkpoint::new(&self.key, entries, head);
            if self.store.write(stored.version, &next).await? {
                return Ok(());
            }
        }
        bail!("the audit checkpoint kept changing under us")
    }

    /// Runs until the audit writer stops (after `shutdown`, once the last request that could
    /// append has been answered): after each change of `head`, waits `interval` (coalescing; not
    /// once `shutdown` has triggered), then advances the checkpoint — a last time for the
    /// writer's last entries, so a clean stop leaves the checkpoint at the head of the chain.
    pub fn spawn(
        self,
        mut head: watch::Receiver<Option<(i64, Vec<u8>)>>,
        interval: Duration,
        shutdown: Shutdown,
    ) {
        shutdown.clone().spawn(async move {
            loop {
                let writer_running = head.changed().await.is_ok();
                if writer_running {
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = shutdown.wait() => {}
                    }
                }
                let latest = head.borrow_and_update().clone();
                if let Some((entries, hash)) = latest {
                    if let Err(error) = self.advance(entries, &hash).await {
                        tracing::error!(%error, "audit checkpoint not written");
                    }
                }
                if !writer_running {
                    return;
                }
            }
        });
    }
}
