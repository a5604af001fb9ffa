//! The key that seals TOTP secrets at rest (AES-256-GCM), kept like the signing keys: in Vault
//! KV v2 when Vault is configured (`auth.vault_mfa_key_path`), else in a 0600 file `mfa.key` in
//! the data dir (dev setups, with a warning).
//!
//! A TOTP secret must be readable by the server (it computes the codes), so unlike passwords it
//! cannot be hashed; sealing it means a database dump alone does not let anyone mint codes. The
//! associated data binds each sealed secret to its user, so a blob copied onto another row does
//! not open.

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Settings;

pub struct MfaKey {
    key: LessSafeKey,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// Base64 of 32 random bytes.
    key: String,
}

impl MfaKey {
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<MfaKey> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow!("MFA key must be 32 bytes"))?;
        Ok(MfaKey {
            key: LessSafeKey::new(key),
        })
    }

    /// Opens (creating on first start) the key where the settings say.
    pub async fn open(settings: &Settings) -> anyhow::Result<MfaKey> {
        let fresh = || StoredKey {
            key: STANDARD.encode(episante_kit::vault::random_bytes::<32>()),
        };
        let stored = match episante_kit::vault::client(&settings.vault)? {
            Some(client) => {
                episante_kit::vault::read_or_create(
                    &client,
                    &settings.auth.vault_kv_mount,
                    &settings.auth.vault_mfa_key_path,
                    fresh,
                )
                .await?
            }
            None => {
                let path = settings.auth.data_dir.join("mfa.key");
                match std::fs::read(&path) {
                    Ok(bytes) => serde_json::from_slice(&bytes)
                        .with_context(|| format!("{} is not an MFA key file", path.display()))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let key = fresh();
                        if let Some(dir) = path.parent() {
                            std::fs::create_dir_all(dir)?;
                        }
                        episante_kit::private_file::write_private_file(
                            &path,
                            &serde_json::to_vec(&key)?,
                        )?;
                        tracing::warn!(path = %path.display(),
                            "Vault is not configured: the MFA key is kept in a local 0600 file (dev setups only)");
                        key
                    }
                    Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
        };
        let bytes = STANDARD
            .decode(stored.key)
            .context("the stored MFA key is not base64")?;
        MfaKey::from_bytes(&bytes)
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to `user`.
    pub fn seal(&self, user: Uuid, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = episante_kit::vault::random_bytes::<NONCE_LEN>();
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(user.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM sealing cannot fail for small inputs");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open_sealed(&self, user: Uuid, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(anyhow!("sealed MFA secret too short"));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(user.as_bytes()), &mut body)
            .map_err(|_| anyhow!("sealed MFA secret does not open (wrong key or row)"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_user() {
        let key = MfaKey::from_bytes(&[7u8; 32]).unwrap();
        let alice = Uuid::new_v4();
        let sealed = key.seal(alice, b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open_sealed(alice, &sealed).unwrap(), b"secret");
        assert!(key.open_sealed(Uuid::new_v4(), &sealed).is_err());
        let other = MfaKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open_sealed(alice, &sealed).is_err());
    }
}
