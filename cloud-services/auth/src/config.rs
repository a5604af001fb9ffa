//! The auth service's configuration: section `[auth]` plus the shared `[database]`, `[tokens]`,
//! `[vault]` and `[log]` sections (see `episante_kit::config`).

use std::path::PathBuf;

use episante_kit::db::ServiceDatabase;
use episante_kit::service::ServiceSettings;
use episante_kit::telemetry::LogConfig;
use episante_kit::{DatabaseConfig, Role, Secret, TokenConfig, VaultConfig};
use serde::{Deserialize, Serialize};

use crate::domain::password_hasher::Argon2Settings;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HTTP listen address (`EPISANTE_AUTH__BIND`).
    pub bind: String,
    pub database: ServiceDatabase,
    /// Where the signing-key file lives when Vault is not configured.
    pub data_dir: PathBuf,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Consecutive failed logins after which an account backs off (`domain::lockout`)…
    pub lockout_threshold: u32,
    /// …first for this long, doubling with every further failure…
    pub lockout_base_ms: u64,
    /// …up to this long.
    pub lockout_secs: u64,
    pub login_attempts_per_ip_per_minute: u32,
    /// Addresses (IPs or CIDRs) of the proxies in front of auth (the gateways). Only when the
    /// socket peer is one of them is `X-Forwarded-For` read, and then its right-most hop that is
    /// not a trusted proxy is the client (`domain::client_address`).
    pub trusted_proxies: Vec<String>,
    /// Replaced by `trusted_proxies` (trusting any peer's `X-Forwarded-For` let clients spoof
    /// their address); ignored, with a warning at start.
    pub trust_forwarded_for: bool,
    /// Absolute session lifetime: a session (login) cannot be refreshed past this age.
    pub session_max_age_secs: u64,
    /// Roles that must use a second factor (TOTP): their logins get an enrolment-only token
    /// until they enrol (`http::mfa`).
    pub require_mfa_roles: Vec<Role>,
    /// Lifetime of an admin-issued password-reset token.
    pub password_reset_ttl_secs: u64,
    /// Issuer shown by authenticator apps (`otpauth://` URI).
    pub mfa_issuer: String,
    /// Vault KV v2 path of the key that encrypts TOTP secrets at rest (with Vault configured);
    /// else a 0600 file `mfa.key` in `data_dir`.
    pub vault_mfa_key_path: String,
    /// The first admin, created when no admin exists.
    pub bootstrap_admin_email: String,
    /// Its password; unset, one is generated and shown once by the caller.
    pub bootstrap_admin_password: Option<Secret>,
    /// Vault KV v2 mount and path of the signing key set (used when `[vault] addr` is set).
    pub vault_kv_mount: String,
    pub vault_signing_keys_path: String,
    pub argon2: Argon2Settings,
    /// Service clients provisioned from configuration (created or re-keyed at start): how
    /// `episante up` and deployments give services their client credentials.
    pub bootstrap_clients: Vec<BootstrapClient>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrapClient {
    pub client_id: String,
    pub secret: Secret,
    /// Its scopes (`episante_kit::Scope` names; an unknown one stops the start). Default none.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            bind: "0.0.0.0:8081".into(),
            database: ServiceDatabase::named("episante_auth"),
            data_dir: episante_kit::config::default_data_dir().join("auth"),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            lockout_threshold: 5,
            lockout_secs: 900,
            login_attempts_per_ip_per_minute: 60,
            lockout_base_ms: 1_000,
            trusted_proxies: Vec::new(),
            trust_forwarded_for: false,
            session_max_age_secs: 12 * 3600,
            require_mfa_roles: Vec::new(),
            password_reset_ttl_secs: 30 * 60,
            mfa_issuer: "EpiSante".into(),
            vault_mfa_key_path: "episante/auth/mfa-key".into(),
            bootstrap_admin_email: "admin@episante.local".into(),
            bootstrap_admin_password: None,
            vault_kv_mount: "secret".into(),
            vault_signing_keys_path: "episante/auth/signing-keys".into(),
            argon2: Argon2Settings::default(),
            bootstrap_clients: Vec::new(),
        }
    }
}

/// Everything the auth service reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub auth: AuthConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub vault: VaultConfig,
    pub log: LogConfig,
}

impl ServiceSettings for Settings {
    fn bind(&self) -> &str {
        &self.auth.bind
    }

    fn log(&self) -> &LogConfig {
        &self.log
    }
}
