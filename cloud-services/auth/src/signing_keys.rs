//! The auth service's Ed25519 signing keys: where they live, how they rotate, what JWKS shows.
//!
//! Keys are kept as one JSON key set, either in Vault KV v2 (when Vault is configured: the key never
//! touches local disk) or in `data_dir/signing-keys.json` created with mode 0600 (dev and
//! single-machine setups). The newest unretired key signs; a rotation retires it and adds a new
//! one. A retired key stays in the JWKS for as long as tokens it signed can still be valid
//! (access TTL plus leeway), so rotation never logs anybody out; after that it is pruned.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use episante_kit::authz::{Jwk, JwkSet, JwksFuture, JwksSource};
use episante_kit::Claims;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vaultrs::client::VaultClient;

/// One key as persisted: PKCS#8 private key (base64) and its lifecycle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredKey {
    pub kid: String,
    pub pkcs8: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StoredKeySet {
    pub keys: Vec<StoredKey>,
}

impl StoredKey {
    /// A fresh Ed25519 key; its `kid` is the RFC 7638 thumbprint of the public key.
    pub fn generate() -> anyhow::Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow!("key generation failed"))?;
        let x = public_x(pkcs8.as_ref())?;
        Ok(StoredKey {
            kid: thumbprint(&x),
            pkcs8: STANDARD.encode(pkcs8.as_ref()),
            created_at: chrono::Utc::now().timestamp(),
            retired_at: None,
        })
    }
}

fn public_x(pkcs8: &[u8]) -> anyhow::Result<String> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()))
}

fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Where the key set is persisted.
pub enum KeyStore {
    File(PathBuf),
    Vault {
        client: Box<VaultClient>,
        mount: String,
        path: String,
    },
}

impl KeyStore {
    pub fn describe(&self) -> String {
        match self {
            KeyStore::File(path) => format!("file {}", path.display()),
            KeyStore::Vault { mount, path, .. } => format!("Vault KV {mount}/{path}"),
        }
    }

    async fn load(&self) -> anyhow::Result<Option<StoredKeySet>> {
        match self {
            KeyStore::File(path) => match tokio::fs::read(path).await {
                Ok(bytes) => {
                    Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                        format!("{} is not a key set", path.display())
                    })?))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
            },
            KeyStore::Vault {
                client,
                mount,
                path,
            } => match vaultrs::kv2::read::<StoredKeySet>(client.as_ref(), mount, path).await {
                Ok(set) => Ok(Some(set)),
                Err(vaultrs::error::ClientError::APIError { code: 404, .. }) => Ok(None),
                Err(e) => Err(anyhow!(
                    "reading signing keys from Vault {mount}/{path}: {e}"
                )),
            },
        }
    }

    async fn save(&self, set: &StoredKeySet) -> anyhow::Result<()> {
        match self {
            KeyStore::File(path) => episante_kit::private_file::write_private_file(
                path,
                &serde_json::to_vec_pretty(set)?,
            )
            .with_context(|| format!("writing {}", path.display())),
            KeyStore::Vault {
                client,
                mount,
                path,
            } => vaultrs::kv2::set(client.as_ref(), mount, path, set)
                .await
                .map(|_| ())
                .map_err(|e| anyhow!("writing signing keys to Vault {mount}/{path}: {e}")),
        }
    }
}

struct LoadedKey {
    kid: String,
    x: String,
    encoding: EncodingKey,
    retired_at: Option<i64>,
}

/// The live key set: signs tokens, publishes JWKS, rotates.
pub struct KeyRing {
    store: KeyStore,
    stored: tokio::sync::Mutex<StoredKeySet>,
    loaded: RwLock<Vec<LoadedKey>>,
    /// How long a retired key must stay verifiable (access TTL + leeway), seconds.
    verify_window_secs: i64,
}

