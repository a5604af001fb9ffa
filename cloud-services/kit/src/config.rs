//! The configuration sections services share (`[database]`, `[vault]`, `[tokens]`, …); the
//! layered loading itself (`ConfigSource`, defaults → TOML → `EPISANTE_*` environment) lives in
//! `episante-runtime`, which the edge agent uses too.

use serde::{Deserialize, Serialize};

pub use episante_runtime::config::{default_data_dir, ConfigError, ConfigSource};

use crate::secret::Secret;

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
    use std::path::Path;

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
