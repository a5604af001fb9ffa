//! Envelope encryption of PII fields: AES-256-GCM under a data key, the data key wrapped by the
//! [`KeyWrapper`] and stored beside the ciphertext.
//!
//! Vault must not sit on every request's path, so (like the AWS Encryption SDK's caching
//! materials manager) one data key encrypts up to `max_uses` records or for `max_age`, then a fresh
//! one is generated — one Vault call per thousands of writes — and unwrapped data keys are kept in
//! a bounded in-memory cache for reads. Every ciphertext is bound to its row and field by the AEAD's
//! associated data, so a blob copied onto another patient's row does not decrypt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Mutex;

use super::key_wrapper::{KeyWrapper, WrapError};
use super::KEY_LEN;

/// A sealed field: the data key (wrapped) and `nonce ‖ ciphertext ‖ tag`.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub wrapped_key: String,
    pub ciphertext: Vec<u8>,
}

struct CurrentKey {
    key: Arc<LessSafeKey>,
    wrapped: String,
    uses: u64,
    born: Instant,
}

pub struct PiiCipher {
    wrapper: KeyWrapper,
    max_uses: u64,
    max_age: Duration,
    cache_size: usize,
    current: Mutex<Option<CurrentKey>>,
    unwrapped: std::sync::Mutex<HashMap<String, (Arc<LessSafeKey>, Instant)>>,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error(transparent)]
    Key(#[from] WrapError),
    #[error("ciphertext does not authenticate (tampered, or bound to another record)")]
    Tampered,
}

fn aead_key(bytes: &[u8; KEY_LEN]) -> Arc<LessSafeKey> {
    Arc::new(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key"),
    ))
}

impl PiiCipher {
    pub fn new(wrapper: KeyWrapper, max_uses: u64, max_age: Duration, cache_size: usize) -> Self {
        PiiCipher {
            wrapper,
            max_uses: max_uses.max(1),
            max_age,
            cache_size: cache_size.max(1),
            current: Mutex::new(None),
            unwrapped: std::sync::Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    pub fn wrapper(&self) -> &KeyWrapper {
        &self.wrapper
    }

    /// The data key to encrypt with now, generating a fresh one when the current is used up.
    async fn encryption_key(&self) -> Result<(Arc<LessSafeKey>, String), WrapError> {
        let mut current = self.current.lock().await;
        let stale = current
            .as_ref()
            .is_none_or(|c| c.uses >= self.max_uses || c.born.elapsed() >= self.max_age);
        if stale {
            let (plain, wrapped) = self.wrapper.generate().await?;
            let key = aead_key(&plain);
            self.remember(&wrapped, key.clone());
            *current = Some(CurrentKey {
                key,
                wrapped,
                uses: 0,
                born: Instant::now(),
            });
        }
        let c = current.as_mut().expect("set above");
        c.uses += 1;
        Ok((c.key.clone(), c.wrapped.clone()))
    }

    fn remember(&self, wrapped: &str, key: Arc<LessSafeKey>) {
        let mut cache = self.unwrapped.lock().expect("cache lock");
        if cache.len() >= self.cache_size {
            let ttl = self.max_age.max(Duration::from_secs(60)) * 2;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if cache.len() >= self.cache_size {
                cache.clear();
            }
        }
        cache.insert(wrapped.to_string(), (key, Instant::now()));
    }

    async fn decryption_key(&self, wrapped: &str) -> Result<Arc<LessSafeKey>, WrapError> {
        if let Some((key, _)) = self.unwrapped.lock().expect("cache lock").get(wrapped) {
            return Ok(key.clone());
        }
        let key = aead_key(&self.wrapper.unwrap(wrapped).await?);
        self.remember(wrapped, key.clone());
        Ok(key)
    }

    /// Seals each `(associated data, plaintext)` pair under one data key.
    pub async fn seal_all(&self, fields: &[(&[u8], &[u8])]) -> Result<Vec<Sealed>, CipherError> {
        let (key, wrapped) = self.encryption_key().await?;
        fields
            .iter()
            .map(|(aad, plaintext)| {
                let mut nonce = [0u8; NONCE_LEN];
                self.rng
                    .fill(&mut nonce)
                    .map_err(|_| WrapError::Unavailable("no randomness".into()))?;
                let mut buf = plaintext.to_vec();
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut buf,
                )
                .map_err(|_| CipherError::Tampered)?;
                let mut ciphertext = nonce.to_vec();
                ciphertext.extend_from_slice(&buf);
                Ok(Sealed {
                    wrapped_key: wrapped.clone(),
                    ciphertext,
                })
            })
            .collect()
    }

    pub async fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, CipherError> {
        Ok(self
            .seal_all(&[(aad, plaintext)])
            .await?
            .pop()
            .expect("one field"))
    }

    pub async fn open(
        &self,
        wrapped_key: &str,
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CipherError> {
        let key = self.decryption_key(wrapped_key).await?;
        if ciphertext.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(CipherError::Tampered);
        }
        let (nonce, sealed) = ciphertext.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Tampered)?;
        let mut buf = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| CipherError::Tampered)?;
        Ok(plain.to_vec())
    }

    /// Stops encrypting with the current data key (after a key rotation, so new records get a
    /// data key wrapped by the new version) and forgets cached unwrapped keys.
    pub async fn forget_keys(&self) {
        *self.current.lock().await = None;
        self.unwrapped.lock().expect("cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(dir: &std::path::Path, max_uses: u64) -> PiiCipher {
        let wrapper = KeyWrapper::local(&dir.join("master.key")).unwrap();
        PiiCipher::new(wrapper, max_uses, Duration::from_secs(300), 100)
    }

    #[tokio::test]
    async fn round_trip_and_binding() {
        let dir = tempfile::tempdir().unwrap();
        let c = cipher(dir.path(), 10);
        let sealed = c
            .seal(b"patient-1/identity", b"Ada Lovelace")
            .await
            .unwrap();
        assert!(!sealed.ciphertext.windows(3).any(|w| w == b"Ada"));
        let plain = c
            .open(
                &sealed.wrapped_key,
                b"patient-1/identity",
                &sealed.ciphertext,
            )
            .await
            .unwrap();
        assert_eq!(plain, b"Ada Lovelace");
        // Bound to its row: another patient's AAD fails.
        assert!(matches!(
            c.open(
                &sealed.wrapped_key,
                b"patient-2/identity",
                &sealed.ciphertext
            )
            .await,
            Err(CipherError::Tampered)
        ));
        let mut flipped = sealed.ciphertext.clone();
        flipped[20] ^= 1;
        assert!(c
            .open(&sealed.wrapped_key, b"patient-1/identity", &flipped)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn data_keys_are_reused_within_limits_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = cipher(dir.path(), 2);
        let a = c.seal(b"a", b"1").await.unwrap();
        let b = c.seal(b"b", b"2").await.unwrap();
        let d = c.seal(b"d", b"3").await.unwrap();
        assert_eq!(a.wrapped_key, b.wrapped_key);
        assert_ne!(b.wrapped_key, d.wrapped_key);
        // A new process with the same master key file reads old records.
        let again = cipher(dir.path(), 2);
        assert_eq!(
            again
                .open(&a.wrapped_key, b"a", &a.ciphertext)
                .await
                .unwrap(),
            b"1"
        );
    }
}