impl KeyRing {
    /// Loads the key set, creating and persisting a first key when there is none.
    pub async fn open(store: KeyStore, verify_window_secs: i64) -> anyhow::Result<Arc<Self>> {
        let set = match store.load().await? {
            Some(set) if set.keys.iter().any(|k| k.retired_at.is_none()) => {
                tracing::info!(store = %store.describe(), keys = set.keys.len(), "signing keys loaded");
                set
            }
            existing => {
                let mut set = existing.unwrap_or_default();
                set.keys.push(StoredKey::generate()?);
                store.save(&set).await?;
                tracing::warn!(
                    store = %store.describe(),
                    "no active signing key found: generated a new one"
                );
                set
            }
        };
        let loaded = load_keys(&set)?;
        Ok(Arc::new(KeyRing {
            store,
            stored: tokio::sync::Mutex::new(set),
            loaded: RwLock::new(loaded),
            verify_window_secs,
        }))
    }

    /// Signs `claims` with the active key.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let keys = self.loaded.read().expect("key ring poisoned");
        let key = keys
            .iter()
            .rev()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| anyhow!("no active signing key"))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// The `kid` tokens are signed with now.
    pub fn active_kid(&self) -> Option<String> {
        let keys = self.loaded.read().expect("key ring poisoned");
        keys.iter()
            .rev()
            .find(|k| k.retired_at.is_none())
            .map(|k| k.kid.clone())
    }

    /// Public keys whose tokens may still be valid.
    pub fn jwks(&self) -> JwkSet {
        let now = chrono::Utc::now().timestamp();
        let keys = self.loaded.read().expect("key ring poisoned");
        JwkSet {
            keys: keys
                .iter()
                .filter(|k| {
                    k.retired_at
                        .is_none_or(|at| now - at <= self.verify_window_secs)
                })
                .map(|k| Jwk::ed25519(&k.kid, &k.x))
                .collect(),
        }
    }

    /// Retires the active key, adds a new one, prunes keys past their verify window, persists.
    /// Returns the new `kid`.
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let mut stored = self.stored.lock().await;
        let now = chrono::Utc::now().timestamp();
        let mut next = stored.clone();
        for key in &mut next.keys {
            key.retired_at.get_or_insert(now);
        }
        next.keys.retain(|k| {
            k.retired_at
                .is_none_or(|at| now - at <= self.verify_window_secs)
        });
        let fresh = StoredKey::generate()?;
        let kid = fresh.kid.clone();
        next.keys.push(fresh);
        self.store.save(&next).await?;
        let loaded = load_keys(&next)?;
        *self.loaded.write().expect("key ring poisoned") = loaded;
        *stored = next;
        tracing::info!(kid = %kid, "signing key rotated");
        Ok(kid)
    }
}

fn load_keys(set: &StoredKeySet) -> anyhow::Result<Vec<LoadedKey>> {
    set.keys
        .iter()
        .map(|k| {
            let der = STANDARD
                .decode(&k.pkcs8)
                .with_context(|| format!("key {} is not base64", k.kid))?;
            Ok(LoadedKey {
                kid: k.kid.clone(),
                x: public_x(&der)?,
                encoding: EncodingKey::from_ed_der(&der),
                retired_at: k.retired_at,
            })
        })
        .collect()
}

/// Lets the auth service verify its own tokens straight from its key ring.
pub struct LocalJwks(pub Arc<KeyRing>);

impl JwksSource for LocalJwks {
    fn fetch(&self) -> JwksFuture<'_> {
        let set = self.0.jwks();
        Box::pin(async move { Ok(set) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_creates_rotates_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/signing-keys.json");
        let ring = KeyRing::open(KeyStore::File(path.clone()), 3600)
            .await
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let first = ring.active_kid().unwrap();
        let second = ring.rotate().await.unwrap();
        assert_ne!(first, second);
        let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, vec![first.clone(), second.clone()]);

        // Reopening reads the same keys back.
        let again = KeyRing::open(KeyStore::File(path.clone()), 3600)
            .await
            .unwrap();
        assert_eq!(again.active_kid().unwrap(), second);

        // With a zero verify window, a rotation prunes everything but the new key.
        let short = KeyRing::open(KeyStore::File(path), -1).await.unwrap();
        let third = short.rotate().await.unwrap();
        let kids: Vec<_> = short.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, vec![third]);
    }
}
