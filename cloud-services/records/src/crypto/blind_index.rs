//! Blind indexes: search by name or national id without storing either in clear.
//!
//! The index of a value is HMAC-SHA-256(key, field ‖ normalised value), truncated to 16 bytes.
//! Without the key (kept in Vault KV, or a local file in development) the index reveals nothing
//! but equality; with it, equal values map to equal indexes so PostgreSQL can look them up.
//! Normalisation makes "Émilie  DUPONT" find "emilie dupont": Unicode NFKD, combining marks
//! dropped, lower-cased, split on anything that is not a letter or digit.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use vaultrs::client::VaultClient;

use super::{decode_key, random_key};

const INDEX_LEN: usize = 16;

pub struct BlindIndex {
    key: hmac::Key,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    key: String,
}

impl BlindIndex {
    pub fn from_key(key: &[u8]) -> Self {
        BlindIndex {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The key at `mount`/`path` in Vault KV v2, created if absent (a bootstrap normally writes
    /// it; creating it here keeps a fresh dev Vault working).
    pub async fn from_vault(client: &VaultClient, mount: &str, path: &str) -> anyhow::Result<Self> {
        let stored = episante_kit::vault::read_or_create(client, mount, path, || StoredKey {
            key: B64.encode(random_key()),
        })
        .await
        .context("the blind-index key")?;
        Ok(Self::from_key(&decode_key(&stored.key)?))
    }

    /// The key in a local 0600 file (created if absent). Development only.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        Ok(Self::from_key(&super::load_or_create_key_file(path)?))
    }

    fn index(&self, field: &str, value: &str) -> Vec<u8> {
        let mut input = field.as_bytes().to_vec();
        input.push(0);
        input.extend_from_slice(value.as_bytes());
        hmac::sign(&self.key, &input).as_ref()[..INDEX_LEN].to_vec()
    }

    /// One index per name token (given names and family name), for token searches.
    pub fn name_tokens<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<Vec<u8>> {
        let mut tokens: Vec<String> = names.into_iter().flat_map(name_tokens).collect();
        tokens.sort();
        tokens.dedup();
        tokens.iter().map(|t| self.index("name", t)).collect()
    }

    /// The index of a national health id (letters and digits only, upper-cased).
    pub fn national_id(&self, id: &str) -> Vec<u8> {
        let normalised: String = id
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect();
        self.index("national_id", &normalised)
    }
}

/// Normalised tokens of a name.
pub fn name_tokens(name: &str) -> Vec<String> {
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_finds_accented_and_cased_names() {
        assert_eq!(
            name_tokens("Émilie  DUPONT-Durand"),
            ["emilie", "dupont", "durand"]
        );
        let index = BlindIndex::from_key(&[7u8; 32]);
        assert_eq!(index.name_tokens(["emilie"]), index.name_tokens(["ÉMILIE"]));
        assert_eq!(
            index.national_id("1 85 05 78"),
            index.national_id("1850578")
        );
        assert_ne!(
            index.name_tokens(["a"]),
            BlindIndex::from_key(&[8u8; 32]).name_tokens(["a"])
        );
    }
}
