//! Where the chain key comes from: Vault KV v2 (created there if absent; the bootstrap normally
//! writes it), else a local 0600 file (development only, like the blind-index key). The key never
//! enters the database, which is the point: a database owner cannot chain forged entries.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use vaultrs::client::VaultClient;

use super::chain::ChainKey;
use crate::crypto::{decode_key, load_or_create_key_file, random_key};

#[derive(Serialize, Deserialize)]
struct StoredKey {
    key: String,
}

/// The key at `mount`/`path` in Vault KV v2, created if absent.
pub async fn from_vault(client: &VaultClient, mount: &str, path: &str) -> anyhow::Result<ChainKey> {
    let stored = episante_kit::vault::read_or_create(client, mount, path, || StoredKey {
        key: B64.encode(random_key()),
    })
    .await
    .context("the audit chain key")?;
    Ok(ChainKey::new(&decode_key(&stored.key)?))
}

/// The key in a local 0600 file (created if absent). Development only.
pub fn from_file(path: &Path) -> anyhow::Result<ChainKey> {
    Ok(ChainKey::new(&load_or_create_key_file(path)?))
}
