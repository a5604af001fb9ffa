//! The key-encryption key: it wraps and unwraps data keys and never leaves its holder.
//!
//! With Vault, the key is a transit key (`transit/keys/records-pii`): Vault generates data keys
//! (`datakey/plaintext`), unwraps them (`decrypt`) and re-wraps stored ones under the newest key
//! version (`rewrap`) without the plaintext ever leaving Vault during a rewrap. Without Vault, a
//! local master key file stands in — for development only.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use vaultrs::api::transit::requests::DataKeyType;
use vaultrs::client::VaultClient;

use super::{decode_key, KEY_LEN};

const LOCAL_PREFIX: &str = "local:v1:";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VaultOp {
    pub op: &'static str,
}

/// Time spent in Vault calls, by operation (the benchmark reports its share of request time).
pub type VaultCallSeconds = Family<VaultOp, Histogram>;

pub enum KeyWrapper {
    Vault {
        client: Arc<VaultClient>,
        mount: String,
        key: String,
        calls: VaultCallSeconds,
    },
    Local {
        master: Box<LessSafeKey>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("key service unavailable: {0}")]
    Unavailable(String),
    #[error("wrapped key is malformed or was not made by this key: {0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(&'static str),
}

impl KeyWrapper {
    /// The transit key `key` on `mount`, created (AES-256-GCM) if it does not exist yet.
    pub async fn vault(
        client: Arc<VaultClient>,
        mount: &str,
        key: &str,
        calls: VaultCallSeconds,
    ) -> anyhow::Result<Self> {
        match vaultrs::transit::key::read(client.as_ref(), mount, key).await {
            Ok(_) => {}
            Err(vaultrs::error::ClientError::APIError { code: 404, .. }) => {
                vaultrs::transit::key::create(client.as_ref(), mount, key, None)
                    .await
                    .with_context(|| format!("creating transit key {mount}/{key}"))?;
                tracing::info!(mount, key, "created the PII transit key");
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("reading transit key {mount}/{key} (is transit enabled at {mount}/?)")
                })
            }
        }
        Ok(KeyWrapper::Vault {
            client,
            mount: mount.to_string(),
            key: key.to_string(),
            calls,
        })
    }

    /// A local master key in `path` (created if absent). Development only.
    pub fn local(path: &Path) -> anyhow::Result<Self> {
        let key = super::load_or_create_key_file(path)
            .with_context(|| format!("local master key {}", path.display()))?;
        tracing::warn!(
            path = %path.display(),
            "VAULT IS NOT CONFIGURED: patient data keys are wrapped by a LOCAL MASTER KEY FILE. \
             Development only — never store real patient data this way."
        );
        Ok(KeyWrapper::Local {
            master: Box::new(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &key).expect("32-byte key"),
            )),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            KeyWrapper::Vault { mount, key, .. } => format!("vault transit {mount}/keys/{key}"),
            KeyWrapper::Local { .. } => "local master key (dev only)".into(),
        }
    }

    /// A fresh data key: its plaintext and its wrapped form.
    pub async fn generate(&self) -> Result<([u8; KEY_LEN], String), WrapError> {
        match self {
            KeyWrapper::Vault {
                client,
                mount,
                key,
                calls,
            } => {
                let answer = timed(
                    calls,
                    "datakey",
                    vaultrs::transit::generate::data_key(
                        client.as_ref(),
                        mount,
                        key,
                        DataKeyType::Plaintext,
                        None,
                    ),
                )
                .await;
                let answer = answer.map_err(|e| WrapError::Unavailable(e.to_string()))?;
                let plaintext = answer
                    .plaintext
                    .ok_or_else(|| WrapError::Invalid("no plaintext in datakey answer".into()))?;
                let key = decode_key(&plaintext).map_err(|e| WrapError::Invalid(e.to_string()))?;
                Ok((key, answer.ciphertext))
            }
            KeyWrapper::Local { master } => {
                let key = super::random_key();
                let mut nonce = [0u8; NONCE_LEN];
                SystemRandom::new()
                    .fill(&mut nonce)
                    .map_err(|_| WrapError::Unavailable("no randomness".into()))?;
                let mut sealed = key.to_vec();
                master
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        &mut sealed,
                    )
                    .map_err(|_| WrapError::Invalid("sealing failed".into()))?;
                let mut blob = nonce.to_vec();
                blob.extend_from_slice(&sealed);
                Ok((key, format!("{LOCAL_PREFIX}{}", B64.encode(blob))))
            }
        }
    }

    /// The plaintext of a wrapped data key.
    pub async fn unwrap(&self, wrapped: &str) -> Result<[u8; KEY_LEN], WrapError> {
        match self {
            KeyWrapper::Vault {
                client,
                mount,
                key,
                calls,
            } => {
                let answer = timed(
                    calls,
                    "decrypt",
                    vaultrs::transit::data::decrypt(client.as_ref(), mount, key, wrapped, None),
                )
                .await;
                let answer = answer.map_err(|e| match e {
                    vaultrs::error::ClientError::APIError { code: 400, .. } => {
                        WrapError::Invalid(e.to_string())
                    }
                    e => WrapError::Unavailable(e.to_string()),
                })?;
                decode_key(&answer.plaintext).map_err(|e| WrapError::Invalid(e.to_string()))
            }
            KeyWrapper::Local { master } => {
                let blob = wrapped
                    .strip_prefix(LOCAL_PREFIX)
                    .and_then(|b| B64.decode(b).ok())
                    .filter(|b| b.len() == NONCE_LEN + KEY_LEN + AES_256_GCM.tag_len())
                    .ok_or_else(|| WrapError::Invalid("not a local wrapped key".into()))?;
                let (nonce, sealed) = blob.split_at(NONCE_LEN);
                let mut buf = sealed.to_vec();
                let nonce = Nonce::try_assume_unique_for_key(nonce)
                    .map_err(|_| WrapError::Invalid("bad nonce".into()))?;
                let plain = master
                    .open_in_place(nonce, Aad::empty(), &mut buf)
                    .map_err(|_| WrapError::Invalid("authentication failed".into()))?;
                plain
                    .try_into()
                    .map_err(|_| WrapError::Invalid("bad key length".into()))
            }
        }
    }

    /// `wrapped` re-wrapped under the newest key version; Vault never returns the plaintext.
    pub async fn rewrap(&self, wrapped: &str) -> Result<String, WrapError> {
        match self {
            KeyWrapper::Vault {
                client,
                mount,
                key,
                calls,
            } => {
                let answer = timed(
                    calls,
                    "rewrap",
                    vaultrs::transit::data::rewrap(client.as_ref(), mount, key, wrapped, None),
                )
                .await;
                Ok(answer
                    .map_err(|e| WrapError::Unavailable(e.to_string()))?
                    .ciphertext)
            }
            KeyWrapper::Local { .. } => Ok(wrapped.to_string()),
        }
    }

    /// Adds a new version of the key-encryption key; new data keys use it from now on.
    pub async fn rotate(&self) -> Result<(), WrapError> {
        match self {
            KeyWrapper::Vault {
                client, mount, key, ..
            } => vaultrs::transit::key::rotate(client.as_ref(), mount, key)
                .await
                .map_err(|e| WrapError::Unavailable(e.to_string())),
            KeyWrapper::Local { .. } => Err(WrapError::Unsupported(
                "key rotation needs Vault transit; the local master key cannot be rotated",
            )),
        }
    }

    /// The key version a Vault-wrapped key was made with (`vault:vN:…`).
    pub fn version_of(wrapped: &str) -> Option<u32> {
        wrapped
            .strip_prefix("vault:v")
            .and_then(|rest| rest.split(':').next())
            .and_then(|v| v.parse().ok())
    }

    /// The newest key version (1 for the local key).
    pub async fn latest_version(&self) -> Result<u32, WrapError> {
        match self {
            KeyWrapper::Vault {
                client, mount, key, ..
            } => {
                let info = vaultrs::transit::key::read(client.as_ref(), mount, key)
                    .await
                    .map_err(|e| WrapError::Unavailable(e.to_string()))?;
                let versions = match info.keys {
                    vaultrs::api::transit::responses::ReadKeyData::Symmetric(v) => {
                        v.into_keys().collect::<Vec<_>>()
                    }
                    vaultrs::api::transit::responses::ReadKeyData::Asymmetric(v) => {
                        v.into_keys().collect()
                    }
                };
                versions
                    .iter()
                    .filter_map(|v| v.parse().ok())
                    .max()
                    .ok_or_else(|| WrapError::Invalid("transit key has no versions".into()))
            }
            KeyWrapper::Local { .. } => Ok(1),
        }
    }
}

/// Runs one Vault call, recording its duration under `op`.
async fn timed<T>(calls: &VaultCallSeconds, op: &'static str, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let answer = call.await;
    calls
        .get_or_create(&VaultOp { op })
        .observe(started.elapsed().as_secs_f64());
    answer
}
