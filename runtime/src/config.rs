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
use serde::Serialize;

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

    /// Extracts a whole settings struct whose fields are sections (`auth`, `database`, `log`, …),
    /// starting from `T::default()` so every section and field is optional. What a service reads
    /// is then one `#[derive(Deserialize)]` struct, not a hand-written list of sections.
    pub fn settings<T>(&self) -> Result<T, ConfigError>
    where
        T: DeserializeOwned + Serialize + Default,
    {
        Figment::from(Serialized::defaults(T::default()))
            .merge(self.figment.clone())
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
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
