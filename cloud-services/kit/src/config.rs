//! Layered configuration: built-in defaults → optional TOML file → `EPISANTE_*` environment.
//!
//! One file can configure the whole platform (`episante up`) or a single service: each service reads
//! its own section (`[auth]`, `[records]`, …) plus the shared ones (`[log]`, `[database]`,
//! `[vault]`, `[tokens]`). Environment variables override the file with `__` separating levels,
//! e.g. `EPISANTE_AUTH__BIND=0.0.0.0:8081` or `EPISANTE_DATABASE__ADMIN_URL=…`. The conventional
//! `DATABASE_URL`, `VAULT_ADDR`, `VAULT_TOKEN` and `EPISANTE_KAFKA_BROKERS` are honoured too.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

/// The merged configuration sources, from which each component extracts its section.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    figment: Figment,
}

impl ConfigSource {
    /// Reads `file` (or `$EPISANTE_CONFIG`) if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("EPISANTE_CONFIG").map(PathBuf::from));
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path));
            }
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.admin_url".into()),
            )
            .merge(
                Env::raw()
                    .only(&["VAULT_ADDR", "VAULT_TOKEN"])
                    .map(|k| format!("vault.{}", k.as_str()[6..].to_ascii_lowercase()).into()),
            )
            // The spelling people type; `EPISANTE_KAFKA__BROKERS` (the general form) wins.
            .merge(
                Env::raw()
                    .only(&["EPISANTE_KAFKA_BROKERS"])
                    .map(|_| "kafka.brokers".into()),
            )
            .merge(Env::prefixed("EPISANTE_").split("__"));
        Ok(ConfigSource { figment })
    }

    /// No file, no environment: defaults only, plus what the caller merges (tests use this).
    pub fn empty() -> Self {
        ConfigSource {
            figment: Figment::new(),
        }
    }

    /// Returns a copy with `value` set at `key` (dotted path), overriding everything else.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.figment = self.figment.merge(Serialized::default(key, value));
        self
    }

    /// Whether `key` (dotted path) was set by the file or the environment, as opposed to
    /// defaulted: lets `episante up` tell an explicitly chosen port from a default one.
    pub fn is_set(&self, key: &str) -> bool {
        self.figment.find_value(key).is_ok()
    }

    /// Extracts section `key`, starting from `T::default()` so every field is optional.
    pub fn section<T>(&self, key: &str) -> Result<T, ConfigError>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        Figment::from(Serialized::defaults(T::default()))
            .merge(self.figment.focus(key))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }
}

/// Where EpiSante keeps local state by default: `$EPISANTE_DATA_DIR`, else
/// `$XDG_DATA_HOME/episante`, else `~/.local/share/episante`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EPISANTE_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("episante");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/share/episante"))
        .unwrap_or_else(|| PathBuf::from(".episante"))
}

/// `[database]`: how services reach PostgreSQL to provision their own database and role.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// A superuser-ish URL used only to create the service's database and role and set its
    /// password; the service then connects as its own role.
    pub admin_url: Secret,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            admin_url: Secret::new("postgres://postgres@127.0.0.1:5432/postgres"),
            max_connections: 10,
        }
    }
}

/// `[vault]`: Vault (or OpenBao) API access. Absent `addr` means "no Vault": services fall back
/// to local dev keys and say so in the log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VaultConfig {
    pub addr: Option<String>,
    pub token: Option<Secret>,
}

/// `[tokens]`: what every service checks in an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Where the auth service publishes its public keys.
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp`/`nbf`, seconds.
    pub leeway_secs: u64,
    /// Least time between two JWKS fetches triggered by unknown `kid`s (a flood of forged kids
    /// must not turn into a flood of fetches).
    pub min_refetch_ms: u64,
    /// Keys are trusted for at most this long after the JWKS last listed them; then the set is
    /// refetched, so a key retired by auth stops verifying within this time.
    pub jwks_max_age_secs: u64,
    /// The longest lifetime (`exp - iat`) of an access token, seconds: how long session
    /// revocations are remembered (`revocation`). Tokens living longer are refused, so a
    /// misconfigured issuer cannot outlive its revocations; auth refuses to start with an
    /// `access_ttl_secs` above it.
    pub max_token_lifetime_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            jwks_url: "http://127.0.0.1:8081/.well-known/jwks.json".into(),
            issuer: "episante-auth".into(),
            audience: "episante".into(),
            leeway_secs: 10,
            min_refetch_ms: 2_000,
            jwks_max_age_secs: 300,
            max_token_lifetime_secs: 3_600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Sample {
        bind: String,
        workers: u32,
    }

    impl Default for Sample {
        fn default() -> Self {
            Sample {
                bind: "127.0.0.1:1".into(),
                workers: 2,
            }
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("episante.toml");
        std::fs::write(
            &path,
            "[sample]\nworkers = 7\n[database]\nmax_connections = 3\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("EPISANTE_SAMPLE__BIND", "0.0.0.0:9");
            jail.set_env("DATABASE_URL", "postgres://x@db/y");
            let src = ConfigSource::load(Some(&path)).unwrap();
            let s: Sample = src.section("sample").unwrap();
            assert_eq!(
                s,
                Sample {
                    bind: "0.0.0.0:9".into(),
                    workers: 7
                }
            );
            let db: DatabaseConfig = src.section("database").unwrap();
            assert_eq!(db.admin_url.expose(), "postgres://x@db/y");
            assert_eq!(db.max_connections, 3);
            jail.set_env("EPISANTE_KAFKA_BROKERS", "k1:9092");
            let src = ConfigSource::load(Some(&path)).unwrap();
            let kafka: figment::value::Dict = src.section("kafka").unwrap();
            assert_eq!(kafka["brokers"].as_str(), Some("k1:9092"));
            jail.set_env("EPISANTE_KAFKA__BROKERS", "k2:9092");
            let src = ConfigSource::load(Some(&path)).unwrap();
            let kafka: figment::value::Dict = src.section("kafka").unwrap();
            assert_eq!(kafka["brokers"].as_str(), Some("k2:9092"));
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = ConfigSource::load(Some(Path::new("/nonexistent/episante.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn wrong_type_is_reported() {
        let src = ConfigSource::empty().with("sample.workers", "many");
        let err = src.section::<Sample>("sample").unwrap_err();
        assert!(err.to_string().contains("workers"), "{err}");
    }
}
