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

/// The KV v2 secret at `mount`/`path`, `None` if there is none (credentials an operator writes,
/// such as an SMS provider's).
pub async fn read<T>(client: &VaultClient, mount: &str, path: &str) -> anyhow::Result<Option<T>>
where
    T: serde::de::DeserializeOwned,
{
    match vaultrs::kv2::read::<T>(client, mount, path).await {
        Ok(value) => Ok(Some(value)),
        Err(vaultrs::error::ClientError::APIError { code: 404, .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {mount}/{path} from Vault")),
    }
}

/// The KV v2 secret at `mount`/`path`, written first with `make()` if it does not exist yet (a
/// bootstrap normally writes it; creating it here keeps a fresh dev Vault working).
///
/// The write is create-only (check-and-set version 0): when several instances of a service start
/// together on a fresh Vault, exactly one value wins and every instance reads that one. A plain
/// write would let the last writer replace a key another instance already uses (a records blind
/// index or a device CA split in two).
pub async fn read_or_create<T>(
    client: &VaultClient,
    mount: &str,
    path: &str,
    make: impl FnOnce() -> T,
) -> anyhow::Result<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    if let Some(value) = read(client, mount, path).await? {
        return Ok(value);
    }
    let value = make();
    let create_only = vaultrs::api::kv2::requests::SetSecretRequestOptions { cas: 0 };
    match vaultrs::kv2::set_with_options(client, mount, path, &value, create_only).await {
        Ok(_) => Ok(value),
        // Another instance created it first: use theirs.
        Err(vaultrs::error::ClientError::APIError { code: 400, errors })
            if errors.iter().any(|e| e.contains("check-and-set")) =>
        {
            vaultrs::kv2::read::<T>(client, mount, path)
                .await
                .with_context(|| format!("reading {mount}/{path} from Vault"))
        }
        Err(e) => Err(e).with_context(|| format!("creating {mount}/{path} in Vault")),
    }
}

/// `N` bytes from the operating system's random generator (keys, secrets).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes
}
