//! What every EpiSante binary needs at run time, and nothing more: layered configuration
//! (`config`), logging (`telemetry`), the shared command-line flags (`service_args`) and a
//! shutdown that waits for what it started (`shutdown`).
//!
//! Split from the service kit (`episante-kit`: axum, sqlx, JWT, Vault, OpenAPI, which re-exports
//! these modules) so that the hub's edge agent links no web server, database driver or token
//! library.

pub mod config;
pub mod service_args;
pub mod shutdown;
pub mod telemetry;

pub use config::{default_data_dir, ConfigError, ConfigSource};
pub use shutdown::Shutdown;
