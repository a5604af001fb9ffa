//! One way to build a Vault (or OpenBao) client from `[vault]`, for every service that keeps
//! secrets or keys there.

use anyhow::Context;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::config::VaultConfig;

/// The client `config` asks for, or `None` when Vault is not configured (dev setups fall back to
/// local key files and say so loudly).
pub fn client(config: &VaultConfig) -> anyhow::Result<Option<VaultClient>> {
    let Some(addr) = &config.addr else {
        return Ok(None);
    };
    let token = config
        .token
        .as_ref()
        .context("vault.addr is set but vault.token (VAULT_TOKEN) is not")?;
    let client = VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(addr)
            .token(token.expose())
            .build()
            .context("invalid Vault settings")?,
    )
    .context("creating the Vault client")?;
    Ok(Some(client))
}
